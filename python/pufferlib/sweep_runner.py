"""puffer sweep ENV: a Protein sweep stored as an optuna study, run by worker processes.

The study is named after the env (and --tag) and lives in SQLite under experiments/<env>/sweeps/
unless --sweep.storage names another optuna storage (PostgreSQL, or journal:PATH for a journal file
shared by several machines); restarting resumes it, and several supervisors (on one or several
machines) may work on one study at once. --sweep.gpus N runs N workers (sweep_worker.py; one per
GPU, or N CPU workers sharing the cores); each trial is an ordinary training run that reports its
learning curve (score vs wall-clock cost).

Liveness: a worker stamps its running trial every HEARTBEAT_S seconds. This supervisor fails the
running trials of its own workers that die, and any running trial whose stamp is older than
STALE_S (a worker of a supervisor that was killed); a live trial of another supervisor is left alone.
The lock file that orders asking for trials lives beside the study (experiments/<env>/sweeps/).
"""
import copy
import json
import os
import signal
import socket
import subprocess
import sys
import time
import zlib
from pathlib import Path

from .config import ConfigError
from .sweep_space import constrained_space, default_params
from .sweep_storage import open_storage, redact
from .sweep_worker import HEARTBEAT_S, remaining

STALE_S = 6 * HEARTBEAT_S  # a running trial without a stamp for this long has lost its worker
GIVE_UP_FAILURES = 5  # this many failed trials and not one finished: stop and say why
QUICK_DEATH_S = 10.0  # a worker that dies this soon after its start, 3 times in a row: stop


def study_name(config, options):
    tag = options.get("tag")
    return f"{config['env_name']}_{tag}" if tag else config["env_name"]


def study_folder(config):
    return Path(config["data_dir"]).resolve() / config["env_name"] / "sweeps"


def storage_url(config, options):
    url = config["sweep"].get("storage")
    if url:
        return str(url)
    return f"sqlite:///{study_folder(config) / (study_name(config, options) + '.db')}"


def search_space(config):
    """The [sweep] parameters (sweep_only applied), narrowed to valid configs; ConfigError if bad."""
    import protein
    s = config["sweep"]
    try:
        space = protein.SearchSpace(s, only=s.get("sweep_only") or None)
    except ValueError as e:
        raise ConfigError(f"[sweep]: {e}") from None
    return constrained_space(config, space)


def make_sampler(config, seed):
    """(space, ProteinSampler, ProteinPruner) for this config; seed: this worker's sampler seed."""
    import protein
    s = config["sweep"]
    space, _ = search_space(config)
    sampler = protein.ProteinSampler.from_config(s, search_space=space, seed=seed)
    # Cost is wall-clock seconds: no stopping in a trial's first 10 s (the reference's grace).
    pruner = protein.ProteinPruner(sampler, early_stop_min_cost=10)
    return space, sampler, pruner


def sampler_seed(config, slot, launch):
    """Each worker process its own sampler seed (so workers of one study, even of two supervisors
    or two machines, do not make the same suggestions), derived from the config's seed."""
    import numpy as np
    host = zlib.crc32(socket.gethostname().encode())
    return int(np.random.SeedSequence([int(config["seed"]), host, os.getpid(), slot, launch]).generate_state(1)[0] >> 1)


def direction(config):
    goal = str(config["sweep"].get("goal", "maximize"))
    if goal not in ("maximize", "minimize"):
        raise ConfigError(f"--sweep.goal: expected maximize or minimize, got '{goal}'")
    return goal


