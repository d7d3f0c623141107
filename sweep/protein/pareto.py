"""The cost/score Pareto front (cheaper is better, higher score is better) and its expensive tail.

pareto_front: walk the points from cheapest to most expensive and keep each one whose score beats
every cheaper point by more than eps. The front is then increasing in both cost and score.

prune_front: the last points of a front often buy a sliver of score for a lot of cost. Walking down
from the most expensive point, drop it while its step up is a poor deal, i.e. while

    (score gain / score range of the front) / (cost increase / cost range of the front + 1e-6) < ratio

and stop at the first good step, or as soon as the next point down scores clearly below the best
(less than (1 - near) of it, so what is left still reaches near the best score).
"""
import numpy as np


def pareto_front(costs, scores, eps=1e-6):
    """Indices of the Pareto-optimal points, cheapest first."""
    costs = np.asarray(costs, dtype=np.float64)
    scores = np.asarray(scores, dtype=np.float64)
    if costs.shape != scores.shape or costs.ndim != 1:
        raise ValueError("costs and scores must be 1-d arrays of the same length")
    order = np.lexsort((-scores, costs))  # by cost, and at equal cost the best score first
    front = []
    best = -np.inf
    for i in order:
        if not (np.isfinite(costs[i]) and np.isfinite(scores[i])):
            continue
        if scores[i] > best + eps:
            front.append(i)
            best = scores[i]
    return np.array(front, dtype=np.int64)


def prune_front(costs, scores, front, ratio=0.5, near=0.02):
    """Drop the expensive tail of a front (indices from pareto_front); returns the kept indices."""
    costs = np.asarray(costs, dtype=np.float64)
    scores = np.asarray(scores, dtype=np.float64)
    front = np.asarray(front, dtype=np.int64)
    if len(front) < 2:
        return front
    c, s = costs[front], scores[front]
    cost_range = c[-1] - c[0]
    score_range = s[-1] - s[0]
    if cost_range <= 0 or score_range <= 0:
        return front
    best = s[-1]
    floor = best - near * abs(best) if best != 0 else best - near * score_range
    end = len(front)
    while end > 1:
        prev = end - 2
        if s[prev] < floor:
            break
        gain = (s[end - 1] - s[prev]) / score_range
        spend = (c[end - 1] - c[prev]) / cost_range
        if gain / (spend + 1e-6) < ratio:
            end -= 1
        else:
            break
    return front[:end]
