"""The search space of a sweep: the [sweep] parameters, narrowed so every suggestion is a valid config.

A trainer config has rules between keys (cli.validate): total_agents a multiple of num_buffers,
minibatch_size a multiple of horizon and at most horizon x total_agents, total_timesteps at least
one batch. A swept key whose partners are fixed gets only the values that keep those rules (e.g.
num_buffers in 1..8 with 4096 agents -> 1, 2, 4, 8), so a suggestion never fails validation and no
run of max_runs is wasted. A key left with one allowed value is pinned; with none, ConfigError.
"""
from .config import ConfigError


def _fixed(config, space, name):
    """The config's value of `name` when the sweep does not vary it, else None."""
    if name in space:
        return None
    section, key = name.split("/", 1)
    return config.get(section, {}).get(key)


def _candidates(param):
    """Every value an integer parameter can take, or None when there are too many to list."""
    if param.values is not None:
        return list(param.values)
    if param.distribution in ("int_uniform", "int_log") and param.max - param.min <= 100_000:
        step = int(param.step or 1)
        return list(range(int(param.min), int(param.max) + 1, step))
    return None


def _rules(config, space):
    """(parameter, test, what the test demands) for each rule whose partners are fixed."""
    agents = _fixed(config, space, "vec/total_agents")
    minibatch = _fixed(config, space, "train/minibatch_size")
    horizon = _fixed(config, space, "train/horizon")
    steps = _fixed(config, space, "train/total_timesteps")
    if "train/total_timesteps" in space:
        steps = space["train/total_timesteps"].min  # every planned run must hold a batch
    rules = []
    if agents is not None:
        rules.append(("vec/num_buffers", lambda v: agents % v == 0, f"divide --vec.total-agents ({agents})"))
    if agents is not None and minibatch is not None:
        rules.append(("train/horizon", lambda v: minibatch % v == 0 and v * agents >= minibatch,
                      f"divide --train.minibatch-size ({minibatch}) with horizon x total_agents ({agents}) "
                      f">= it"))
    if agents is not None and steps is not None:
        rules.append(("train/horizon", lambda v: v * agents <= steps,
                      f"keep horizon x total_agents ({agents}) <= total_timesteps ({steps:g})"))
    if agents is not None and horizon is not None:
        batch = horizon * agents
        rules.append(("train/minibatch_size", lambda v: v % horizon == 0 and v <= batch,
                      f"be a multiple of --train.horizon ({horizon}) and <= horizon x total_agents ({batch})"))
    return rules


def constrained_space(config, space):
    """(space, pinned): the space with each rule applied; pinned = {name: value} taken out of it.
    ConfigError when a rule leaves a parameter nothing, or the cost range cannot hold one batch."""
    pinned = {}
    for name, ok, demand in _rules(config, space):
        if name not in space:
            continue
        param = space[name]
        values = _candidates(param)
        if values is None:
            continue  # a continuous or huge range: cli.validate still checks each trial
        keep = [v for v in values if ok(int(v))]
        flag = "--sweep." + name.replace("/", ".").replace("_", "-")
        if not keep:
            raise ConfigError(f"{flag}: no value in [{param.min:g}, {param.max:g}] can {demand}")
        if len(keep) == 1:
            pinned[name] = int(keep[0])
            space = space.without(name)
        elif len(keep) < len(values):
            space = space.restrict(name, keep)
    horizon = pinned.get("train/horizon", _fixed(config, space, "train/horizon"))
    agents = _fixed(config, space, "vec/total_agents")
    if "train/total_timesteps" in space and horizon is not None and agents is not None:
        low = space["train/total_timesteps"].min
        if low < horizon * agents:
            raise ConfigError(f"--sweep.train.total-timesteps.min ({low:g}) is below one batch "
                              f"(horizon x total_agents = {horizon} x {agents} = {horizon * agents})")
    return space, pinned


def default_params(config, space):
    """(params, outside): the config's own value of each swept parameter that the space holds,
    for trial 0; outside lists 'name = value' for those it does not (Protein picks them)."""
    params, outside = {}, []
    for name, dist in space.optuna_distributions().items():
        section, key = name.split("/", 1)
        value = config.get(section, {}).get(key)
        try:
            inside = value is not None and dist._contains(dist.to_internal_repr(value))
        except (ValueError, TypeError):
            inside = False
        if inside:
            params[name] = value
        else:
            outside.append(f"{name} = {value}")
    return params, outside
