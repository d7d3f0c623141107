"""Protein's plain API: Sobol start, suggestions under max_suggestion_cost, early stopping that fires."""
import math
import sys
from pathlib import Path

import numpy as np
import pytest

try:
    import protein
except ImportError:  # not installed: use the source tree
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "sweep"))
    import protein
from protein import Protein

SPEC = {
    "method": "Protein", "goal": "maximize",
    "train": {"steps": {"distribution": "log_normal", "min": 1e3, "max": 1e6, "scale": "time"},
              "lr": {"distribution": "log_normal", "min": 1e-5, "max": 1e-1, "scale": 0.5}},
    "policy": {"width": {"distribution": "uniform_pow2", "min": 16, "max": 512}},
}


def score_of(params, steps):
    """Much better with more steps; best lr 1e-3, best width 128."""
    lr = math.log10(params["train/lr"]) + 3
    width = math.log2(params["policy/width"]) - 7
    return math.sqrt(steps / 1e3) * math.exp(-0.5 * lr * lr - 0.1 * width * width)


def run_curve(p, params, points=5):
    """Observe a run's learning curve (cost = steps / 100) the way a sweep does."""
    total = params["train/steps"]
    for k in range(1, points + 1):
        at = dict(params, **{"train/steps": total * k / points})
        p.observe(at, score_of(params, at["train/steps"]), at["train/steps"] / 100)


def test_sobol_start_is_cheap_and_spread():
    p = Protein(SPEC, seed=0)
    xs = []
    for i in range(10):
        params, info = p.suggest()
        assert info["phase"] == "sobol"
        xs.append(p.space.normalize(params))
    xs = np.array(xs)
    assert np.all(np.abs(xs[:, 0] + 0.8) < 0.45)  # cost coordinate near -0.8
    assert np.ptp(xs[:, 1]) > 1.0 and len({tuple(np.round(x, 6)) for x in xs}) == 10


def test_suggestions_respect_max_suggestion_cost():
    max_cost = 500.0  # steps <= 5e4, while the range goes to 1e6 and score grows with steps
    p = Protein(SPEC, seed=2, max_suggestion_cost=max_cost)
    gp_costs = []
    for i in range(40):
        params, info = p.suggest()
        if info["phase"] == "gp":
            assert info["predicted_cost"] < max_cost
            gp_costs.append(params["train/steps"] / 100)
        run_curve(p, params)
    assert len(gp_costs) == 30
    assert max(gp_costs) <= max_cost * 1.05
    assert max(gp_costs) > max_cost / 4  # it does push the cost up towards the limit
    best_params, best_score, best_cost = p.best()
    assert best_cost <= max_cost * 1.05
    assert abs(math.log10(best_params["train/lr"]) + 3) < 1.0


def test_fixed_cost_and_nested_params():
    p = Protein(SPEC, seed=2)
    for _ in range(12):
        params, _ = p.suggest()
        run_curve(p, params)
    params, info = p.suggest(fixed_cost=2e4)
    assert info["phase"] == "gp" and info["cost_target"] is None
    assert params["train/steps"] == pytest.approx(2e4, rel=1e-6)
    nested = p.space.nest(params)
    assert p.observe(nested, 1.0, 200.0)


def test_finds_an_optimum_without_cost_param():
    spec = {"x": {"distribution": "uniform", "min": -1, "max": 1},
            "y": {"distribution": "uniform", "min": -1, "max": 1}}
    p = Protein(spec, seed=3, goal="minimize")
    f = lambda q: (q["x"] - 0.3) ** 2 + (q["y"] + 0.2) ** 2
    for _ in range(30):
        params, _ = p.suggest()
        p.observe(params, f(params), 1.0)
    best_params, best, _ = p.best()
    assert best < 0.01 and best == pytest.approx(f(best_params))


def test_failures_and_ignored_points():
    p = Protein(SPEC, seed=4)
    params, _ = p.suggest()
    assert p.observe(params, math.nan, 10.0)  # non-finite score: a failure
    assert p.observe(params, 1.0, 10.0, is_failure=True)
    assert not p.observe(dict(params, **{"train/steps": 10}), 1.0, 0.1)  # below the range: ignored
    assert p.num_observations == 2 and p.best() is None
    with pytest.raises(ValueError, match="cost"):
        p.observe(params, 1.0, 0.0)
    for _ in range(15):
        params, info = p.suggest()
        run_curve(p, params)
    assert info["phase"] == "gp"


