"""ProteinSampler against optuna's sampler contract, in any study (no search space given).

The behaviours optuna documents for a sampler (BaseSampler) and checks for its own samplers:
values inside the asked distribution for every kind of distribution, only the asked parameters,
dynamic ranges and conditional parameters, fixed parameters (PartialFixedSampler, enqueue_trial),
reproducibility for a seed, reseed_rng, single-value distributions, failed and pruned trials,
n_jobs > 1, and a ValueError for multi-objective studies. Written for this project.
"""
import datetime
import math
import sys
from pathlib import Path

import numpy as np
import optuna
import pytest
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.trial import TrialState

try:
    import protein
except ImportError:  # not installed: use the source tree
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "sweep"))
    import protein
from protein import ProteinSampler

optuna.logging.set_verbosity(optuna.logging.WARNING)
pytestmark = pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")

FAST = {"num_random_samples": 3}  # reach the GP phase within a few trials

DISTRIBUTIONS = {
    "float": FloatDistribution(-1.0, 2.0),
    "float_log": FloatDistribution(1e-4, 1.0, log=True),
    "float_step": FloatDistribution(0.0, 1.0, step=0.25),
    "int": IntDistribution(-3, 9),
    "int_log": IntDistribution(1, 1000, log=True),
    "int_step": IntDistribution(2, 20, step=3),
    "cat_str": CategoricalDistribution(["relu", "tanh", "gelu"]),
    "cat_num": CategoricalDistribution([64, 8, 512, 2.5]),
    "cat_mixed": CategoricalDistribution([None, True, "x", 3, 0.5]),
}


def suggest(trial, name, d):
    if isinstance(d, CategoricalDistribution):
        return trial.suggest_categorical(name, d.choices)
    if isinstance(d, IntDistribution):
        return trial.suggest_int(name, d.low, d.high, step=d.step, log=d.log)
    return trial.suggest_float(name, d.low, d.high, step=d.step, log=d.log)


def contains(d, value):
    return d._contains(d.to_internal_repr(value))


def with_cost(objective):
    """A deterministic cost (so a study repeats exactly), as a training run would report it."""
    def wrapped(trial):
        value = objective(trial)
        trial.set_user_attr("cost", 1.0 + abs(value))
        return value
    return wrapped


@pytest.mark.parametrize("kind", list(DISTRIBUTIONS))
def test_values_lie_in_every_kind_of_distribution(kind):
    d = DISTRIBUTIONS[kind]
    sampler = ProteinSampler(seed=0, **FAST)
    study = optuna.create_study(sampler=sampler)

    def objective(trial):
        v = suggest(trial, kind, d)
        other = trial.suggest_float("other", 0.0, 1.0)
        return (hash(str(v)) % 7) / 7.0 + other

    study.optimize(with_cost(objective), n_trials=10)
    for t in study.trials:
        assert contains(d, t.params[kind]), t.params
        assert type(t.params[kind]) in (type(c) for c in d.choices) if kind.startswith("cat") else True
        if isinstance(d, IntDistribution):
            assert isinstance(t.params[kind], int)
    # Protein modelled the parameter (it is in its space) and made the later suggestions.
    assert kind in sampler.protein.space.names and sampler.last_info["phase"] == "gp"


def test_relative_sample_is_exactly_the_asked_space():
    sampler = ProteinSampler(seed=1, **FAST)
    study = optuna.create_study(sampler=sampler)
    study.optimize(with_cost(lambda t: sum(float(hash(str(suggest(t, k, d))) % 5)
                                           for k, d in DISTRIBUTIONS.items())), n_trials=6)
    space = sampler.infer_relative_search_space(study, None)
    assert space == DISTRIBUTIONS  # every parameter, same distributions
    trial = study.ask()
    sub = {k: space[k] for k in ("float_log", "cat_mixed", "int_step")}
    values = sampler.sample_relative(study, trial, sub)
    assert set(values) == set(sub)
    assert all(contains(sub[k], v) for k, v in values.items())
    assert sampler.sample_relative(study, trial, {}) == {}


def test_single_value_distributions_are_left_out():
    sampler = ProteinSampler(seed=2, **FAST)
    study = optuna.create_study(sampler=sampler)

    def objective(trial):
        a = trial.suggest_float("a", 0.5, 0.5)
        b = trial.suggest_int("b", 3, 3)
        c = trial.suggest_categorical("c", ["only"])
        x = trial.suggest_float("x", 0.0, 1.0)
        assert (a, b, c) == (0.5, 3, "only")
        return x

    study.optimize(with_cost(objective), n_trials=5)
    assert list(sampler.infer_relative_search_space(study, None)) == ["x"]


