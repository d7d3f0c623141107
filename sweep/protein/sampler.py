"""Protein inside optuna: a sampler, a pruner, and the convention for reporting learning curves.

    sampler = protein.ProteinSampler(seed=1)            # any study; or ProteinSampler(sweep_spec, seed=1)
    study = optuna.create_study(direction='maximize', sampler=sampler,
                                pruner=protein.ProteinPruner(sampler), storage='sqlite:///s.db')

    def objective(trial):
        lr = trial.suggest_float('lr', 1e-5, 1e-1, log=True)   # or sampler.space.suggest(trial)
        for step, cost, score in training(lr):           # step = the cost parameter's value so far
            protein.report(trial, score, cost, step)    # curve point: trial.report + user attrs
            if trial.should_prune():
                raise optuna.TrialPruned()
        return score

Where each observation's cost comes from (cost_attr, default 'cost', is a trial user attribute):
  - report() stores every point as [step, cost, score] in the user attribute curve_attr ('curve');
    those are used as they are.
  - Without report(), the points are trial.intermediate_values {step: score}, costing their share
    (in proportion to step) of the trial's cost_attr if set, else of its wall-clock duration.
  - A COMPLETE trial adds its final value, at cost cost_attr if set, else the cost of the last
    reported point, else the trial's duration.
  - For a curve point the cost parameter (e.g. 'train/total_timesteps') is set to the point's step,
    as if a run had been planned to end there. The curve is thinned to `downsample` points.
  - FAIL trials (and PRUNED ones that reported nothing) are failures: regions Protein avoids.
Each worker process has its own sampler (and its own seed); they share nothing but the storage,
from which each reads the finished trials it has not seen yet before every suggestion.
"""
import math
import threading
import warnings

import numpy as np
from optuna.pruners import BasePruner
from optuna.samplers import BaseSampler, RandomSampler
from optuna.search_space import IntersectionSearchSpace
from optuna.study import StudyDirection
from optuna.trial import TrialState

from .early_stop import EarlyStop
from .protein import Protein
from .spaces import SearchSpace

FINISHED = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)


def report(trial, score, cost, step=None, curve_attr="curve"):
    """Report one learning-curve point of a running optuna trial: its score, the cost spent so far,
    and the step (the cost parameter's value reached, e.g. agent steps; default: a counter).
    Stores [step, cost, score] in the user attribute curve_attr and calls trial.report(score, step).
    """
    curve = list(trial.user_attrs.get(curve_attr, []))
    if step is None:
        step = (curve[-1][0] + 1) if curve else 1
    curve.append([step, float(cost), float(score)])
    trial.set_user_attr(curve_attr, curve)
    trial.report(float(score), int(step))


MIN_DURATION = 1e-3  # seconds: a trial's wall-clock cost is never taken as less


def trial_duration(trial):
    """Wall-clock seconds from a trial's start to its end (None while it has no end)."""
    if trial.datetime_start is None or trial.datetime_complete is None:
        return None
    return max((trial.datetime_complete - trial.datetime_start).total_seconds(), MIN_DURATION)


def trial_curve(trial, cost_param=None, cost_attr="cost", curve_attr="curve"):
    """The (step, cost, score) points a trial reported, oldest first."""
    attrs = trial.user_attrs
    points = []
    if attrs.get(curve_attr):
        for p in attrs[curve_attr]:
            if isinstance(p, dict):
                points.append((p.get("step"), float(p["cost"]), float(p["score"])))
            elif len(p) == 3:
                points.append((p[0], float(p[1]), float(p[2])))
            else:
                points.append((None, float(p[0]), float(p[1])))
        return points
    values = sorted(trial.intermediate_values.items())
    if not values:
        return points
    # Plain trial.report(score, step): a point's cost is its share of the trial's measured cost
    # (the cost attribute, else its duration), taking cost proportional to step.
    scale = 1.0
    total = attrs.get(cost_attr)
    if total is None:
        total = trial_duration(trial)
    if total is not None:
        ref = values[-1][0]
        if trial.state == TrialState.COMPLETE and cost_param in trial.params:
            ref = trial.params[cost_param]
        if ref > 0:
            scale = float(total) / float(ref)
    return [(step, step * scale, float(v)) for step, v in values]


