"""Early stopping: stop a run whose learning curve falls below what other runs reached at that cost.

From every observed (cost, score) point (all runs, all curve points) fit a low quantile line

    score ~ A + B log(cost),  B >= 0,      pinball loss at quantile q (0.3)

For a fixed B the best A is the q-quantile of score - B log(cost), and the loss left is convex in
B, so the fit is a bounded 1-d minimisation (exact, no start point to choose).

threshold(cost), with U = the cost of the most expensive point of the pruned Pareto front (the
largest seen; the reference lets U grow by only 1% per update, growth=1.01, which together with the
1.2 U rule below stopped nearly every run that reached beyond the front, so a sweep with early
stopping could hardly make its runs dearer):
    -inf               before min_obs points, or while cost < 0.3 U + min_cost (too early to judge)
    0.9 best score     when cost > 1.2 U (a run that costs more than any useful one must be near the best)
    A + B log(cost)    otherwise
A run stops when max(mean of its last 30 values, its last value) < threshold(cost), or when its last
value is not finite (NaN loss). Scores here are 'higher is better'; Protein flips minimised metrics.
"""
import math

import numpy as np
from scipy.optimize import minimize_scalar

from .pareto import pareto_front, prune_front


def _pinball(residuals, q):
    return float(np.sum(np.where(residuals >= 0, q * residuals, (q - 1.0) * residuals)))


def fit_quantile_line(log_costs, scores, q):
    """(A, B) minimising the pinball loss of score - (A + B log_cost), with B >= 0."""
    x = np.asarray(log_costs, dtype=np.float64)
    y = np.asarray(scores, dtype=np.float64)

    def best_a(b):
        return float(np.quantile(y - b * x, q, method="inverted_cdf"))

    def loss(b):
        return _pinball(y - b * x - best_a(b), q)

    x_span = float(np.ptp(x))
    if x_span <= 0:
        return best_a(0.0), 0.0
    slope = float(np.polyfit(x, y, 1)[0])
    b_max = 3.0 * max(slope, 0.0) + float(np.ptp(y)) / x_span + 1e-12
    res = minimize_scalar(loss, bounds=(0.0, b_max), method="bounded", options={"xatol": 1e-6 * b_max})
    b = float(res.x)
    if loss(0.0) <= loss(b):
        b = 0.0
    return best_a(b), b


class EarlyStop:
    """The quantile-line early-stopping rule. update() with all observations, then should_stop()."""

    def __init__(self, quantile=0.3, min_obs=30, window=30, min_cost=0.0, prune_pareto=True,
                 start_fraction=0.3, late_factor=1.2, late_fraction=0.9, growth=None):
        if not 0.0 < quantile < 1.0:
            raise ValueError(f"early_stop_quantile must be in (0, 1), got {quantile}")
        self.quantile = quantile
        self.min_obs = min_obs
        self.window = window
        self.min_cost = min_cost
        self.prune_pareto = prune_pareto
        self.start_fraction = start_fraction
        self.late_factor = late_factor
        self.late_fraction = late_fraction
        self.growth = growth
        self.upper_cost = None
        self.best_score = None
        self.line = None  # (A, B) once fitted

    def update(self, costs, scores):
        """Refit from every observed (cost, score) point of successful runs."""
        costs = np.asarray(costs, dtype=np.float64)
        scores = np.asarray(scores, dtype=np.float64)
        ok = np.isfinite(costs) & np.isfinite(scores) & (costs > 0)
        costs, scores = costs[ok], scores[ok]
        if len(costs) == 0:
            return self
        front = pareto_front(costs, scores)
        if self.prune_pareto:
            front = prune_front(costs, scores, front)
        front_cost = float(costs[front[-1]])
        if self.upper_cost is None:
            self.upper_cost = front_cost
        elif self.upper_cost < front_cost:
            # The reference grows it by 1% per update; None follows the front at once.
            self.upper_cost = front_cost if self.growth is None else self.upper_cost * self.growth
        self.best_score = float(np.max(scores))
        if len(costs) >= self.min_obs:
            self.line = fit_quantile_line(np.log(costs), scores, self.quantile)
        return self

    def threshold(self, cost):
        if self.line is None or self.upper_cost is None or not cost > 0:
            return -math.inf
        if cost < self.start_fraction * self.upper_cost + self.min_cost:
            return -math.inf
        if cost > self.late_factor * self.upper_cost:
            best = self.best_score
            return best - (1.0 - self.late_fraction) * abs(best)
        a, b = self.line
        return a + b * math.log(cost)

    def should_stop(self, cost, history):
        """history: this run's metric values so far (higher is better), oldest first."""
        history = np.asarray(history, dtype=np.float64).ravel()
        if len(history) == 0:
            return False
        if not np.isfinite(history[-1]):
            return True
        recent = history[-self.window:]
        recent = recent[np.isfinite(recent)]
        level = max(float(np.mean(recent)), float(history[-1]))
        return level < self.threshold(cost)