def test_dynamic_ranges_and_conditional_parameters():
    sampler = ProteinSampler(seed=3, **FAST)
    study = optuna.create_study(sampler=sampler)

    def objective(trial):
        n = trial.number
        lo, hi = -1.0 - n, 1.0 + n
        x = trial.suggest_float("x", lo, hi)  # a range that changes every trial
        assert lo <= x <= hi
        y = trial.suggest_float("y", 0.0, 1.0)
        kind = trial.suggest_categorical("kind", ["a", "b"])
        if kind == "a":
            z = trial.suggest_float("za", 10.0, 20.0)
            assert 10.0 <= z <= 20.0
        else:
            z = trial.suggest_int("zb", 1, 4)
            assert 1 <= z <= 4
        return (y - 0.3) ** 2 + 0.01 * abs(x) + (0.0 if kind == "a" else 0.1)

    study.optimize(with_cost(objective), n_trials=12)
    # the varying range and the conditional parameters are not in the joint space; y and kind are
    assert set(sampler.infer_relative_search_space(study, None)) == {"y", "kind"}
    assert set(sampler.protein.space.names) == {"y", "kind"}
    assert {t.params["kind"] for t in study.trials} == {"a", "b"}


def test_partially_fixed_parameters():
    base = ProteinSampler(seed=4, **FAST)
    sampler = optuna.samplers.PartialFixedSampler({"x": 0.25}, base)
    study = optuna.create_study(sampler=sampler)

    def objective(trial):
        x = trial.suggest_float("x", 0.0, 1.0)
        y = trial.suggest_float("y", -1.0, 1.0)
        k = trial.suggest_int("k", 0, 5)
        return (x - 0.5) ** 2 + y * y + 0.1 * k

    study.optimize(with_cost(objective), n_trials=8)
    assert all(t.params["x"] == 0.25 for t in study.trials)
    assert len({t.params["y"] for t in study.trials}) == 8
    assert set(base.protein.space.names) == {"y", "k"}  # the fixed one is not searched


def test_enqueued_params_win():
    sampler = ProteinSampler(seed=5, **FAST)
    study = optuna.create_study(sampler=sampler)
    objective = with_cost(lambda t: t.suggest_float("x", 0, 1) + t.suggest_categorical("c", [1, 2, 4]))
    study.optimize(objective, n_trials=4)
    study.enqueue_trial({"x": 0.125, "c": 4})
    study.optimize(objective, n_trials=1)
    assert study.trials[-1].params == {"x": 0.125, "c": 4}


def _params_of(seed, n_trials=12, objective=None):
    sampler = ProteinSampler(seed=seed, **FAST)
    study = optuna.create_study(sampler=sampler)

    def default(trial):
        x = trial.suggest_float("x", -2.0, 2.0)
        n = trial.suggest_int("n", 1, 64, log=True)
        act = trial.suggest_categorical("act", ["relu", "tanh"])
        return (x - 0.7) ** 2 + abs(math.log2(n) - 3) + (act == "tanh")

    study.optimize(with_cost(objective or default), n_trials=n_trials)
    return [t.params for t in study.trials], sampler


def test_reproducible_for_a_seed_and_different_across_seeds():
    a, sampler = _params_of(7)
    b, _ = _params_of(7)
    c, _ = _params_of(8)
    assert sampler.last_info["phase"] == "gp"
    assert a == b
    assert a[1:] != c[1:] and a[-1] != c[-1]


def test_reseed_rng_changes_suggestions():
    sampler = ProteinSampler(seed=9, **FAST)
    objective = with_cost(lambda t: t.suggest_float("x", 0, 1) ** 2 + t.suggest_float("y", 0, 1))
    first = optuna.create_study(sampler=sampler)
    first.optimize(objective, n_trials=5)
    sampler.reseed_rng()
    second = optuna.create_study(sampler=sampler)
    second.optimize(objective, n_trials=5)
    assert [t.params for t in first.trials] != [t.params for t in second.trials]


def _add_timed_trial(study, params, distributions, value, seconds):
    start = datetime.datetime(2026, 1, 1, 12, 0, 0)
    study.add_trial(optuna.trial.FrozenTrial(
        number=0, trial_id=0, state=TrialState.COMPLETE, value=value, values=None,
        datetime_start=start, datetime_complete=start + datetime.timedelta(seconds=seconds),
        params=params, distributions=distributions, user_attrs={}, system_attrs={},
        intermediate_values={}))