def _thin(points, n):
    if n is None or len(points) <= n:
        return points
    keep = np.unique(np.round(np.linspace(0, len(points) - 1, max(int(n), 1))).astype(int))
    return [points[i] for i in keep]


def trial_observations(trial, cost_param=None, cost_attr="cost", curve_attr="curve", downsample=5):
    """What a finished trial teaches: a list of (params, score, cost, is_failure).

    A COMPLETE trial's cost: the user attribute cost_attr if set, else the cost of its last
    protein.report() point, else its wall-clock duration."""
    params = dict(trial.params)
    attrs = trial.user_attrs
    points = trial_curve(trial, cost_param, cost_attr, curve_attr)
    if trial.state == TrialState.FAIL:
        # A failure's cost only feeds the cost model; a crash's duration says little about what the
        # run would have cost, so without a measured cost it is left out (NaN).
        return [(params, math.nan, attrs.get(cost_attr, points[-1][1] if points else math.nan), True)]
    if trial.state == TrialState.COMPLETE:
        final_step = params.get(cost_param) if cost_param else (points[-1][0] if points else None)
        final_cost = attrs.get(cost_attr)
        if final_cost is None and attrs.get(curve_attr):
            final_cost = points[-1][1]
        if final_cost is None:
            final_cost = trial_duration(trial)
        if final_cost is None:
            raise ValueError(f"trial {trial.number} has no cost: report its curve with protein.report, "
                             f"set the user attribute '{cost_attr}', or give it a start and end time")
        if points and final_step is not None and points[-1][0] is not None \
                and points[-1][0] >= final_step * (1 - 1e-3):
            points = points[:-1]
        value = trial.value if trial.value is not None else math.nan
        if downsample is not None:
            points = _thin(points, downsample - 1) if downsample > 1 else []
        points = points + [(final_step, final_cost, value)]
    elif trial.state == TrialState.PRUNED:
        if not points:
            return [(params, math.nan, attrs.get(cost_attr, math.nan), True)]
        points = _thin(points, downsample)
    else:
        return []
    out = []
    for step, cost, score in points:
        if cost is not None and cost <= 0:
            continue  # a point at the very start of a run: nothing spent, nothing to model in log-cost
        p = dict(params)
        if cost_param is not None and step is not None and cost_param in p:
            p[cost_param] = step
        fail = not (math.isfinite(score) and math.isfinite(cost))
        out.append((p, score, cost, fail))
    return out


def _check_single_objective(study):
    if len(study.directions) != 1:
        raise ValueError(f"ProteinSampler supports single-objective studies only; this study has "
                         f"{len(study.directions)} objectives")


