"""Search spaces: the [sweep] spec, parsed, with every parameter mapped to [-1, 1] and back.

A spec is the nested dict the ini gives for the [sweep] section:

    {'method': 'Protein', 'goal': 'maximize', ...,                       # settings, not parameters
     'train': {'learning_rate': {'distribution': 'log_normal', 'min': 1e-5, 'max': 0.1, 'scale': 0.5},
               'total_timesteps': {'distribution': 'log_normal', 'min': 3e7, 'max': 1e11, 'scale': 'time'}}}

A dict holding 'distribution' is a parameter; any other dict is a section. Parameter names join
the path with '/': 'train/learning_rate'.

How each distribution maps a value v in [min, max] onto [-1, 1] (linear in a transform T):

    distribution   T(v)            back to a value
    uniform        v               float
    int_uniform    v               rounded to an int
    uniform_pow2   log2 v          the exponent rounded: a power of two
    log_normal     log10 v         float
    logit_normal   log10 (1 - v)   float in (0, 1)

scale is the half-width of the search box drawn around a center, in normalised units: a number,
'auto' (0.5), or 'time' (1 / (log2 max - log2 min), for the parameter that sets a run's cost).

Parameters can also come from optuna distributions (Param.from_optuna, SearchSpace.from_distributions,
for a sampler in anybody's study): float -> uniform (log: log_normal), int -> int_uniform (log:
int_log, log10 and rounded), a step snaps to min + k step, and a categorical is searched as its
position among its choices (scale 2: any choice reachable from any center). restrict() narrows a
parameter to a list of allowed values (snapped to the nearest in T).
"""
import math

import numpy as np

DISTRIBUTIONS = ("uniform", "int_uniform", "uniform_pow2", "log_normal", "logit_normal")
PARAM_KEYS = ("distribution", "min", "max", "scale", "mean")  # 'mean' is accepted and ignored

# Keys of the [sweep] section that configure the sweep rather than name a parameter.
RESERVED = frozenset({
    "method", "metric", "metric_distribution", "goal", "downsample", "use_gpu", "prune_pareto",
    "sweep_only", "max_suggestion_cost", "early_stop_quantile", "gpus", "max_runs", "storage",
    "match_enemy_model_path", "match_num_games", "match_enemy_hidden_size", "match_enemy_num_layers",
})
AUTO_SCALE = 0.5
CATEGORICAL_SCALE = 2.0  # the whole range: from any center every choice can be drawn


LOG_DISTRIBUTIONS = ("log_normal", "int_log")
INT_DISTRIBUTIONS = ("int_uniform", "int_log")


def _transform(distribution, v):
    v = np.asarray(v, dtype=np.float64)
    if distribution in ("uniform", "int_uniform", "categorical"):
        return v
    if distribution == "uniform_pow2":
        return np.log2(v)
    if distribution in LOG_DISTRIBUTIONS:
        return np.log10(v)
    return np.log10(1.0 - v)  # logit_normal


def _inverse(distribution, t):
    if distribution in ("uniform", "int_uniform", "categorical"):
        return t
    if distribution == "uniform_pow2":
        return np.exp2(t)
    if distribution in LOG_DISTRIBUTIONS:
        return np.power(10.0, t)
    return 1.0 - np.power(10.0, t)  # logit_normal


def _is_number(v):
    return isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, (bool, np.bool_))


