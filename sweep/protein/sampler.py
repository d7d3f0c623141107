"""Protein inside optuna: a sampler, a pruner, and the convention for reporting learning curves.

    space = protein.SearchSpace(sweep_spec)             # or pass the spec dict directly
    sampler = protein.ProteinSampler(space, seed=1)
    study = optuna.create_study(direction='maximize', sampler=sampler,
                                pruner=protein.ProteinPruner(sampler), storage='sqlite:///s.db')

    def objective(trial):
        params = space.suggest(trial)                   # nested dict, every parameter suggested
        for step, cost, score in training(params):      # step = the cost parameter's value so far
            protein.report(trial, score, cost, step)    # curve point: trial.report + user attrs
            if trial.should_prune():
                raise optuna.TrialPruned()
        return score                                    # final score; cost is the last reported

Where each observation's cost comes from (cost_attr, default 'cost', is a trial user attribute):
  - report() stores every point as [step, cost, score] in the user attribute curve_attr ('curve');
    those are used as they are.
  - Without report(), the points are trial.intermediate_values {step: score}. Their cost is the step
    itself, or, if the trial set cost_attr, the step scaled so the last one costs cost_attr.
  - A COMPLETE trial adds its final value, at cost cost_attr if set, else the cost of the last
    reported point, else the cost parameter's value.
  - For a curve point the cost parameter (e.g. 'train/total_timesteps') is set to the point's step,
    as if a run had been planned to end there. The curve is thinned to `downsample` points.
  - FAIL trials (and PRUNED ones that reported nothing) are failures: regions Protein avoids.
Each worker process has its own sampler; they share nothing but the storage, from which each reads
the finished trials it has not seen yet before every suggestion.
"""
import math
import threading
import warnings

import numpy as np
from optuna.pruners import BasePruner
from optuna.samplers import BaseSampler, RandomSampler
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
    scale = 1.0
    if attrs.get(cost_attr) is not None:
        ref = values[-1][0]
        if trial.state == TrialState.COMPLETE and cost_param in trial.params:
            ref = trial.params[cost_param]
        if ref > 0:
            scale = float(attrs[cost_attr]) / float(ref)
    return [(step, step * scale, float(v)) for step, v in values]


def _thin(points, n):
    if n is None or len(points) <= n:
        return points
    keep = np.unique(np.round(np.linspace(0, len(points) - 1, max(int(n), 1))).astype(int))
    return [points[i] for i in keep]


def trial_observations(trial, cost_param=None, cost_attr="cost", curve_attr="curve", downsample=5):
    """What a finished trial teaches: a list of (params, score, cost, is_failure)."""
    params = dict(trial.params)
    attrs = trial.user_attrs
    points = trial_curve(trial, cost_param, cost_attr, curve_attr)
    # A failure's cost only feeds the cost model; without a measured one it is left out (NaN),
    # since the cost parameter's value may be in other units (steps, not seconds).
    fallback_cost = attrs.get(cost_attr, points[-1][1] if points else math.nan)
    if trial.state == TrialState.FAIL:
        return [(params, math.nan, fallback_cost, True)]
    if trial.state == TrialState.COMPLETE:
        final_step = params.get(cost_param) if cost_param else (points[-1][0] if points else None)
        final_cost = attrs.get(cost_attr)
        if final_cost is None:
            final_cost = points[-1][1] if attrs.get(curve_attr) else params.get(cost_param)
        if final_cost is None:
            raise ValueError(f"trial {trial.number} has no cost: report its curve with protein.report, "
                             f"set the user attribute '{cost_attr}', or give the sampler a cost_param")
        if points and final_step is not None and points[-1][0] is not None \
                and points[-1][0] >= final_step * (1 - 1e-3):
            points = points[:-1]
        value = trial.value if trial.value is not None else math.nan
        if downsample is not None:
            points = _thin(points, downsample - 1) if downsample > 1 else []
        points = points + [(final_step, final_cost, value)]
    elif trial.state == TrialState.PRUNED:
        if not points:
            return [(params, math.nan, fallback_cost, True)]
        points = _thin(points, downsample)
    else:
        return []
    out = []
    for step, cost, score in points:
        if cost is not None and cost <= 0:
            continue  # a point at the very start of a run: nothing spent, nothing to model in log-cost
        p = dict(params)
        if cost_param is not None and step is not None:
            p[cost_param] = step
        fail = not (math.isfinite(score) and math.isfinite(cost))
        out.append((p, score, cost, fail))
    return out


