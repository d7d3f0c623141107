"""One sweep worker process: asks the study for trials and trains each (python -m pufferlib.sweep_worker).

The supervisor (sweep_runner.py) starts it and writes the job (config, options, storage URL, study
name, max_runs, lock file, sampler seed) as JSON to its stdin. While a trial runs, a thread stamps
the trial's user attribute 'heartbeat' every HEARTBEAT_S seconds, so any supervisor of the study can
tell a live trial (fresh stamp) from one whose worker died (stale stamp). The worker dies with its
supervisor (Linux: PR_SET_PDEATHSIG; elsewhere the heartbeat thread sees its parent change), and on
SIGINT/SIGTERM it marks its trial failed and exits 130 without a traceback.
"""
import copy
import ctypes
import fcntl
import json
import math
import os
import signal
import socket
import sys
import threading
import time
from contextlib import contextmanager

HEARTBEAT_S = 10.0  # a running trial's liveness stamp, this often
CURVE_POINTS = 20  # learning-curve points a trial reports (thinned to [sweep] downsample by Protein)


class Stopped(KeyboardInterrupt):
    """SIGINT/SIGTERM reached the worker (Ctrl-C, or its supervisor stopping or dying)."""


def worker_id():
    return f"{socket.gethostname()}:{os.getpid()}"


@contextmanager
def file_lock(path):
    with open(path, "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def die_with_parent(parent_pid):
    """Ask Linux to SIGTERM this process when its parent exits; False where that is not available."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        ok = libc.prctl(1, signal.SIGTERM, 0, 0, 0) == 0  # 1 = PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        ok = False
    if os.getppid() != parent_pid:  # the parent died before the request took effect
        os.kill(os.getpid(), signal.SIGTERM)
    return ok


class Heartbeat:
    """Stamps a running trial's 'heartbeat' attribute from a thread; also notices an orphaned worker."""

    def __init__(self, storage, trial_id, parent_pid):
        self.storage, self.trial_id, self.parent_pid = storage, trial_id, parent_pid
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self):
        self.beat()
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.done.set()
        self.thread.join()

    def beat(self):
        self.storage.set_trial_user_attr(self.trial_id, "heartbeat", time.time())

    def _run(self):
        while not self.done.wait(HEARTBEAT_S):
            if os.getppid() != self.parent_pid:  # the supervisor is gone (no PDEATHSIG here)
                os.kill(os.getpid(), signal.SIGTERM)
                return
            try:
                self.beat()
            except Exception:  # the trial finished meanwhile, or the storage blinked: try next time
                pass


def apply_params(config, params):
    """A copy of config with the trial's nested params set (ints where the default is int)."""
    trial_config = copy.deepcopy(config)
    for section, values in params.items():
        for key, value in values.items():
            old = trial_config.get(section, {}).get(key)
            if isinstance(old, int) and not isinstance(old, bool):
                value = int(round(value))
            trial_config.setdefault(section, {})[key] = value
    return trial_config


def run_trial(study, trial, config, options, space, metric):
    """Trains with the trial's params, reporting (agent_steps, uptime, score) points."""
    import optuna
    import protein

    from . import cli
    from .train import train
    trial_config = apply_params(config, space.suggest(trial))
    cli.validate(trial_config)  # ConfigError -> the trial fails with the reason
    total = int(trial_config["train"]["total_timesteps"])
    next_report = [total / CURVE_POINTS]
    last_score = [None]
    pruned = [False]

    def on_epoch(stats):
        score = stats.get(f"env/{metric}")
        if score is None:
            return False
        last_score[0] = score
        if stats["agent_steps"] >= next_report[0]:
            next_report[0] += total / CURVE_POINTS
            protein.report(trial, float(score), float(stats["uptime"]), int(stats["agent_steps"]))
            if trial.should_prune():
                pruned[0] = True
                return True
        return False

    opts = {**options, "run_id": f"sweep_{study.study_name}_{trial.number:04d}", "quiet": True}
    result = train(trial_config, opts, on_epoch=on_epoch, verbose=False)
    final = result["final"]
    if pruned[0]:
        raise optuna.TrialPruned(f"below the early-stop line at {final.get('agent_steps')} steps")
    score = final.get(f"env/{metric}", last_score[0])
    if score is None or not math.isfinite(score):
        raise RuntimeError(f"trial finished without a finite env/{metric}")
    curve = trial.user_attrs.get("curve") or [[None]]
    if curve[-1][0] != int(final["agent_steps"]):  # optuna keeps one value per step
        protein.report(trial, float(score), float(final["uptime"]), int(final["agent_steps"]))
    trial.set_user_attr("cost", float(final["uptime"]))
    trial.set_user_attr("run_dir", result["run_dir"])
    return float(score)


def remaining(study, max_runs):
    """Trials still to start: max_runs minus those finished or running."""
    from optuna.trial import TrialState
    started = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED,
                                                       TrialState.FAIL, TrialState.RUNNING))
    return max_runs - len(started)


def _fail(study, trial, error):
    from optuna.trial import TrialState
    try:
        trial.set_user_attr("error", error[:500])
        study.tell(trial, state=TrialState.FAIL)
    except Exception:  # already failed by a supervisor that saw this worker stop
        pass


def worker(job):
    """Runs trials until the study holds max_runs of them."""
    import optuna
    from optuna.trial import TrialState

    from .sweep_runner import make_sampler
    from .sweep_storage import open_storage
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    config, options = job["config"], job["options"]
    space, sampler, pruner = make_sampler(config, seed=job["sampler_seed"])
    storage = open_storage(job["url"])
    study = optuna.load_study(study_name=job["name"], storage=storage, sampler=sampler, pruner=pruner)
    metric = str(config["sweep"].get("metric", "score"))
    while True:
        with file_lock(job["lock"]):
            if remaining(study, job["max_runs"]) <= 0:
                return 0
            trial = study.ask()
            trial.set_user_attr("worker", worker_id())
            trial.set_user_attr("pid", os.getpid())
            trial.set_user_attr("sampler_seed", job["sampler_seed"])
        try:
            with Heartbeat(storage, trial._trial_id, job["parent_pid"]):
                value = run_trial(study, trial, config, options, space, metric)
            study.tell(trial, value)
        except optuna.TrialPruned:
            study.tell(trial, state=TrialState.PRUNED)
        except KeyboardInterrupt:
            _fail(study, trial, "stopped: the worker was interrupted")
            raise
        except Exception as e:  # a crashed trial fails alone; the sweep goes on
            _fail(study, trial, f"{type(e).__name__}: {e}")
            print(f"sweep: trial {trial.number} failed: {type(e).__name__}: {e}", file=sys.stderr, flush=True)


def _stop(signum, frame):
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # once is enough: let the trial be marked failed
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    raise Stopped()


def main():
    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    try:
        job = json.load(sys.stdin)
        die_with_parent(job["parent_pid"])
        return worker(job)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