def fail_lost_trials(study, dead=None, now=None):
    """Fail the running trials that lost their worker: those of the workers in `dead`
    ({'host:pid': why}) and those with no heartbeat for STALE_S. Returns how many it failed."""
    from optuna.trial import TrialState
    now = time.time() if now is None else now
    dead = dead or {}
    storage = study._storage
    failed = 0
    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        who = t.user_attrs.get("worker")
        stamp = t.user_attrs.get("heartbeat")
        if stamp is None and t.datetime_start is not None:
            stamp = t.datetime_start.timestamp()
        if who in dead:
            why = dead[who]
        elif stamp is not None and now - stamp > STALE_S:
            why = f"worker {who or '?'} lost: no heartbeat for {now - stamp:.0f} s"
        else:
            continue
        try:
            storage.set_trial_user_attr(t._trial_id, "error", why)
            storage.set_trial_state_values(t._trial_id, TrialState.FAIL)
        except Exception:  # finished or failed by someone else meanwhile
            continue
        failed += 1
        print(f"sweep: trial {t.number} marked failed: {why}", file=sys.stderr, flush=True)
    return failed


def counts(study):
    from optuna.trial import TrialState
    trials = study.get_trials(deepcopy=False)
    return {s: sum(t.state == s for t in trials) for s in TrialState}


def progress(study, out=print):
    from optuna.trial import TrialState
    count = counts(study)
    line = (f"sweep {study.study_name}: {count[TrialState.COMPLETE]} done, {count[TrialState.RUNNING]} running, "
            f"{count[TrialState.PRUNED]} pruned, {count[TrialState.FAIL]} failed")
    if count[TrialState.COMPLETE]:
        best = study.best_trial
        params = ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in best.params.items())
        line += f" | best {best.value:.4g} (trial {best.number}): {params}"
    out(line)
    return count


def failure_summary(study):
    """'N x error' for the commonest errors of the failed trials."""
    from collections import Counter

    from optuna.trial import TrialState
    errors = Counter(t.user_attrs.get("error", "no error recorded")
                     for t in study.get_trials(deepcopy=False, states=(TrialState.FAIL,)))
    return "; ".join(f"{n} x {e}" for e, n in errors.most_common(3))


