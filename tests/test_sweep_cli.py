"""puffer sweep end to end on CPU: workers killed, supervisors killed or interrupted, a second
supervisor on a live study, sweeps whose trials all fail, and every bad --sweep.storage."""
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState
from sweep_helpers import LONG, MEDIUM, alive, clean_env, default_url, run, start, sweep_args, wait_gone, wait_running


def _tmp_litter():
    tmp = Path(tempfile.gettempdir())
    return {p.name for p in tmp.glob("puffer_sweep_*")} | {p.name for p in tmp.glob("tmp*.json")}


def test_sweep_survives_a_killed_worker(tmp_path):
    litter = _tmp_litter()
    proc = start(tmp_path, sweep_args(runs=4, workers=2, timesteps=MEDIUM))
    url = default_url(tmp_path)
    killed = wait_running(proc, url, min_number=1)
    assert killed is not None, proc.communicate(timeout=300)[0]
    os.kill(killed.user_attrs["pid"], signal.SIGKILL)
    out, _ = proc.communicate(timeout=600)
    assert proc.returncode == 0, out
    study = optuna.load_study(study_name="cartpole", storage=url)
    states = [t.state for t in study.trials]
    assert len(states) == 4, out
    assert states.count(TrialState.FAIL) == 1, out
    assert study.trials[killed.number].state == TrialState.FAIL
    assert "died" in study.trials[killed.number].user_attrs["error"]
    assert states.count(TrialState.COMPLETE) + states.count(TrialState.PRUNED) == 3
    done = [t for t in study.trials if t.state == TrialState.COMPLETE]
    assert all(len(t.user_attrs["curve"]) >= 1 and t.user_attrs["cost"] > 0 for t in done)
    assert "best" in out and "worker" in out
    # every worker process had its own sampler seed
    seeds = {t.user_attrs["pid"]: t.user_attrs["sampler_seed"] for t in study.trials}
    assert len(seeds) >= 2 and len(set(seeds.values())) == len(seeds)
    # nothing left in /tmp; the lock lives beside the study
    assert _tmp_litter() == litter
    assert (tmp_path / "experiments" / "cartpole" / "sweeps" / "cartpole.lock").exists()
    # Restarting resumes the same study: nothing more to do at max_runs 4.
    again = run(tmp_path, sweep_args(runs=4, workers=2, timesteps=MEDIUM))
    assert again.returncode == 0 and "(4 trials so far)" in again.stdout
    assert len(optuna.load_study(study_name="cartpole", storage=url).trials) == 4


def test_trial_zero_runs_the_config_values(tmp_path):
    """hidden_size (uniform_pow2) and horizon (pow2) in trial 0 are the config's, not a suggestion."""
    args = sweep_args("--sweep.sweep-only", "learning_rate,hidden_size,horizon,num_buffers",
                      "--policy.hidden-size", "64", runs=1)
    result = run(tmp_path, args)
    assert result.returncode == 0, result.stdout + result.stderr
    t = optuna.load_study(study_name="cartpole", storage=default_url(tmp_path)).trials[0]
    assert t.state == TrialState.COMPLETE
    assert t.params["policy/hidden_size"] == 64 and t.params["train/horizon"] == 16
    assert t.params["vec/num_buffers"] == 1
    assert "train/total_timesteps" in result.stdout  # the config's 5.6M steps lie outside the range: said so


def test_a_second_supervisor_leaves_live_trials_alone(tmp_path):
    url = default_url(tmp_path)
    (tmp_path / "experiments" / "cartpole" / "sweeps").mkdir(parents=True)
    study = optuna.create_study(study_name="cartpole", storage=url, direction="maximize")
    live, lost = study.ask(), study.ask()
    gone = subprocess.Popen(["true"])
    gone.wait()  # a pid that no process here has: as a worker on another machine looks from here
    live.set_user_attr("worker", f"otherhost:{gone.pid}")
    live.set_user_attr("pid", gone.pid)
    lost.set_user_attr("worker", f"{socket.gethostname()}:1")
    lost.set_user_attr("heartbeat", time.time() - 1000)  # its worker stopped beating long ago
    done = threading.Event()

    def beat():  # the live trial's worker, elsewhere, beating as sweep_worker does
        storage = optuna.storages.RDBStorage(url, engine_kwargs={"connect_args": {"timeout": 60}})
        while True:
            storage.set_trial_user_attr(live._trial_id, "heartbeat", time.time())
            if done.wait(5.0):
                return

    beater = threading.Thread(target=beat)
    beater.start()
    try:
        result = run(tmp_path, sweep_args(runs=3))
    finally:
        done.set()
        beater.join()
    assert result.returncode == 0, result.stdout + result.stderr
    trials = optuna.load_study(study_name="cartpole", storage=url).trials
    assert trials[live.number].state == TrialState.RUNNING
    assert trials[lost.number].state == TrialState.FAIL
    assert "no heartbeat" in trials[lost.number].user_attrs["error"]
    assert [t.state for t in trials[2:]] == [TrialState.COMPLETE]  # 3 runs: 2 were there