class Param:
    """One parameter: its distribution, bounds, search scale, and the values it can take.

    distribution: one of DISTRIBUTIONS (the spec's), or, for parameters taken from an optuna
        distribution (from_optuna), 'int_log' (an int on a log scale) or 'categorical'.
    step: grid spacing from min (uniform, int_uniform; int_uniform defaults to 1).
    values: the only values allowed (sorted numbers inside [min, max]), e.g. the powers of two of
        uniform_pow2 or a space restricted by restrict(); snapping picks the nearest in T(v).
    choices: a categorical's choices; it is searched as its position in `choices` (sorted by value
        when every choice is a number, in the given order otherwise).
    """

    def __init__(self, name, distribution, min, max, scale="auto", step=None, values=None, choices=None):
        self.name = name
        self.distribution = distribution
        self.min = min
        self.max = max
        self.scale = scale
        self.step = step
        self.choices = None
        self._categorical = None
        if distribution == "categorical":
            self._init_categorical(choices)
        self._validate()
        if distribution == "int_uniform" and self.step is None:
            self.step = 1
        if distribution == "uniform_pow2" and values is None:
            lo, hi = (math.ceil(math.log2(self.min) - 1e-9), math.floor(math.log2(self.max) + 1e-9))
            values = [2 ** e if e >= 0 else 2.0 ** e for e in range(lo, hi + 1)]
        if self.step is not None:  # the top of the range lies on the grid (as optuna makes it)
            self.max = self.min + math.floor((self.max - self.min) / self.step + 1e-9) * self.step
        self.values = None
        if values is not None:
            self.values = sorted(values)
            self.min, self.max = self.values[0], self.values[-1]
            self._values_t = _transform(distribution, self.values)
        self._t_min = float(_transform(distribution, self.min))
        self._t_max = float(_transform(distribution, self.max))

    @classmethod
    def from_optuna(cls, name, dist, scale="auto"):
        """The parameter whose values are exactly those of an optuna distribution."""
        import optuna.distributions as od
        if isinstance(dist, od.CategoricalDistribution):
            # Positions of unordered choices mean little: by default a candidate may land on any.
            scale = CATEGORICAL_SCALE if scale == "auto" else scale
            return cls(name, "categorical", 0, len(dist.choices) - 1, scale, choices=dist)
        if isinstance(dist, od.IntDistribution):
            if dist.log:
                return cls(name, "int_log", dist.low, dist.high, scale)
            return cls(name, "int_uniform", dist.low, dist.high, scale, step=dist.step)
        if isinstance(dist, od.FloatDistribution):
            if dist.log:
                return cls(name, "log_normal", dist.low, dist.high, scale)
            return cls(name, "uniform", dist.low, dist.high, scale, step=dist.step)
        raise ValueError(f"parameter '{name}': unsupported optuna distribution {type(dist).__name__}")

    def restrict(self, values):
        """This parameter, allowed only the given values (those inside [min, max])."""
        keep = sorted({v for v in values if self.min <= v <= self.max})
        if len(keep) < 2:
            raise ValueError(f"sweep parameter '{self.name}': fewer than 2 allowed values remain ({keep})")
        return Param(self.name, self.distribution, self.min, self.max, self.scale, values=keep)

    def _init_categorical(self, dist):
        import optuna.distributions as od
        if not isinstance(dist, od.CategoricalDistribution):
            dist = od.CategoricalDistribution(list(dist))
        self._categorical = dist
        order = list(range(len(dist.choices)))
        if all(_is_number(c) for c in dist.choices):
            order.sort(key=lambda i: dist.choices[i])
        self.choices = [dist.choices[i] for i in order]
        self._position = {index: pos for pos, index in enumerate(order)}  # optuna's index -> position

    def _fail(self, what):
        raise ValueError(f"sweep parameter '{self.name}': {what}")

    def _validate(self):
        if self.distribution not in DISTRIBUTIONS + ("int_log", "categorical"):
            self._fail(f"unknown distribution {self.distribution!r}; allowed: {', '.join(DISTRIBUTIONS)}")
        for key in ("min", "max"):
            value = getattr(self, key)
            try:
                value = float(value)
            except (TypeError, ValueError):
                self._fail(f"{key} = {value!r} is not a number")
            if not math.isfinite(value):
                self._fail(f"{key} = {value!r} must be finite")
            setattr(self, key, value)
        lo, hi = self.min, self.max
        if lo >= hi:
            self._fail(f"min ({lo:g}) must be smaller than max ({hi:g})")
        if self.distribution in INT_DISTRIBUTIONS and (lo != round(lo) or hi != round(hi)):
            self._fail(f"{self.distribution} needs integer min and max, got {lo:g} and {hi:g}")
        if self.distribution in ("log_normal", "int_log", "uniform_pow2") and lo <= 0:
            self._fail(f"{self.distribution} takes a logarithm, so min must be > 0 (got {lo:g})")
        pow2 = self.distribution == "uniform_pow2"
        if pow2 and math.ceil(math.log2(lo) - 1e-9) > math.floor(math.log2(hi) + 1e-9):
            self._fail(f"no power of two lies in [{lo:g}, {hi:g}]")
        if self.distribution == "logit_normal" and not (0 < lo and hi < 1):
            self._fail(f"logit_normal needs 0 < min < max < 1 (got min {lo:g}, max {hi:g})")
        if self.step is not None and not (self.step > 0 and math.isfinite(self.step)):
            self._fail(f"step = {self.step!r} must be a positive number")
        scale = self.scale
        if scale is None or scale == "auto":
            self.scale = AUTO_SCALE
        elif scale == "time":
            if lo <= 0:
                self._fail("scale = time takes log2 of the bounds, so min must be > 0")
            self.scale = 1.0 / (math.log2(hi) - math.log2(lo))
        else:
            try:
                self.scale = float(scale)
            except (TypeError, ValueError):
                self._fail(f"scale = {scale!r}; allowed: a positive number, 'auto' or 'time'")
            if not (self.scale > 0 and math.isfinite(self.scale)):
                self._fail(f"scale = {scale!r} must be a positive number")
        self.is_time = scale == "time"

    @property
    def is_discrete(self):
        return self.values is not None or self.step is not None or self.distribution in ("int_log", "categorical")

    def position(self, value):
        """A categorical choice -> its position (the number this parameter is searched as)."""
        return self._position[self._categorical.to_internal_repr(value)]

    def normalize(self, value):
        """Value (or array of values) -> [-1, 1]. Values outside [min, max] are clamped first."""
        if self.distribution == "categorical":
            value = self.position(value)
        v = np.clip(np.asarray(value, dtype=np.float64), self.min, self.max)
        return self._normalize_t(_transform(self.distribution, v))

    def _normalize_t(self, t):
        n = 2.0 * (t - self._t_min) / (self._t_max - self._t_min) - 1.0
        return float(n) if np.ndim(n) == 0 else n

    def _snap(self, v):
        """Numbers in [min, max] (array) -> the nearest values this parameter can take (array)."""
        if self.values is not None:
            t = _transform(self.distribution, v)
            nearest = np.abs(t[..., None] - self._values_t).argmin(axis=-1)
            return np.asarray(self.values, dtype=np.float64)[nearest]
        if self.step is not None:
            k = np.round((v - self.min) / self.step)
            return np.minimum(self.min + k * self.step, self.max)
        if self.distribution in ("int_log", "categorical"):
            return np.clip(np.round(v), self.min, self.max)
        return v

    def snap_normalized(self, n):
        """Normalised numbers (array) -> the normalised values of the nearest values allowed."""
        if not self.is_discrete:
            return n
        t = self._t_min + (np.clip(n, -1.0, 1.0) + 1.0) * 0.5 * (self._t_max - self._t_min)
        v = np.clip(_inverse(self.distribution, t), self.min, self.max)
        return self._normalize_t(_transform(self.distribution, self._snap(v)))

    def unnormalize(self, n):
        """A number in [-1, 1] (clipped) -> a value of this parameter's type, inside [min, max]."""
        n = min(max(float(n), -1.0), 1.0)
        t = self._t_min + (n + 1.0) * 0.5 * (self._t_max - self._t_min)
        v = min(max(float(_inverse(self.distribution, t)), self.min), self.max)
        v = float(self._snap(np.asarray(v)))
        if self.distribution == "categorical":
            return self.choices[int(v)]
        if self.values is not None:
            return next(x for x in self.values if x == v)  # the value itself, with its type
        if self.distribution in INT_DISTRIBUTIONS:
            return int(round(v))
        return v

    def optuna_distribution(self):
        """The optuna distribution whose values are exactly this parameter's values."""
        import optuna.distributions as od
        if self._categorical is not None:
            return self._categorical
        if self.values is not None:
            return od.CategoricalDistribution(self.values)
        if self.distribution in INT_DISTRIBUTIONS:
            return od.IntDistribution(int(self.min), int(self.max), log=self.distribution == "int_log",
                                      step=1 if self.distribution == "int_log" else int(self.step))
        step = self.step if self.distribution == "uniform" else None
        return od.FloatDistribution(self.min, self.max, log=self.distribution == "log_normal", step=step)

    def __repr__(self):
        return (f"Param({self.name!r}, {self.distribution!r}, min={self.min:g}, max={self.max:g}, "
                f"scale={self.scale:g})")


