"""--train.gpus N launches N ranks (CPU: gloo host all-reduce); a dead rank stops the job."""
import os
import signal
import subprocess
import sys
import time

ARGS = ["train", "cartpole", "--train.gpus", "2", "--backend", "native", "--vec.total-agents", "256",
        "--vec.num-threads", "1", "--train.minibatch-size", "4096", "--quiet"]


def children(pid):
    out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


def test_two_ranks_train_one_job(tmp_path):
    out = subprocess.run([sys.executable, "-m", "pufferlib.pufferl", *ARGS, "--train.total-timesteps", "200000",
                          "--run-id", "dp"], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    lines = (tmp_path / "experiments/cartpole/dp/metrics.jsonl").read_text().splitlines()
    assert len(lines) == 200000 // (2 * 256 * 32)  # the budget is split across the ranks
    assert (tmp_path / "experiments/cartpole/dp/model.bin").exists()


def test_dead_rank_stops_the_job(tmp_path):
    proc = subprocess.Popen([sys.executable, "-m", "pufferlib.pufferl", *ARGS, "--train.total-timesteps", "1e9"],
                            cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    ranks = []
    deadline = time.time() + 60
    while len(ranks) < 2 and time.time() < deadline:
        time.sleep(0.5)
        ranks = children(proc.pid)
    assert len(ranks) == 2
    time.sleep(5)  # let training start
    os.kill(ranks[1], signal.SIGKILL)
    start = time.time()
    _, err = proc.communicate(timeout=60)
    assert time.time() - start < 60
    assert proc.returncode == 1
    assert "died" in err and "stopped the job" in err
    assert all(subprocess.run(["kill", "-0", str(r)], capture_output=True).returncode != 0 for r in ranks)
