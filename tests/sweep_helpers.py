"""Shared by the sweep CLI tests: a tiny cartpole sweep command and ways to watch its study."""
import os
import subprocess
import sys
import time

import optuna
from optuna.trial import TrialState

TINY = ["--backend", "native", "--sweep.metric", "perf", "--sweep.sweep-only", "learning_rate,ent_coef",
        "--vec.total-agents", "64", "--vec.num-buffers", "1", "--vec.num-threads", "1",
        "--train.horizon", "16", "--train.minibatch-size", "512", "--policy.hidden-size", "16",
        "--policy.num-layers", "1"]
SHORT = ["--sweep.train.total-timesteps.min", "2048", "--sweep.train.total-timesteps.max", "8192"]
MEDIUM = ["--sweep.train.total-timesteps.min", "1.5e4", "--sweep.train.total-timesteps.max", "3e4"]  # seconds each
LONG = ["--sweep.train.total-timesteps.min", "3e6", "--sweep.train.total-timesteps.max", "6e6"]


def sweep_args(*extra, runs=3, workers=1, timesteps=SHORT):
    return ["sweep", "cartpole", *TINY, *timesteps, "--sweep.gpus", str(workers), "--sweep.max-runs", str(runs),
            *extra]


def clean_env():
    return {k: v for k, v in os.environ.items() if k != "DISPLAY"}


def start(cwd, args, **kwargs):
    return subprocess.Popen([sys.executable, "-m", "pufferlib.pufferl", *args], cwd=cwd, env=clean_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **kwargs)


def run(cwd, args, timeout=300):
    return subprocess.run([sys.executable, "-m", "pufferlib.pufferl", *args], cwd=cwd, env=clean_env(),
                          capture_output=True, text=True, timeout=timeout)


def default_url(cwd):
    return f"sqlite:///{cwd / 'experiments' / 'cartpole' / 'sweeps' / 'cartpole.db'}"


def wait_running(proc, url, name="cartpole", timeout=120, min_number=0):
    """The first RUNNING trial (number >= min_number) that a worker has claimed, or None."""
    deadline = time.time() + timeout
    while time.time() < deadline and proc.poll() is None:
        time.sleep(0.3)
        try:
            study = optuna.load_study(study_name=name, storage=url)
            running = [t for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
                       if "heartbeat" in t.user_attrs and t.number >= min_number]
        except Exception:  # the database is still being created
            continue
        if running:
            return running[0]
    return None


def alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie (exited, not yet reaped) counts as gone
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ")[-1][0] != "Z"
    except OSError:
        return False


def wait_gone(pid, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if not alive(pid):
            return True
        time.sleep(0.2)
    return False
