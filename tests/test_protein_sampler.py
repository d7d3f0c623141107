"""ProteinSampler and ProteinPruner in optuna studies: in memory, on SQLite, and with 2 processes."""
import math
import multiprocessing
import sys
from pathlib import Path

import numpy as np
import optuna
import pytest
from optuna.trial import TrialState

try:
    import protein
except ImportError:  # not installed: use the source tree
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "sweep"))
    import protein
from protein import ProteinPruner, ProteinSampler, SearchSpace

optuna.logging.set_verbosity(optuna.logging.WARNING)

SPEC = {
    "goal": "maximize",
    "train": {"total_timesteps": {"distribution": "log_normal", "min": 1e4, "max": 1e6, "scale": "time"},
              "learning_rate": {"distribution": "log_normal", "min": 1e-5, "max": 1e-1, "scale": 0.5},
              "gamma": {"distribution": "logit_normal", "min": 0.8, "max": 0.9999}},
    "policy": {"hidden_size": {"distribution": "uniform_pow2", "min": 16, "max": 256},
               "num_layers": {"distribution": "int_uniform", "min": 1, "max": 4}},
}
SPACE = SearchSpace(SPEC)


def quality(p):
    lr = math.log10(p["train"]["learning_rate"]) + 2.5
    gamma = math.log10(1 - p["train"]["gamma"]) + 2
    return math.exp(-0.5 * lr * lr - 0.5 * gamma * gamma)


def objective(trial):
    """A fake training run: 5 curve points; cost = steps / 1000 (seconds, say)."""
    p = SPACE.suggest(trial)
    total = p["train"]["total_timesteps"]
    score = 0.0
    for k in range(1, 6):
        steps = total * k / 5
        score = quality(p) * math.log10(steps)
        protein.report(trial, score, steps / 1000, step=int(steps))
        if trial.should_prune():
            raise optuna.TrialPruned()
    return score


def test_sampler_in_memory_study():
    sampler = ProteinSampler(SPEC, seed=0, max_suggestion_cost=600)
    study = optuna.create_study(direction="maximize", sampler=sampler)
    study.optimize(objective, n_trials=25)
    assert sampler.last_info["phase"] == "gp"
    assert len(study.trials) == 25
    # every trial's params are legal values of their distributions, e.g. powers of two
    for t in study.trials:
        assert t.params["policy/hidden_size"] in (16, 32, 64, 128, 256)
        assert isinstance(t.params["policy/num_layers"], int)
        assert 1e4 <= t.params["train/total_timesteps"] <= 1e6
    # curve points became observations (up to 5 per trial, fewer where steps fall below the range)
    assert sampler.protein.num_observations > 25 * 2
    # it learned something: the best trial is far better than the Sobol start's
    first = max(t.value for t in study.trials[:10])
    assert study.best_value > first
    gp_trials = study.trials[10:]
    assert max(t.params["train/total_timesteps"] / 1000 for t in gp_trials) <= 600 * 1.1


def test_minimize_failures_and_foreign_params():
    sampler = ProteinSampler(SPEC, seed=1)

    def loss(trial):
        p = SPACE.suggest(trial)
        extra = trial.suggest_float("not_in_spec", 0.0, 1.0)  # sampled by the fallback sampler
        assert 0.0 <= extra <= 1.0
        if p["policy"]["num_layers"] == 4:
            raise RuntimeError("diverged")  # a failed trial
        trial.set_user_attr("cost", p["train"]["total_timesteps"] / 1000)
        return -quality(p)

    study = optuna.create_study(direction="minimize", sampler=sampler)
    study.optimize(loss, n_trials=20, catch=(RuntimeError,))
    states = [t.state for t in study.trials]
    assert TrialState.FAIL in states and states.count(TrialState.COMPLETE) >= 10
    assert sampler.protein.goal == "minimize"
    sampler.sync(study)  # the last trial finished after the last suggestion
    assert sampler.protein.best()[1] == pytest.approx(study.best_value)
    failures = [o for t in study.trials if t.state == TrialState.FAIL
                for o in protein.trial_observations(t, "train/total_timesteps")]
    assert failures and all(o[3] and math.isnan(o[2]) for o in failures)  # no measured cost: NaN


def test_observations_from_a_trial():
    """How a finished trial turns into observations (curve + final, downsampled, step -> cost param)."""
    study = optuna.create_study(direction="maximize")
    trial = study.ask({"train/total_timesteps": optuna.distributions.FloatDistribution(1e4, 1e6, log=True)})
    total = trial.params["train/total_timesteps"]
    for k in range(1, 11):
        protein.report(trial, float(k), cost=k * 2.0, step=int(total * k / 10))
    study.tell(trial, 10.5)
    frozen = study.trials[0]
    obs = protein.trial_observations(frozen, "train/total_timesteps", downsample=5)
    assert len(obs) == 5
    assert obs[-1][1] == 10.5 and obs[-1][2] == 20.0 and obs[-1][0]["train/total_timesteps"] == total
    assert [o[1] for o in obs[:-1]] == [1.0, 4.0, 6.0, 9.0]  # the last point is the final value
    assert obs[0][0]["train/total_timesteps"] == int(total / 10)
    assert not any(o[3] for o in obs)