def pareto(study):
    """(cost, score, trial number) of the completed trials on the cost/score Pareto front."""
    import protein
    from optuna.trial import TrialState
    done = [t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
            if t.user_attrs.get("cost") is not None]
    sign = 1.0 if study.direction.name == "MAXIMIZE" else -1.0
    front = protein.pareto_front([t.user_attrs["cost"] for t in done], [sign * t.value for t in done])
    return [(done[i].user_attrs["cost"], done[i].value, done[i].number) for i in front]


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def sweep(config, options):
    import optuna
    from optuna.trial import TrialState
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    # Everything is checked before anything is written or started.
    goal = direction(config)
    space, pinned = search_space(config)
    url = storage_url(config, options)
    storage = None
    if config["sweep"].get("storage"):  # checked and connected to first; the default's folder is made below
        storage = open_storage(url)
    config = copy.deepcopy(config)
    for name, value in pinned.items():
        section, key = name.split("/", 1)
        config[section][key] = value
        print(f"sweep: {name} = {value} (the only value that makes a valid config)", flush=True)
    max_runs = int(config["sweep"]["max_runs"])
    workers = max(1, int(config["sweep"].get("gpus", 1)))
    gpus = _gpu_count()
    per_trial = int(config["train"].get("gpus", 1))
    if gpus:
        workers = max(1, min(workers, gpus) // per_trial)
    else:  # CPU workers share the cores
        config["vec"]["num_threads"] = max(1, int(config["vec"]["num_threads"]) // workers)

    folder = study_folder(config)
    folder.mkdir(parents=True, exist_ok=True)
    name = study_name(config, options)
    study = optuna.create_study(study_name=name, storage=storage or open_storage(url), direction=goal,
                                load_if_exists=True)
    print(f"sweep: study '{name}' in {redact(url)} ({len(study.trials)} trials so far), {workers} workers, "
          f"max_runs {max_runs}. Watch it: optuna-dashboard {redact(url)}", flush=True)
    fail_lost_trials(study)  # left by a killed earlier run; live trials of another supervisor stay
    if not study.trials:
        params, outside = default_params(config, space)
        if params:
            study.enqueue_trial(params, skip_if_exists=True)
        if outside:
            print(f"sweep: trial 0 runs the config's values except {', '.join(outside)} (outside the "
                  f"sweep's range: Protein picks them)", flush=True)
    job = {"config": config, "options": options, "url": url, "name": name, "max_runs": max_runs,
           "lock": str(folder / f"{name}.lock"), "parent_pid": os.getpid()}
    procs, started, launches = {}, {}, [0]

    def launch(slot):
        env = dict(os.environ)
        if gpus:
            env["CUDA_VISIBLE_DEVICES"] = ",".join(str(slot * per_trial + i) for i in range(per_trial))
        launches[0] += 1
        seed = sampler_seed(config, slot, launches[0])
        p = subprocess.Popen([sys.executable, "-m", "pufferlib.sweep_worker"], env=env, stdin=subprocess.PIPE,
                             text=True)
        p.stdin.write(json.dumps({**job, "sampler_seed": seed}, default=str))
        p.stdin.close()
        procs[slot], started[slot] = p, time.time()

    old_term = signal.signal(signal.SIGTERM, _interrupt)
    quick_deaths, reason = 0, None
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
                fail_lost_trials(study, {f"{socket.gethostname()}:{p.pid}": f"worker {p.pid} died (exit code {code})"})
                quick_deaths = quick_deaths + 1 if code != 0 and time.time() - started[slot] < QUICK_DEATH_S else 0
                if quick_deaths >= 3:
                    reason = f"workers keep dying at start (exit code {code}); see their output above"
                elif code != 0 and remaining(study, max_runs) > 0:
                    print(f"sweep: worker {p.pid} exited with {code}; starting another", file=sys.stderr, flush=True)
                    launch(slot)
            count = counts(study)
            if reason is None and count[TrialState.FAIL] >= GIVE_UP_FAILURES and not (
                    count[TrialState.COMPLETE] or count[TrialState.PRUNED]):
                reason = f"the first {count[TrialState.FAIL]} trials all failed"
            if reason is not None:
                _stop_workers(procs)
                fail_lost_trials(study, {f"{socket.gethostname()}:{p.pid}": "stopped: the sweep gave up"
                                         for p in procs.values()})
                procs.clear()
            if time.time() - last > 5 or not procs:
                fail_lost_trials(study)
                progress(study)
                last = time.time()
    except KeyboardInterrupt:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        _stop_workers(procs)
        fail_lost_trials(study, {f"{socket.gethostname()}:{p.pid}": "stopped: the sweep was interrupted"
                                 for p in procs.values()})
        print("sweep: interrupted; its running trials are marked failed. The same command resumes the study.",
              file=sys.stderr, flush=True)
        return 130
    finally:
        signal.signal(signal.SIGTERM, old_term)
    front = pareto(study)
    if front:
        print("pareto front (cost s, score, trial): " + "; ".join(f"{c:.1f}, {s:.4g}, #{n}" for c, s, n in front))
    count = counts(study)
    if reason is None and count[TrialState.FAIL] and not (count[TrialState.COMPLETE] or count[TrialState.PRUNED]):
        reason = f"all {count[TrialState.FAIL]} trials failed"
    if reason is not None:
        print(f"sweep: error: {reason}. Errors: {failure_summary(study) or 'none recorded'}", file=sys.stderr, flush=True)
        return 1
    return 0


def _stop_workers(procs, timeout=30.0):
    """SIGINT each worker (it fails its trial and exits), SIGKILL those still there after timeout."""
    for p in procs.values():
        if p.poll() is None:
            p.send_signal(signal.SIGINT)
    deadline = time.time() + timeout
    for p in procs.values():
        try:
            p.wait(timeout=max(0.1, deadline - time.time()))
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def _gpu_count():
    try:
        return len(os.listdir("/proc/driver/nvidia/gpus"))
    except OSError:
        return 0