def test_trial_duration_is_the_cost_when_none_is_reported():
    dists = {"x": FloatDistribution(0.0, 1.0), "w": IntDistribution(1, 8)}
    rng = np.random.default_rng(0)
    studies = []
    for _ in range(2):
        sampler = ProteinSampler(seed=11, **FAST)
        study = optuna.create_study(sampler=sampler)
        for i in range(8):
            p = {"x": float(rng.uniform()), "w": int(rng.integers(1, 9))}
            # costs grow with w, as a wider network's runs would
            _add_timed_trial(study, p, dists, value=(p["x"] - 0.3) ** 2, seconds=2.0 * p["w"])
        rng = np.random.default_rng(0)
        studies.append((study, sampler))
    suggestions = []
    for study, sampler in studies:
        trial = study.ask()
        values = sampler.sample_relative(study, trial, dists)
        assert sampler.last_info["phase"] == "gp"
        suggestions.append(values)
        costs = sorted(sampler.protein._cost)
        expected = sorted(2.0 * t.params["w"] for t in study.trials if t.state == TrialState.COMPLETE)
        assert costs == pytest.approx(expected)  # every trial observed, at its duration
    assert suggestions[0] == suggestions[1]  # same seed, same history: same suggestion


def test_plain_objective_reaches_the_gp_phase():
    """No cost reported anywhere: trials still teach Protein (their duration is the cost)."""
    sampler = ProteinSampler(seed=12, **FAST)
    study = optuna.create_study(sampler=sampler)
    study.optimize(lambda t: (t.suggest_float("x", -3, 3) - 1.0) ** 2, n_trials=15)
    assert sampler.protein.num_observations >= 14
    assert sampler.last_info["phase"] == "gp"
    assert all(c >= 1e-3 for c in sampler.protein._cost)  # durations (floored at 1 ms), not skipped


def test_failed_nan_and_pruned_trials():
    sampler = ProteinSampler(seed=13, **FAST)
    study = optuna.create_study(sampler=sampler)

    def objective(trial):
        x = trial.suggest_float("x", 0.0, 1.0)
        if trial.number % 4 == 1:
            raise RuntimeError("diverged")
        if trial.number % 4 == 2:
            return float("nan")
        trial.report(x, 1)
        if trial.number % 4 == 3:
            raise optuna.TrialPruned()
        return x

    study.optimize(objective, n_trials=12, catch=(RuntimeError,))
    states = {t.state for t in study.trials}
    assert states == {TrialState.COMPLETE, TrialState.FAIL, TrialState.PRUNED}
    assert all(0.0 <= t.params["x"] <= 1.0 for t in study.trials)
    assert sampler.protein.num_observations >= 9


def test_parallel_threads():
    sampler = ProteinSampler(seed=14, **FAST)
    study = optuna.create_study(sampler=sampler)
    study.optimize(with_cost(lambda t: t.suggest_float("x", 0, 1) + t.suggest_int("k", 0, 3)), n_trials=8, n_jobs=2)
    assert len(study.trials) == 8 and all(t.state == TrialState.COMPLETE for t in study.trials)


def test_multi_objective_studies_are_refused():
    study = optuna.create_study(directions=["minimize", "maximize"], sampler=ProteinSampler(seed=15))
    with pytest.raises(ValueError, match="single-objective"):
        study.optimize(lambda t: (t.suggest_float("x", 0, 1), 1.0), n_trials=1)


def test_given_space_starts_with_sobol_and_hints_transforms():
    """With the [sweep] spec, the first trials are Protein's (cheap Sobol) and a logit_normal keeps
    its transform once the space comes from the study."""
    spec = {"train": {"steps": {"distribution": "log_normal", "min": 1e3, "max": 1e6, "scale": "time"},
                      "gamma": {"distribution": "logit_normal", "min": 0.8, "max": 0.9999}}}
    sampler = ProteinSampler(spec, seed=16, **FAST)
    study = optuna.create_study(sampler=sampler, direction="maximize")

    def objective(trial):
        p = sampler.space.suggest(trial)
        trial.set_user_attr("cost", p["train"]["steps"] / 1e3)
        return -abs(math.log10(1 - p["train"]["gamma"]) + 2) + 0.1 * math.log10(p["train"]["steps"])

    study.optimize(objective, n_trials=6)
    first = study.trials[0].params["train/steps"]
    assert first < 1e4  # the cost parameter starts near its cheap end, not uniformly
    gamma = sampler.protein.space["train/gamma"]
    assert gamma.distribution == "logit_normal" and sampler.protein.space.cost_param == "train/steps"