class ProteinSampler(BaseSampler):
    """An optuna sampler that suggests with Protein (single objective).

    search_space: the [sweep] dict or a SearchSpace. The objective should suggest every parameter
        (SearchSpace.suggest(trial) does); parameters outside it are sampled by independent_sampler.
    cost_param: the parameter that sets a run's cost (default: the one with scale = time).
    cost_attr, curve_attr, downsample: how trials report cost and curves (module docstring).
    seed: give every worker of a study the same seed: suggestions then differ by trial number.
    Other keywords go to Protein (max_suggestion_cost, metric_distribution, prune_pareto, ...).
    """

    def __init__(self, search_space, *, cost_param=None, cost_attr="cost", curve_attr="curve",
                 downsample=5, seed=None, independent_sampler=None, **protein_kwargs):
        only = protein_kwargs.pop("sweep_only", None)
        self.space = SearchSpace(search_space, cost_param=cost_param, only=only)
        self.cost_param = self.space.cost_param
        self.cost_attr = cost_attr
        self.curve_attr = curve_attr
        self.downsample = downsample
        self._seed = int(np.random.SeedSequence().entropy % 2**31) if seed is None else int(seed)
        self._independent = independent_sampler or RandomSampler(seed=self._seed)
        self._protein_kwargs = protein_kwargs
        self._protein = None
        self._seen = set()
        self._lock = threading.RLock()  # optuna's n_jobs > 1 runs trials in threads
        self.last_info = None

    @classmethod
    def from_config(cls, sweep, **overrides):
        """Build from the [sweep] section: its parameters and the settings Protein uses
        (max_suggestion_cost, metric_distribution, prune_pareto, early_stop_quantile, sweep_only,
        downsample). The study's direction, not the 'goal' setting, decides max or min."""
        kwargs = {}
        for key in ("max_suggestion_cost", "metric_distribution", "prune_pareto", "early_stop_quantile",
                    "sweep_only", "downsample"):
            if sweep.get(key) is not None:
                kwargs[key] = sweep[key]
        kwargs.update(overrides)
        return cls(sweep, **kwargs)

    @property
    def protein(self):
        """The Protein instance (created at the first trial, when the study's direction is known)."""
        return self._protein

    def reseed_rng(self):
        self._seed = int(np.random.SeedSequence().entropy % 2**31)
        self._independent.reseed_rng()

    def _ensure(self, study):
        if self._protein is None:
            if len(study.directions) != 1:
                raise ValueError("ProteinSampler supports single-objective studies only")
            goal = "maximize" if study.direction == StudyDirection.MAXIMIZE else "minimize"
            self._protein = Protein(self.space, goal=goal, seed=self._seed, **self._protein_kwargs)
        return self._protein

    def sync(self, study):
        """Observe every finished trial of the study that this sampler has not seen yet."""
        with self._lock:
            return self._sync(study)

    def _sync(self, study):
        protein = self._ensure(study)
        new = [t for t in study.get_trials(deepcopy=False, states=FINISHED) if t.number not in self._seen]
        new.sort(key=lambda t: (t.datetime_complete is None, t.datetime_complete or 0, t.number))
        for t in new:
            self._seen.add(t.number)
            if any(name not in t.params for name in self.space.names):
                continue
            try:
                observations = trial_observations(t, self.cost_param, self.cost_attr, self.curve_attr,
                                                  self.downsample)
            except ValueError as e:
                warnings.warn(f"ProteinSampler skips trial {t.number}: {e}")
                continue
            for params, score, cost, fail in observations:
                protein.observe(params, score, cost, is_failure=fail)
        return protein

    def infer_relative_search_space(self, study, trial):
        return self.space.optuna_distributions()

    def sample_relative(self, study, trial, search_space):
        if not search_space:
            return {}
        rng = np.random.default_rng([self._seed, trial.number])
        with self._lock:
            protein = self._sync(study)
            try:
                flat, info = protein.suggest(index=trial.number, rng=rng)
            except (np.linalg.LinAlgError, ValueError, FloatingPointError) as e:
                warnings.warn(f"Protein could not suggest for trial {trial.number} ({e}); sampling at random")
                return {}
            self.last_info = info
        return {name: flat[name] for name in search_space if name in flat}

    def sample_independent(self, study, trial, param_name, param_distribution):
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
                return self.sampler._sync(study).should_stop(cost, scores)
        with self._lock:
            self._sync(study)
            sign = self._sign(study)
            return self.early_stop.should_stop(cost, [sign * s for s in scores])
