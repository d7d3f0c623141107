"""--train.gpus N: one process per GPU (torch.distributed env vars: RANK, LOCAL_RANK, WORLD_SIZE,
MASTER_ADDR/PORT). Rank 0 shows the dashboard and writes the run folder; if any rank dies the
others are stopped and the job fails with a message naming the rank."""
import os
import signal
import socket
import subprocess
import sys
import time


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def launch(argv, world_size, out=print):
    port = free_port()
    procs = []
    for rank in range(world_size):
        env = dict(os.environ, RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE=str(world_size),
                   LOCAL_WORLD_SIZE=str(world_size), MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
        env.setdefault("NCCL_NVLS_ENABLE", "0")
        quiet = {} if rank == 0 else {"stdout": subprocess.DEVNULL}
        procs.append(subprocess.Popen([sys.executable, "-m", "pufferlib.pufferl", *argv], env=env, **quiet))
    try:
        while True:
            codes = [p.poll() for p in procs]
            failed = [(r, c) for r, c in enumerate(codes) if c not in (None, 0)]
            if failed:
                rank, code = failed[0]
                for p in procs:
                    if p.poll() is None:
                        p.send_signal(signal.SIGTERM)
                deadline = time.time() + 10
                for p in procs:
                    try:
                        p.wait(max(0.1, deadline - time.time()))
                    except subprocess.TimeoutExpired:
                        p.kill()
                out(f"puffer: error: rank {rank} of {world_size} died (exit code {code}); stopped the job",
                    file=sys.stderr)
                return 1
            if all(c == 0 for c in codes):
                return 0
            time.sleep(0.2)
    except KeyboardInterrupt:
        for p in procs:
            p.send_signal(signal.SIGINT)
        for p in procs:
            p.wait()
        return 130