def test_killing_the_supervisor_stops_its_worker(tmp_path):
    proc = start(tmp_path, sweep_args(runs=2, timesteps=LONG))
    trial = wait_running(proc, default_url(tmp_path))
    assert trial is not None, proc.communicate(timeout=60)[0]
    worker = trial.user_attrs["pid"]
    proc.kill()
    proc.wait()
    assert wait_gone(worker, timeout=30), "the worker outlived its supervisor"
    t = optuna.load_study(study_name="cartpole", storage=default_url(tmp_path)).trials[trial.number]
    assert t.state == TrialState.FAIL and "interrupted" in t.user_attrs["error"]


def test_ctrl_c_stops_quietly(tmp_path):
    proc = start(tmp_path, sweep_args(runs=3, workers=2, timesteps=LONG), start_new_session=True)
    trial = wait_running(proc, default_url(tmp_path))
    assert trial is not None, proc.communicate(timeout=60)[0]
    time.sleep(1.0)
    os.killpg(proc.pid, signal.SIGINT)  # what the terminal does: the whole foreground group
    out, _ = proc.communicate(timeout=90)
    assert proc.returncode == 130, out
    assert "Traceback" not in out, out
    assert "interrupted" in out and "resumes" in out
    trials = optuna.load_study(study_name="cartpole", storage=default_url(tmp_path)).trials
    assert not [t for t in trials if t.state == TrialState.RUNNING]
    assert not alive(trial.user_attrs["pid"])


def test_a_sweep_whose_trials_all_fail_says_why(tmp_path):
    result = run(tmp_path, sweep_args("--sweep.metric", "no_such_metric", runs=2))
    assert result.returncode == 1, result.stdout + result.stderr
    assert "all 2 trials failed" in result.stderr
    assert "env/no_such_metric" in result.stderr


def _fake_module(folder, name):
    folder.mkdir(exist_ok=True)
    (folder / f"{name}.py").write_text(f"raise ImportError('no {name} here')\n")
    return str(folder)


@pytest.mark.parametrize("storage, words", [
    ("bogus://where", ["unknown scheme 'bogus'", "sqlite:///PATH", "journal:PATH"]),
    ("not a url", ["not a storage URL", "postgresql://"]),
    ("sqlite:////no/such/folder/s.db", ["folder /no/such/folder does not exist"]),
    ("sqlite:///:memory:", ["in-memory"]),
    ("journal:/no/such/folder/s.log", ["folder /no/such/folder does not exist"]),
    ("postgresql://puffer:secret@localhost/sweeps", ["driver is not installed", "pufferlib[postgres]"]),
    ("postgresql://puffer:secret@127.0.0.1:1/sweeps", ["cannot connect"]),
])
def test_bad_storage_is_one_line_exit_2(tmp_path, storage, words):
    env_extra = {}
    if "localhost" in storage:  # the driver missing, even where it is installed
        env_extra["PYTHONPATH"] = _fake_module(tmp_path / "nodriver", "psycopg2")
    elif "127.0.0.1" in storage:
        pytest.importorskip("psycopg2", reason="needs the postgres driver: pip install 'pufferlib[postgres]'")
    result = subprocess.run([sys.executable, "-m", "pufferlib.pufferl", *sweep_args("--sweep.storage", storage)],
                            cwd=tmp_path, env={**clean_env(), **env_extra}, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 2, result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    for w in words:
        assert w in lines[0], lines[0]
    assert "secret" not in result.stderr  # passwords stay out of messages
    assert not (tmp_path / "experiments").exists()  # nothing written


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