def curves_protein(goal="maximize"):
    """50 runs (250 observations) whose score grows like a log(cost), a in [0.5, 1.5]."""
    p = Protein(SPEC, seed=5, goal=goal)
    sign = 1 if goal == "maximize" else -1
    rng = np.random.default_rng(5)
    for a, lr in zip(rng.uniform(0.5, 1.5, 50), rng.uniform(1e-4, 1e-2, 50)):
        for cost in (20.0, 50.0, 100.0, 300.0, 1000.0):
            params = {"train/steps": cost * 100, "train/lr": lr, "policy/width": 64}
            p.observe(params, sign * a * math.log(cost), cost)
    return p


def test_early_stop_fires_on_a_bad_curve_and_not_on_a_good_one():
    p = curves_protein()
    assert p.early_stop.line is None
    p.should_stop(500.0, [1.0])  # fits the line
    a, b = p.early_stop.line
    assert b > 0.5 and p.early_stop.upper_cost == pytest.approx(1000.0)
    bad = [0.3 * math.log(c) for c in np.linspace(10, 500, 40)]    # a = 0.3: below everyone
    good = [1.3 * math.log(c) for c in np.linspace(10, 500, 40)]   # a = 1.3: near the top
    assert p.should_stop(500.0, bad)
    assert not p.should_stop(500.0, good)
    # a = 0.7 sits near the 0.3 quantile of a ~ U(0.5, 1.5): above it keeps going, below it stops
    assert not p.should_stop(500.0, [0.9 * math.log(500.0)])
    assert p.should_stop(500.0, [0.6 * math.log(500.0)])
    # too early to judge (cost < 0.3 x the front's cost): never stops, except on NaN
    assert not p.should_stop(100.0, bad[:5])
    assert p.should_stop(100.0, [1.0, math.nan])
    # far beyond the front's cost the run must be within 10% of the best score
    best = 1.5 * math.log(1000.0)
    assert p.should_stop(1500.0, [0.85 * best]) and not p.should_stop(1500.0, [0.95 * best])
    assert p.early_stop_threshold(500.0) == pytest.approx(a + b * math.log(500.0))


def test_early_stop_minimize_and_too_few_observations():
    p = curves_protein("minimize")
    assert p.should_stop(500.0, [-0.3 * math.log(500.0)])
    assert not p.should_stop(500.0, [-1.3 * math.log(500.0)])
    fresh = Protein(SPEC, seed=6)
    for cost in (20.0, 50.0, 100.0):
        fresh.observe({"train/steps": cost * 100, "train/lr": 1e-3, "policy/width": 64}, math.log(cost), cost)
    assert not fresh.should_stop(80.0, [-100.0])  # fewer than 30 observations: no line yet
    assert fresh.should_stop(80.0, [math.inf])


def test_quantile_line_fit():
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 5, 2000)
    y = 1.0 + 2.0 * x + rng.normal(size=2000)
    a, b = protein.early_stop.fit_quantile_line(x, y, 0.3)
    assert b == pytest.approx(2.0, abs=0.1) and a == pytest.approx(1.0 - 0.524, abs=0.15)
    a, b = protein.early_stop.fit_quantile_line(x, -x + rng.normal(size=2000), 0.5)
    assert b == 0.0  # B >= 0


def test_from_config_reads_the_sweep_settings():
    cfg = dict(SPEC, goal="minimize", max_suggestion_cost=123.0, early_stop_quantile=0.2,
               metric_distribution="percentile", prune_pareto=False, sweep_only="lr")
    p = Protein.from_config(cfg, seed=0)
    assert p.goal == "minimize" and p.max_suggestion_cost == 123.0 and not p.prune_pareto
    assert p.early_stop.quantile == 0.2 and p.metric_distribution == "percentile"
    assert p.space.names == ["train/steps", "train/lr"]
    sampler = protein.ProteinSampler.from_config(cfg, seed=0)
    assert sampler.space.names == ["train/steps", "train/lr"]
    with pytest.raises(ValueError, match="goal"):
        Protein(SPEC, goal="up")