class ProteinSampler(BaseSampler):
    """An optuna sampler that suggests with Protein (single objective).

    It follows optuna's sampler contract, like optuna's own model-based samplers: the parameters it
    models jointly (the relative search space) are those every finished trial of the study asked for
    with the same distribution (optuna's IntersectionSearchSpace, single-value ones left out); it
    returns exactly the parameters optuna asks for, each a value of its distribution (float, int,
    log, stepped, categorical); anything else (a first trial, conditional parameters, ranges that
    change between trials) goes to independent_sampler (RandomSampler(seed) by default).

    search_space: optional, the [sweep] dict or a SearchSpace. Its parameters are the relative space
        until a trial has finished (so the first trials are Protein's cheap Sobol start), and lend
        their transforms (e.g. logit_normal) and scales to parameters of the same name later.
    cost_param: the parameter that sets a run's cost (default: the search_space's scale = time one).
    cost_attr, curve_attr, downsample: how trials report cost and curves (module docstring); a trial
        that reports no cost costs its wall-clock duration.
    seed: the same seed and the same trial history give the same suggestions. Parallel workers of
        one study should each get their own seed.
    Other keywords go to Protein (max_suggestion_cost, metric_distribution, prune_pareto, ...).
    """

    def __init__(self, search_space=None, *, cost_param=None, cost_attr="cost", curve_attr="curve",
                 downsample=5, seed=None, independent_sampler=None, **protein_kwargs):
        only = protein_kwargs.pop("sweep_only", None)
        self.space = None
        if isinstance(search_space, SearchSpace) and not only and cost_param in (None, search_space.cost_param):
            self.space = search_space
        elif search_space is not None:
            self.space = SearchSpace(search_space, cost_param=cost_param, only=only)
        if self.space is not None:
            cost_param = self.space.cost_param
        self.cost_param = cost_param
        self.cost_attr = cost_attr
        self.curve_attr = curve_attr
        self.downsample = downsample
        self._seed = int(np.random.SeedSequence().entropy % 2**31) if seed is None else int(seed)
        self._independent = independent_sampler or RandomSampler(seed=self._seed)
        self._intersection = IntersectionSearchSpace(include_pruned=True)
        self._protein_kwargs = protein_kwargs
        self._protein = None
        self._protein_key = None
        self._seen = set()
        self._lock = threading.RLock()  # optuna's n_jobs > 1 runs trials in threads
        self.last_info = None

    @classmethod
    def from_config(cls, sweep, **overrides):
        """Build from the [sweep] section: its parameters and the settings Protein uses
        (max_suggestion_cost, metric_distribution, prune_pareto, early_stop_quantile, sweep_only,
        downsample). The study's direction, not the 'goal' setting, decides max or min.
        search_space= a SearchSpace to use instead of the section's parameters (sweep_only ignored)."""
        kwargs = {}
        for key in ("max_suggestion_cost", "metric_distribution", "prune_pareto", "early_stop_quantile",
                    "sweep_only", "downsample"):
            if sweep.get(key) is not None:
                kwargs[key] = sweep[key]
        kwargs.update(overrides)
        space = kwargs.pop("search_space", None)
        if space is not None:  # already narrowed (sweep_only and any constraints applied)
            kwargs.pop("sweep_only", None)
        return cls(sweep if space is None else space, **kwargs)

    @property
    def protein(self):
        """The Protein instance of the current relative search space (None before the first one)."""
        return self._protein

    def reseed_rng(self):
        with self._lock:
            self._seed = int(np.random.SeedSequence().entropy % 2**31)
            self._independent.reseed_rng()
            self._protein, self._protein_key = None, None

    def infer_relative_search_space(self, study, trial):
        _check_single_objective(study)
        with self._lock:
            found = self._intersection.calculate(study)
        found = {name: d for name, d in found.items() if not d.single()}
        if self.space is None:
            return found
        if not found:  # no finished trial yet: the given space
            return self.space.optuna_distributions()
        ordered = {name: found[name] for name in self.space.names if name in found}
        ordered.update((name, d) for name, d in found.items() if name not in ordered)
        return ordered

    def _protein_for(self, study, search_space):
        """The Protein of this search space, created (and fed the whole history) when it changes."""
        key = tuple((name, repr(d)) for name, d in search_space.items())
        if key != self._protein_key:
            goal = "maximize" if study.direction == StudyDirection.MAXIMIZE else "minimize"
            space = SearchSpace.from_distributions(search_space, cost_param=self.cost_param, hints=self.space)
            self._protein = Protein(space, goal=goal, seed=self._seed, **self._protein_kwargs)
            self._protein_key = key
            self._distributions = dict(search_space)
            self._seen = set()
        return self._protein

    def sync(self, study, search_space=None):
        """Observe every finished trial of the study that this sampler has not seen yet."""
        with self._lock:
            if search_space is None:
                search_space = self._distributions if self._protein is not None else \
                    self.infer_relative_search_space(study, None)
            return self._sync(study, search_space)

    def _sync(self, study, search_space):
        protein = self._protein_for(study, search_space)
        new = [t for t in study.get_trials(deepcopy=False, states=FINISHED) if t.number not in self._seen]
        new.sort(key=lambda t: (t.datetime_complete is None, t.datetime_complete or 0, t.number))
        for t in new:
            self._seen.add(t.number)
            if any(t.distributions.get(name) != d for name, d in search_space.items()):
                continue  # asked for other parameters or ranges: not a point of this space
            try:
                observations = trial_observations(t, protein.space.cost_param, self.cost_attr,
                                                  self.curve_attr, self.downsample)
            except ValueError as e:
                warnings.warn(f"ProteinSampler skips trial {t.number}: {e}")
                continue
            for params, score, cost, fail in observations:
                protein.observe(params, score, cost, is_failure=fail)
        return protein

    def sample_relative(self, study, trial, search_space):
        if not search_space:
            return {}
        _check_single_objective(study)
        rng = np.random.default_rng([self._seed, trial.number])
        with self._lock:
            protein = self._sync(study, search_space)
            try:
                flat, info = protein.suggest(index=trial.number, rng=rng)
            except (np.linalg.LinAlgError, ValueError, FloatingPointError) as e:
                warnings.warn(f"Protein could not suggest for trial {trial.number} ({e}); sampling at random")
                return {}
            self.last_info = info
        return {name: flat[name] for name in search_space}

    def sample_independent(self, study, trial, param_name, param_distribution):
        _check_single_objective(study)
        return self._independent.sample_independent(study, trial, param_name, param_distribution)


