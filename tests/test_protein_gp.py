"""Protein's GP (recovers known functions, gradient is right) and its Pareto front and pruning."""
import math
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy.optimize import approx_fprime

try:
    import protein
except ImportError:  # not installed: use the source tree
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "sweep"))
    import protein
from protein import GP, pareto_front, prune_front


def test_gradient_matches_finite_differences():
    rng = np.random.default_rng(0)
    X = rng.uniform(-1, 1, (30, 3))
    y = np.sin(3 * X[:, 0]) + 0.3 * X[:, 1] + 0.05 * rng.normal(size=30)
    gp = GP()
    theta = gp._initial(X, y) + rng.normal(0, 0.3, 2 * 3 + 3)
    _, grad = gp._nll(theta, X, y)
    numeric = approx_fprime(theta, lambda t: gp._nll(t, X, y)[0], 1e-6)
    np.testing.assert_allclose(grad, numeric, rtol=1e-3, atol=1e-3)


def test_recovers_1d_function():
    rng = np.random.default_rng(1)
    X = rng.uniform(-1, 1, (40, 1))
    f = lambda x: np.sin(4 * x[:, 0]) + 0.5 * x[:, 0]
    gp = GP().fit(X, f(X) + 0.01 * rng.normal(size=40))
    grid = np.linspace(-0.95, 0.95, 101)[:, None]
    mean, std = gp.predict(grid, return_std=True)
    assert np.sqrt(np.mean((mean - f(grid)) ** 2)) < 0.03
    assert np.all(std < 0.1)
    far = gp.predict(np.array([[0.0]]), return_std=True)[1]
    assert far[0] > 0  # a posterior std, not zero


def test_recovers_2d_function_and_noise():
    rng = np.random.default_rng(2)
    X = rng.uniform(-1, 1, (150, 2))
    f = lambda x: np.exp(-2 * ((x[:, 0] - 0.3) ** 2 + (x[:, 1] + 0.2) ** 2)) + 0.3 * x[:, 1]
    y = f(X) + 0.05 * rng.normal(size=150)
    gp = GP().fit(X, y)
    test = rng.uniform(-0.9, 0.9, (200, 2))
    assert np.sqrt(np.mean((gp.predict(test) - f(test)) ** 2)) < 0.04
    noise = gp.hyperparameters["noise"]
    assert 0.05 ** 2 / 3 < noise < 0.05 ** 2 * 3  # the noise variance, roughly
    # the maximiser of the posterior mean is about as good as the true one
    best = test[np.argmax(gp.predict(test))]
    assert f(best[None])[0] > np.max(f(test)) - 0.03


def test_linear_kernel_extrapolates_a_trend():
    # y rises linearly in x0 and bends in x1; seen only for x0 <= -0.3, predicted up to x0 = 1
    rng = np.random.default_rng(4)
    X = np.column_stack([rng.uniform(-1, -0.3, 40), rng.uniform(-1, 1, 40)])
    f = lambda x: 0.8 * x[:, 0] + np.cos(2 * x[:, 1])
    gp = GP().fit(X, f(X))
    far = np.column_stack([np.full(5, 1.0), np.linspace(-0.8, 0.8, 5)])
    np.testing.assert_allclose(gp.predict(far), f(far), atol=0.15)
    w = gp.hyperparameters["linear_weights"]
    assert w[0] > 10 * w[1]


def test_warm_refit_and_subset_fit():
    rng = np.random.default_rng(3)
    X = rng.uniform(-1, 1, (400, 4))
    y = np.sin(2 * X[:, 0]) + X[:, 1] ** 2 + 0.02 * rng.normal(size=400)
    gp = GP().fit(X, y, hyper_rows=np.arange(0, 400, 2))
    first = gp.theta.copy()
    gp.fit(X, y)  # warm start from first
    assert np.all(np.isfinite(gp.theta)) and gp.theta.shape == first.shape
    test = rng.uniform(-1, 1, (100, 4))
    truth = np.sin(2 * test[:, 0]) + test[:, 1] ** 2
    assert np.sqrt(np.mean((gp.predict(test) - truth) ** 2)) < 0.08
    ls = gp.hyperparameters["lengthscales"]
    assert ls[2] > 2 * ls[0] and ls[3] > 2 * ls[0]  # irrelevant dims get long lengthscales


def test_pareto_front():
    #              0    1    2    3    4    5    6
    costs = np.array([1.0, 2.0, 2.0, 3.0, 4.0, 5.0, 0.5])
    scores = np.array([0.1, 0.5, 0.4, 0.45, 0.9, 0.9, 0.05])
    front = pareto_front(costs, scores)
    assert list(front) == [6, 0, 1, 4]  # 2 and 3 are dominated by 1, 5 by 4
    assert list(pareto_front([1, 1, 1], [0.3, 0.3, 0.3])) == [0]
    assert list(pareto_front([1, 2, 3], [np.nan, 1.0, 2.0])) == [1, 2]


def test_prune_front_drops_the_expensive_tail():
    # cheap points gain a lot per cost; the last two buy almost nothing for a lot
    costs = np.array([1.0, 2.0, 3.0, 10.0, 30.0])
    scores = np.array([0.2, 0.8, 0.985, 0.99, 1.0])
    front = pareto_front(costs, scores)
    assert list(prune_front(costs, scores, front)) == [0, 1, 2]
    # a big last step is kept
    scores2 = np.array([0.2, 0.4, 0.5, 0.6, 1.0])
    assert list(prune_front(costs, scores2, pareto_front(costs, scores2))) == [0, 1, 2, 3, 4]
    # never prune below 98% of the best score: 0.9 < 0.98 stops the walk
    scores3 = np.array([0.1, 0.2, 0.3, 0.9, 1.0])
    assert list(prune_front(costs, scores3, pareto_front(costs, scores3))) == [0, 1, 2, 3, 4]
    scores4 = np.array([0.1, 0.2, 0.3, 0.99, 1.0])
    assert list(prune_front(costs, scores4, pareto_front(costs, scores4))) == [0, 1, 2, 3]
    assert list(prune_front(costs[:1], scores[:1], [0])) == [0]
