"""puffer sweep end to end on CPU: 2 workers, SQLite, one worker killed mid-trial."""
import os
import signal
import subprocess
import sys
import time

import optuna
from optuna.trial import TrialState

SWEEP = ["sweep", "cartpole", "--backend", "torch", "--sweep.gpus", "2", "--sweep.max-runs", "6",
         "--sweep.sweep-only", "learning_rate,ent_coef", "--sweep.metric", "perf",
         "--sweep.train.total-timesteps.min", "2048", "--sweep.train.total-timesteps.max", "8192",
         "--vec.total-agents", "64", "--vec.num-buffers", "1", "--vec.num-threads", "1",
         "--train.horizon", "16", "--train.minibatch-size", "512", "--policy.hidden-size", "16",
         "--policy.num-layers", "1"]


def test_sweep_survives_a_killed_worker(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "DISPLAY"}
    proc = subprocess.Popen([sys.executable, "-m", "pufferlib.pufferl", *SWEEP], cwd=tmp_path, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    db = tmp_path / "experiments" / "cartpole" / "sweeps" / "cartpole.db"
    url = f"sqlite:///{db}"
    killed = None
    deadline = time.time() + 240
    while killed is None and time.time() < deadline and proc.poll() is None:
        time.sleep(0.3)
        if not db.exists():
            continue
        try:
            study = optuna.load_study(study_name="cartpole", storage=url)
            running = [t for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
                       if "pid" in t.user_attrs and t.number >= 1]
        except Exception:
            continue
        if running:
            killed = running[0]
            os.kill(killed.user_attrs["pid"], signal.SIGKILL)
    out, _ = proc.communicate(timeout=600)
    assert killed is not None, out
    assert proc.returncode == 0, out
    study = optuna.load_study(study_name="cartpole", storage=url)
    states = [t.state for t in study.trials]
    assert len(states) == 6, out
    assert states.count(TrialState.FAIL) == 1, out
    assert study.trials[killed.number].state == TrialState.FAIL
    assert "died" in study.trials[killed.number].user_attrs["error"]
    assert states.count(TrialState.COMPLETE) + states.count(TrialState.PRUNED) == 5
    done = [t for t in study.trials if t.state == TrialState.COMPLETE]
    assert all(len(t.user_attrs["curve"]) >= 1 and t.user_attrs["cost"] > 0 for t in done)
    assert "best" in out and "worker" in out
    # Restarting resumes the same study: nothing more to do at max_runs 6.
    again = subprocess.run([sys.executable, "-m", "pufferlib.pufferl", *SWEEP], cwd=tmp_path, env=env,
                           capture_output=True, text=True, timeout=300)
    assert again.returncode == 0 and "(6 trials so far)" in again.stdout
    assert len(optuna.load_study(study_name="cartpole", storage=url).trials) == 6


def _open_storage_at(args):
    url, barrier = args
    from pufferlib.sweep_storage import open_storage
    barrier.wait()
    open_storage(url)
    return True


def test_storage_opened_by_several_processes_at_once(tmp_path):
    """A new SQLite study database opened by several processes at the same moment (supervisor,
    workers, a dashboard): every one of them gets the storage, none fails creating the schema."""
    import multiprocessing as mp
    ctx = mp.get_context("spawn")
    with ctx.Manager() as manager:
        for i in range(3):
            url = f"sqlite:///{tmp_path / f'race{i}.db'}"
            barrier = manager.Barrier(4)
            with ctx.Pool(4) as pool:
                assert pool.map(_open_storage_at, [(url, barrier)] * 4) == [True] * 4
