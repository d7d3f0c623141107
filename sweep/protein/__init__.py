"""Protein: cost-aware hyperparameter search (GPs on score and log-cost, search around the
cost/score Pareto front, early stopping), with a plain suggest/observe API and as an optuna
sampler and pruner. Needs numpy, scipy and optuna only. See sweep/README.md.
"""
from .early_stop import EarlyStop
from .gp import GP
from .pareto import pareto_front, prune_front
from .protein import Protein
from .sampler import ProteinPruner, ProteinSampler, report, trial_curve, trial_observations
from .spaces import SearchSpace

__all__ = ["Protein", "ProteinSampler", "ProteinPruner", "SearchSpace", "GP", "EarlyStop",
           "pareto_front", "prune_front", "report", "trial_curve", "trial_observations"]
