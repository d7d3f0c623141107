"""Protein search spaces: normalisation round trips, scales, and clear errors for bad specs."""
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
from protein import SearchSpace
from protein.spaces import Param

SPECS = {
    "uniform": ("uniform", 0.1, 5.0),
    "int_uniform": ("int_uniform", 1, 8),
    "uniform_pow2": ("uniform_pow2", 32, 1024),
    "log_normal": ("log_normal", 1e-5, 0.1),
    "logit_normal": ("logit_normal", 0.8, 0.9999),
}


@pytest.mark.parametrize("name", list(SPECS))
def test_round_trip(name):
    dist, lo, hi = SPECS[name]
    p = Param(name, dist, lo, hi)
    assert p.normalize(lo) == pytest.approx(-1.0)
    assert p.normalize(hi) == pytest.approx(1.0)
    rng = np.random.default_rng(0)
    for n in rng.uniform(-1, 1, 200):
        v = p.unnormalize(n)
        assert lo <= v <= hi
        # value -> normalised -> value is exact (on the grid for the discrete ones)
        assert p.unnormalize(p.normalize(v)) == pytest.approx(v, rel=1e-9)
        if dist in ("uniform", "log_normal", "logit_normal"):
            assert p.normalize(v) == pytest.approx(n, abs=1e-9)
    if dist == "int_uniform":
        assert all(isinstance(p.unnormalize(n), int) for n in (-1, 0, 0.3, 1))
        assert sorted({p.unnormalize(n) for n in np.linspace(-1, 1, 101)}) == list(range(1, 9))
    if dist == "uniform_pow2":
        values = sorted({p.unnormalize(n) for n in np.linspace(-1, 1, 101)})
        assert values == [32, 64, 128, 256, 512, 1024]
    # monotone, clipped outside [-1, 1] and clamped outside [min, max]
    grid = [p.unnormalize(n) for n in np.linspace(-1, 1, 50)]
    assert all(a <= b for a, b in zip(grid, grid[1:]))
    assert p.unnormalize(-3) == p.unnormalize(-1) and p.unnormalize(7) == p.unnormalize(1)
    assert p.normalize(hi * 2 if dist != "logit_normal" else 0.999999) == pytest.approx(1.0)


def test_transforms_match_the_table():
    assert Param("a", "uniform", 0, 10).normalize(2.5) == pytest.approx(-0.5)
    assert Param("b", "log_normal", 1e-4, 1).normalize(1e-2) == pytest.approx(0.0)
    assert Param("c", "uniform_pow2", 16, 256).normalize(64) == pytest.approx(0.0)
    assert Param("d", "logit_normal", 0.9, 0.999).normalize(0.99) == pytest.approx(0.0)
    assert Param("d", "logit_normal", 0.9, 0.999).unnormalize(0.0) == pytest.approx(0.99)


def test_scales():
    assert Param("a", "uniform", 0, 1).scale == 0.5
    assert Param("a", "uniform", 0, 1, "auto").scale == 0.5
    assert Param("a", "uniform", 0, 1, 0.25).scale == 0.25
    assert Param("a", "uniform", 0, 1, "0.3").scale == 0.3
    t = Param("steps", "log_normal", 3e7, 1e11, "time")
    assert t.scale == pytest.approx(1.0 / (math.log2(1e11) - math.log2(3e7)))
    assert t.is_time


@pytest.mark.parametrize("spec, words", [
    ({"distribution": "uniform", "min": 1, "max": 1}, ["'train/x'", "min", "smaller than max"]),
    ({"distribution": "uniform", "min": 2, "max": 1}, ["'train/x'", "smaller than max"]),
    ({"distribution": "gaussian", "min": 0, "max": 1}, ["'train/x'", "gaussian", "log_normal", "uniform_pow2"]),
    ({"distribution": "log_normal", "min": 0, "max": 1}, ["'train/x'", "min must be > 0"]),
    ({"distribution": "log_normal", "min": -1, "max": 1}, ["'train/x'", "min must be > 0"]),
    ({"distribution": "uniform_pow2", "min": 0, "max": 64}, ["'train/x'", "min must be > 0"]),
    ({"distribution": "uniform_pow2", "min": 5, "max": 7}, ["'train/x'", "no power of two"]),
    ({"distribution": "logit_normal", "min": 0.5, "max": 1.0}, ["'train/x'", "0 < min < max < 1"]),
    ({"distribution": "logit_normal", "min": 0.0, "max": 0.5}, ["'train/x'", "0 < min < max < 1"]),
    ({"distribution": "int_uniform", "min": 0.5, "max": 4}, ["'train/x'", "integer"]),
    ({"distribution": "uniform", "min": "abc", "max": 4}, ["'train/x'", "not a number"]),
    ({"distribution": "uniform", "min": 0, "max": 1, "scale": "wide"}, ["'train/x'", "'auto'", "'time'"]),
    ({"distribution": "uniform", "min": 0, "max": 1, "scale": -1}, ["'train/x'", "positive"]),
    ({"distribution": "uniform", "min": 0, "max": 1, "sclae": 1}, ["'train/x'", "sclae", "allowed"]),
    ({"distribution": "uniform", "max": 1}, ["'train/x'", "missing 'min'"]),
])
def test_bad_specs_raise(spec, words):
    with pytest.raises(ValueError) as err:
        SearchSpace({"train": {"x": spec}})
    for w in words:
        assert w in str(err.value)


def test_sections_settings_and_cost_param():
    spec = {"method": "Protein", "metric": "score", "goal": "maximize", "max_suggestion_cost": 3600,
            "early_stop_quantile": 0.3, "match_num_games": 10, "storage": None,
            "train": {"total_timesteps": {"distribution": "log_normal", "min": 3e7, "max": 1e11, "scale": "time"},
                      "learning_rate": {"distribution": "log_normal", "min": 1e-5, "max": 0.1, "scale": 0.5,
                                        "mean": 0.01}},
            "policy": {"hidden_size": {"distribution": "uniform_pow2", "min": 32, "max": 1024}}}
    space = SearchSpace(spec)
    assert space.names == ["train/total_timesteps", "train/learning_rate", "policy/hidden_size"]
    assert space.cost_param == "train/total_timesteps" and space.cost_index == 0
    x = space.normalize({"train": {"total_timesteps": 1e9, "learning_rate": 1e-3}, "policy": {"hidden_size": 128},
                         "env": {"unrelated": 1}})
    back = space.nest(space.unnormalize(x))
    assert back["policy"]["hidden_size"] == 128
    assert back["train"]["learning_rate"] == pytest.approx(1e-3)
    only = SearchSpace(spec, only="learning")
    assert only.names == ["train/total_timesteps", "train/learning_rate"]
    with pytest.raises(ValueError, match="neither a parameter"):
        SearchSpace({"methd": "Protein", **spec})
    with pytest.raises(ValueError, match="not in the search space"):
        SearchSpace(spec, cost_param="train/steps")
    with pytest.raises(ValueError, match="lack sweep parameter"):
        space.normalize({"train": {"learning_rate": 1e-3}})
    with pytest.raises(ValueError, match="no parameters"):
        SearchSpace({"method": "Protein"})


def test_optuna_distributions_hold_every_value():
    spec = {name: {"distribution": d, "min": lo, "max": hi} for name, (d, lo, hi) in SPECS.items()}
    space = SearchSpace({"x": spec})
    dists = space.optuna_distributions()
    rng = np.random.default_rng(1)
    for _ in range(100):
        for name, value in space.unnormalize(rng.uniform(-1, 1, space.dim)).items():
            d = dists[name]
            assert d._contains(d.to_internal_repr(value)), (name, value)