def test_pruner_prunes_bad_curves_and_nan():
    sampler = ProteinSampler(SPEC, seed=2)
    study = optuna.create_study(direction="maximize", sampler=sampler, pruner=ProteinPruner(sampler))
    study.optimize(objective, n_trials=20)

    def bad(trial):
        SPACE.suggest(trial)
        for k in range(1, 9):
            protein.report(trial, 1e-3, cost=100.0 * k, step=12500 * k)
            if trial.should_prune():
                raise optuna.TrialPruned()
        return 1e-3

    def nan(trial):
        SPACE.suggest(trial)
        protein.report(trial, math.nan, cost=1.0, step=1)
        if trial.should_prune():
            raise optuna.TrialPruned()
        return 0.0

    study.optimize(bad, n_trials=1)
    study.optimize(nan, n_trials=1)
    assert study.trials[-2].state == TrialState.PRUNED
    assert len(study.trials[-2].intermediate_values) < 8  # stopped before the end
    assert study.trials[-1].state == TrialState.PRUNED
    # a good curve is not pruned
    assert sum(t.state == TrialState.COMPLETE for t in study.trials[:20]) >= 12


def test_standalone_pruner_with_another_sampler():
    pruner = ProteinPruner(cost_param="train/total_timesteps")
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.RandomSampler(seed=0), pruner=pruner)
    study.optimize(objective, n_trials=15)

    def bad(trial):
        SPACE.suggest(trial)
        for k in range(1, 9):
            protein.report(trial, 1e-3, cost=100.0 * k, step=12500 * k)
            if trial.should_prune():
                raise optuna.TrialPruned()
        return 1e-3

    study.optimize(bad, n_trials=1)
    assert study.trials[-1].state == TrialState.PRUNED


def test_sqlite_storage_resume(tmp_path):
    url = f"sqlite:///{tmp_path / 'sweep.db'}"
    study = optuna.create_study(study_name="s", storage=url, direction="maximize",
                                sampler=ProteinSampler(SPEC, seed=3, num_random_samples=4))
    study.optimize(objective, n_trials=5)
    # a new process would do this: load the study with a fresh sampler, which reads the history
    sampler = ProteinSampler(SPEC, seed=3, num_random_samples=4)
    again = optuna.load_study(study_name="s", storage=url, sampler=sampler, pruner=ProteinPruner(sampler))
    again.optimize(objective, n_trials=3)
    assert len(again.trials) == 8
    assert sampler.last_info["phase"] == "gp" and sampler.last_info["index"] == 7
    assert sampler.protein.num_observations >= 7


def _worker(url, n_trials):
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage = optuna.storages.RDBStorage(url, engine_kwargs={"connect_args": {"timeout": 60}})
    sampler = ProteinSampler(SPEC, seed=4, num_random_samples=4)
    study = optuna.load_study(study_name="par", storage=storage, sampler=sampler, pruner=ProteinPruner(sampler))
    study.optimize(objective, n_trials=n_trials)


def test_two_processes_share_a_sqlite_study(tmp_path):
    url = f"sqlite:///{tmp_path / 'par.db'}"
    optuna.create_study(study_name="par", storage=url, direction="maximize")
    ctx = multiprocessing.get_context("spawn")
    workers = [ctx.Process(target=_worker, args=(url, 6)) for _ in range(2)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(timeout=120)
    assert all(w.exitcode == 0 for w in workers)
    study = optuna.load_study(study_name="par", storage=url)
    trials = study.get_trials(states=(TrialState.COMPLETE, TrialState.PRUNED))
    assert len(trials) == 12
    assert sorted(t.number for t in study.trials) == list(range(12))
    # same seed in both workers, yet no two trials got the same params
    keys = {tuple(sorted(t.params.items())) for t in trials}
    assert len(keys) == 12


def test_pruner_settings_reach_the_samplers_protein():
    sampler = ProteinSampler(SPEC, seed=5)
    ProteinPruner(sampler, early_stop_quantile=0.2, early_stop_min_obs=12)
    study = optuna.create_study(direction="maximize", sampler=sampler)
    study.optimize(objective, n_trials=1)
    assert sampler.protein.early_stop.quantile == 0.2 and sampler.protein.early_stop.min_obs == 12
    with pytest.raises(ValueError, match="before the study starts"):
        ProteinPruner(sampler, early_stop_quantile=0.4)
