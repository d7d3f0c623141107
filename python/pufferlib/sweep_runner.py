"""puffer sweep ENV: a Protein sweep stored as an optuna study.

The study is named after the env (and --tag) and lives in SQLite under
experiments/<env>/sweeps/ unless --sweep.storage names another optuna storage (a PostgreSQL
URL, or journal:PATH for a journal file shared by several machines). Restarting resumes it.
--sweep.gpus N runs N worker processes (one per GPU, or N CPU workers sharing the cores); each
trial is an ordinary training run that reports its learning curve (score vs wall-clock cost).
A worker that dies leaves its trial FAILED and is replaced; the sweep goes on.
"""
import copy
import fcntl
import hashlib
import json
import math
import os
import signal
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

from . import cli
from .config import ConfigError

CURVE_POINTS = 20  # learning-curve points a trial reports (thinned to [sweep] downsample by Protein)


def study_name(config, options):
    tag = options.get("tag")
    return f"{config['env_name']}_{tag}" if tag else config["env_name"]


def storage_url(config, options):
    url = config["sweep"].get("storage")
    if url:
        return str(url)
    folder = Path(config["data_dir"]).resolve() / config["env_name"] / "sweeps"
    folder.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{folder / (study_name(config, options) + '.db')}"


def open_storage(url):
    import optuna
    if url.startswith("journal:"):
        from optuna.storages import JournalStorage
        from optuna.storages.journal import JournalFileBackend
        return JournalStorage(JournalFileBackend(url[len("journal:"):]))
    # Two processes opening a new database at once (a supervisor and its workers, a second
    # supervisor, optuna-dashboard) both try to create the schema; the loser gets an integrity
    # error from the schema version row. The schema is there by then: open it again.
    from sqlalchemy.exc import IntegrityError, OperationalError
    kwargs = {"connect_args": {"timeout": 60}} if url.startswith("sqlite") else {}
    for attempt in range(5):
        try:
            return optuna.storages.RDBStorage(url, engine_kwargs=kwargs)
        except (IntegrityError, OperationalError):
            if attempt == 4:
                raise
            time.sleep(0.2 * (attempt + 1))


def make_sampler(config):
    import protein
    s = config["sweep"]
    space = protein.SearchSpace(s, only=s.get("sweep_only") or None)
    sampler = protein.ProteinSampler(s, sweep_only=s.get("sweep_only") or None, downsample=int(s.get("downsample", 5)), seed=int(config["seed"]),
                                     max_suggestion_cost=float(s.get("max_suggestion_cost", 3600)),
                                     metric_distribution=s.get("metric_distribution", "linear"),
                                     prune_pareto=bool(s.get("prune_pareto", True)))
    # Cost is wall-clock seconds: no stopping in a trial's first 10 s (the reference's grace).
    pruner = protein.ProteinPruner(sampler, early_stop_quantile=float(s.get("early_stop_quantile", 0.3)),
                                   early_stop_min_cost=10)
    return space, sampler, pruner


def direction(config):
    goal = str(config["sweep"].get("goal", "maximize"))
    if goal not in ("maximize", "minimize"):
        raise ConfigError(f"--sweep.goal: expected maximize or minimize, got '{goal}'")
    return goal


@contextmanager
def file_lock(path):
    with open(path, "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


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
    from .train import train
    params = space.suggest(trial)
    trial_config = apply_params(config, params)
    trial.set_user_attr("pid", os.getpid())
    cli.validate(trial_config)  # ConfigError -> the trial fails (Protein learns to avoid it)
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
    protein.report(trial, float(score), float(final["uptime"]), int(final["agent_steps"]))
    trial.set_user_attr("cost", float(final["uptime"]))
    trial.set_user_attr("run_dir", result["run_dir"])
    return float(score)


def worker(config, options, url, name, max_runs, lock_path):
    """Runs trials until the study holds max_runs of them."""
    import optuna
    from optuna.trial import TrialState
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    space, sampler, pruner = make_sampler(config)
    study = optuna.load_study(study_name=name, storage=open_storage(url), sampler=sampler, pruner=pruner)
    metric = str(config["sweep"].get("metric", "score"))
    while True:
        with file_lock(lock_path):
            if _remaining(study, max_runs) <= 0:
                return 0
            trial = study.ask()
        try:
            value = run_trial(study, trial, config, options, space, metric)
            study.tell(trial, value)
        except optuna.TrialPruned:
            study.tell(trial, state=TrialState.PRUNED)
        except Exception as e:  # a crashed trial fails alone; the sweep goes on
            trial.set_user_attr("error", f"{type(e).__name__}: {e}"[:500])
            study.tell(trial, state=TrialState.FAIL)
            print(f"sweep: trial {trial.number} failed: {type(e).__name__}: {e}", file=sys.stderr, flush=True)


def enqueue_defaults(study, config, space):
    """The first trial runs the config's own values (those inside the search space)."""
    params = {}
    for name, dist in space.optuna_distributions().items():
        section, key = name.split("/", 1)
        value = config.get(section, {}).get(key)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            low, high = getattr(dist, "low", None), getattr(dist, "high", None)
            if low is not None and low <= value <= high:
                params[name] = value
    if params:
        study.enqueue_trial(params, skip_if_exists=True)


def fail_orphans(study, alive_pids):
    """Trials left RUNNING by a worker that no longer exists become FAILED."""
    from optuna.trial import TrialState
    storage = study._storage
    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        pid = t.user_attrs.get("pid")
        if pid is not None and pid not in alive_pids:
            storage.set_trial_user_attr(t._trial_id, "error", f"worker {pid} died")
            storage.set_trial_state_values(t._trial_id, TrialState.FAIL)
            print(f"sweep: worker {pid} died; trial {t.number} marked failed", file=sys.stderr, flush=True)


def progress(study, out=print):
    from optuna.trial import TrialState
    trials = study.get_trials(deepcopy=False)
    count = {s: sum(t.state == s for t in trials) for s in TrialState}
    line = (f"sweep {study.study_name}: {count[TrialState.COMPLETE]} done, {count[TrialState.RUNNING]} running, "
            f"{count[TrialState.PRUNED]} pruned, {count[TrialState.FAIL]} failed")
    done = [t for t in trials if t.state == TrialState.COMPLETE and t.value is not None]
    if done:
        best = study.best_trial
        params = ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in best.params.items())
        line += f" | best {best.value:.4g} (trial {best.number}): {params}"
    out(line)
    return count