class ProteinPruner(BasePruner):
    """Prunes a trial whose learning curve falls below the fitted score-vs-cost quantile line.

    With a ProteinSampler, the line comes from that sampler's Protein (early_stop_* given here are
    handed to it, if it has not started yet); without one, the pruner reads the study's finished
    trials itself (so it works with any sampler). A non-finite reported score always prunes.
    """

    def __init__(self, sampler=None, *, cost_param=None, cost_attr="cost", curve_attr="curve",
                 downsample=5, early_stop_quantile=None, early_stop_min_obs=None, early_stop_min_cost=None,
                 prune_pareto=True):
        self.sampler = sampler if isinstance(sampler, ProteinSampler) else None
        settings = {"early_stop_quantile": early_stop_quantile, "early_stop_min_obs": early_stop_min_obs,
                    "early_stop_min_cost": early_stop_min_cost}
        settings = {k: v for k, v in settings.items() if v is not None}
        if self.sampler is not None:
            if self.sampler.protein is not None and settings:
                raise ValueError("give early_stop_* settings to the ProteinPruner before the study starts")
            self.sampler._protein_kwargs.update(settings)
            cost_param, cost_attr = self.sampler.cost_param, self.sampler.cost_attr
            curve_attr, downsample = self.sampler.curve_attr, self.sampler.downsample
        self.cost_param = cost_param
        self.cost_attr = cost_attr
        self.curve_attr = curve_attr
        self.downsample = downsample
        self.early_stop = EarlyStop(quantile=settings.get("early_stop_quantile", 0.3),
                                    min_obs=settings.get("early_stop_min_obs", 30),
                                    min_cost=settings.get("early_stop_min_cost", 0.0), prune_pareto=prune_pareto)
        self._seen = set()
        self._costs, self._scores = [], []
        self._lock = threading.Lock()

    def _sign(self, study):
        return 1.0 if study.direction == StudyDirection.MAXIMIZE else -1.0

    def _sync(self, study):
        sign = self._sign(study)
        new = [t for t in study.get_trials(deepcopy=False, states=FINISHED) if t.number not in self._seen]
        for t in new:
            self._seen.add(t.number)
            try:
                observations = trial_observations(t, self.cost_param, self.cost_attr, self.curve_attr,
                                                  self.downsample)
            except ValueError:
                continue
            for _, score, cost, fail in observations:
                if not fail:
                    self._costs.append(cost)
                    self._scores.append(sign * score)
        if new:
            self.early_stop.update(self._costs, self._scores)

    def prune(self, study, trial):
        points = trial_curve(trial, self.cost_param, self.cost_attr, self.curve_attr)
        if not points:
            return False
        scores = [p[2] for p in points]
        if not math.isfinite(scores[-1]):
            return True
        cost = points[-1][1]
        if self.sampler is not None:
            with self.sampler._lock:
                return self.sampler.sync(study).should_stop(cost, scores)
        with self._lock:
            self._sync(study)
            sign = self._sign(study)
            return self.early_stop.should_stop(cost, [sign * s for s in scores])