class SearchSpace:
    """The parameters of a sweep, in a fixed order, with maps to and from [-1, 1]^dim.

    spec: the [sweep] dict (settings in RESERVED are skipped), or a flat {name: param spec} dict.
    cost_param: the parameter that sets a run's cost (e.g. 'train/total_timesteps'); by default the
        one with scale = time, if there is exactly one; None when there is none.
    only: keep only parameters whose names contain one of these substrings ('sweep_only'); the
        cost parameter is always kept.
    """

    def __init__(self, spec, cost_param=None, only=None, reserved=RESERVED):
        if isinstance(spec, SearchSpace) and spec.spec is None:  # built from params: keep them
            if isinstance(only, str):
                only = [x.strip() for x in only.split(",") if x.strip()]
            cost_param = spec.cost_param if cost_param is None else cost_param
            params = [p for p in spec.params if not only or p.name == cost_param or any(x in p.name for x in only)]
            self.spec = None
            self._setup(params, cost_param if cost_param in [p.name for p in params] else None)
            return
        if isinstance(spec, SearchSpace):
            spec = spec.spec
        if not isinstance(spec, dict):
            raise ValueError(f"a sweep spec is a dict of parameters, got {type(spec).__name__}")
        self.spec = spec
        params = []
        self._collect(spec, "", params, reserved)
        if isinstance(only, str):
            only = [s.strip() for s in only.split(",") if s.strip()]
        if cost_param is None:
            timed = [p.name for p in params if p.is_time]
            if len(timed) > 1:
                raise ValueError(f"several parameters have scale = time ({', '.join(timed)}); "
                                 "name the cost parameter with cost_param=")
            cost_param = timed[0] if timed else None
        names = [p.name for p in params]
        if cost_param is not None and cost_param not in names:
            raise ValueError(f"cost parameter '{cost_param}' is not in the search space; "
                             f"parameters: {', '.join(names) or '(none)'}")
        if only:
            params = [p for p in params if p.name == cost_param or any(s in p.name for s in only)]
        if not params:
            raise ValueError("the sweep spec has no parameters (a parameter is a dict with a 'distribution')")
        self._setup(params, cost_param)

    def _setup(self, params, cost_param):
        self.params = params
        self.names = [p.name for p in params]
        self.cost_param = cost_param
        self.cost_index = self.names.index(cost_param) if cost_param is not None else None
        self.scales = np.array([p.scale for p in params])

    def _collect(self, node, prefix, out, reserved):
        for key, value in node.items():
            name = f"{prefix}{key}"
            if isinstance(value, dict):
                if "distribution" in value:
                    unknown = sorted(set(value) - set(PARAM_KEYS))
                    if unknown:
                        raise ValueError(f"sweep parameter '{name}': unknown key(s) {', '.join(unknown)}; "
                                         f"allowed: {', '.join(PARAM_KEYS)}")
                    for need in ("min", "max"):
                        if need not in value:
                            raise ValueError(f"sweep parameter '{name}': missing '{need}'")
                    out.append(Param(name, value["distribution"], value["min"], value["max"],
                                     value.get("scale", "auto")))
                else:
                    self._collect(value, name + "/", out, reserved)
            elif not (prefix == "" and (key in reserved or key.startswith("match_"))):
                where = "setting" if prefix == "" else "entry"
                raise ValueError(f"sweep {where} '{name}' = {value!r} is neither a parameter (a dict with "
                                 f"'distribution', 'min', 'max') nor a known setting "
                                 f"({', '.join(sorted(reserved))})")

    @property
    def dim(self):
        return len(self.params)

    def __len__(self):
        return len(self.params)

    def __contains__(self, name):
        return name in self.names

    def __getitem__(self, name):
        return self.params[self.names.index(name)]

    def flatten(self, params):
        """{'train': {'lr': 1}} or {'train/lr': 1} -> {'train/lr': 1}."""
        flat = {}
        def walk(node, prefix):
            for key, value in node.items():
                if isinstance(value, dict):
                    walk(value, f"{prefix}{key}/")
                else:
                    flat[f"{prefix}{key}"] = value
        walk(params, "")
        return flat

    @staticmethod
    def nest(flat):
        """{'train/lr': 1} -> {'train': {'lr': 1}}."""
        nested = {}
        for name, value in flat.items():
            *path, leaf = name.split("/")
            node = nested
            for part in path:
                node = node.setdefault(part, {})
            node[leaf] = value
        return nested

    def normalize(self, params):
        """A params dict (flat or nested; extra keys ignored) -> vector in [-1, 1]^dim."""
        flat = self.flatten(params)
        missing = [n for n in self.names if n not in flat]
        if missing:
            raise ValueError(f"params lack sweep parameter(s): {', '.join(missing)}")
        return np.array([p.normalize(flat[p.name]) for p in self.params])

    def unnormalize(self, x):
        """Vector in [-1, 1]^dim -> flat {name: value}."""
        x = np.asarray(x, dtype=np.float64)
        if x.shape != (self.dim,):
            raise ValueError(f"expected a vector of {self.dim} numbers, got shape {x.shape}")
        return {p.name: p.unnormalize(v) for p, v in zip(self.params, x)}

    def snap(self, X):
        """Move each row of X (normalised) onto the values the parameters can take (int, grid,
        power-of-two and categorical columns land on their grid), so a model sees the run that will
        really happen."""
        X = np.array(X, dtype=np.float64, copy=True)
        for j, p in enumerate(self.params):
            X[:, j] = p.snap_normalized(X[:, j])
        return X

    def optuna_distributions(self):
        return {p.name: p.optuna_distribution() for p in self.params}

    def suggest(self, trial):
        """Ask an optuna trial for every parameter; returns the nested params dict."""
        import optuna.distributions as od
        flat = {}
        for name, dist in self.optuna_distributions().items():
            if isinstance(dist, od.CategoricalDistribution):
                flat[name] = trial.suggest_categorical(name, dist.choices)
            elif isinstance(dist, od.IntDistribution):
                flat[name] = trial.suggest_int(name, dist.low, dist.high, step=dist.step, log=dist.log)
            else:
                flat[name] = trial.suggest_float(name, dist.low, dist.high, step=dist.step, log=dist.log)
        return self.nest(flat)

    def restrict(self, name, values):
        """This space with parameter `name` allowed only `values` (see Param.restrict)."""
        params = [p.restrict(values) if p.name == name else p for p in self.params]
        return SearchSpace.from_params(params, cost_param=self.cost_param)

    def without(self, name):
        """This space without parameter `name` (e.g. one a constraint pins to a single value)."""
        params = [p for p in self.params if p.name != name]
        cost = self.cost_param if self.cost_param != name else None
        return SearchSpace.from_params(params, cost_param=cost)

    @classmethod
    def from_params(cls, params, cost_param=None):
        space = cls.__new__(cls)
        space.spec = None
        space._setup(list(params), cost_param)
        return space

    @classmethod
    def from_distributions(cls, distributions, cost_param=None, hints=None):
        """The space of an optuna search space {name: distribution}, in its order. hints: a
        SearchSpace whose parameters lend their transform and scale to a parameter of the same
        name and the same optuna distribution, and only their scale otherwise."""
        params = []
        for name, dist in distributions.items():
            hint = hints[name] if hints is not None and name in hints else None
            if hint is not None and hint.optuna_distribution() == dist:
                params.append(hint)
            else:
                params.append(Param.from_optuna(name, dist, scale=hint.scale if hint is not None else "auto"))
        names = [p.name for p in params]
        return cls.from_params(params, cost_param if cost_param in names else None)

    def __repr__(self):
        body = ", ".join(repr(p) for p in self.params)
        return f"SearchSpace([{body}], cost_param={self.cost_param!r})"