def pareto(study):
    """(cost, score, trial number) of the completed trials on the cost/score Pareto front."""
    from optuna.trial import TrialState
    sign = 1 if study.direction.name == "MAXIMIZE" else -1
    points = sorted((t.user_attrs.get("cost", math.inf), t.value, t.number)
                    for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)))
    front, best = [], -math.inf
    for cost, score, number in points:
        if sign * score > best:
            front.append((cost, score, number))
            best = sign * score
    return front


def sweep(config, options):
    import optuna
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    goal = direction(config)
    space, _, _ = make_sampler(config)  # a bad search space fails here, before any process starts
    url = storage_url(config, options)
    name = study_name(config, options)
    study = optuna.create_study(study_name=name, storage=open_storage(url), direction=goal, load_if_exists=True)
    max_runs = int(config["sweep"]["max_runs"])
    workers = max(1, int(config["sweep"].get("gpus", 1)))
    gpus = _gpu_count()
    per_trial = int(config["train"].get("gpus", 1))
    if gpus:
        workers = max(1, min(workers, gpus) // per_trial)
    else:  # CPU workers share the cores
        config = copy.deepcopy(config)
        config["vec"]["num_threads"] = max(1, int(config["vec"]["num_threads"]) // workers)
    print(f"sweep: study '{name}' in {url} ({len(study.trials)} trials so far), {workers} workers, "
          f"max_runs {max_runs}. Watch it: optuna-dashboard {url}", flush=True)
    fail_orphans(study, alive_pids=set())  # left over from a killed earlier run
    if not study.trials:
        enqueue_defaults(study, config, space)
    # Same name for every supervisor of this study on this machine (hash() is salted per process).
    lock = Path(tempfile.gettempdir()) / f"puffer_sweep_{hashlib.sha1(url.encode()).hexdigest()[:12]}.lock"
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump({"config": config, "options": options, "url": url, "name": name, "max_runs": max_runs,
                   "lock": str(lock)}, f, default=str)
        job = f.name
    procs = {}

    def launch(slot):
        env = dict(os.environ)
        if gpus:
            env["CUDA_VISIBLE_DEVICES"] = ",".join(str(slot * per_trial + i) for i in range(per_trial))
        p = subprocess.Popen([sys.executable, "-m", "pufferlib.sweep_runner", "worker", job], env=env)
        procs[slot] = p

    try:
        for slot in range(workers):
            launch(slot)
        last = 0.0
        while procs:
            time.sleep(0.5)
            for slot, p in list(procs.items()):
                code = p.poll()
                if code is None:
                    continue
                del procs[slot]
                fail_orphans(study, {q.pid for q in procs.values()})
                if code != 0 and _remaining(study, max_runs) > 0:
                    print(f"sweep: worker {p.pid} exited with {code}; starting another", file=sys.stderr, flush=True)
                    launch(slot)
            if time.time() - last > 5 or not procs:
                progress(study)
                last = time.time()
    except KeyboardInterrupt:
        for p in procs.values():
            p.send_signal(signal.SIGINT)
        for p in procs.values():
            p.wait()
        fail_orphans(study, set())
        raise
    finally:
        os.unlink(job)
    front = pareto(study)
    if front:
        print("pareto front (cost s, score, trial): " + "; ".join(f"{c:.1f}, {s:.4g}, #{n}" for c, s, n in front))
    return 0


def _remaining(study, max_runs):
    """Trials still to start: max_runs minus those finished or running."""
    from optuna.trial import TrialState
    started = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED,
                                                       TrialState.FAIL, TrialState.RUNNING))
    return max_runs - len(started)


def _gpu_count():
    try:
        return len(os.listdir("/proc/driver/nvidia/gpus"))
    except OSError:
        return 0


if __name__ == "__main__" and len(sys.argv) == 3 and sys.argv[1] == "worker":
    with open(sys.argv[2]) as f:
        job = json.load(f)
    sys.exit(worker(job["config"], job["options"], job["url"], job["name"], job["max_runs"], job["lock"]))
