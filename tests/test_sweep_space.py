"""The sweep's search space gives only valid configs: constraints between keys, trial 0's values."""
import optuna
import pytest
from optuna.distributions import CategoricalDistribution

from pufferlib import cli
from pufferlib.config import ConfigError, load_config
from pufferlib.sweep_runner import make_sampler, search_space
from pufferlib.sweep_space import default_params
from pufferlib.sweep_worker import apply_params

optuna.logging.set_verbosity(optuna.logging.WARNING)


def config_of(*flags):
    config = load_config("cartpole")
    cli.parse_args(list(flags), config)
    return config


def test_num_buffers_only_divisors_of_total_agents():
    space, pinned = search_space(config_of("--vec.total-agents", "96", "--sweep.sweep-only", "num_buffers"))
    assert space.optuna_distributions()["vec/num_buffers"] == CategoricalDistribution([1, 2, 3, 4, 6, 8])
    assert not pinned


def test_horizon_keeps_minibatch_and_batch_rules():
    flags = ("--vec.total-agents", "64", "--train.minibatch-size", "512", "--sweep.sweep-only", "horizon",
             "--sweep.train.total-timesteps.min", "2048", "--sweep.train.total-timesteps.max", "8192")
    space, _ = search_space(config_of(*flags))
    # 512 % h == 0, h * 64 >= 512, h * 64 <= 2048 (the shortest planned run holds a batch)
    assert space.optuna_distributions()["train/horizon"] == CategoricalDistribution([8, 16, 32])


def test_a_single_valid_value_is_pinned_and_none_is_an_error():
    flags = ("--vec.total-agents", "7", "--sweep.sweep-only", "num_buffers")
    space, pinned = search_space(config_of(*flags, "--sweep.vec.num-buffers.max", "6"))
    assert pinned == {"vec/num_buffers": 1} and "vec/num_buffers" not in space
    with pytest.raises(ConfigError, match=r"--sweep\.vec\.num-buffers: no value in \[2, 6\] can divide"):
        search_space(config_of(*flags, "--sweep.vec.num-buffers.min", "2", "--sweep.vec.num-buffers.max", "6"))
    with pytest.raises(ConfigError, match="total-timesteps.min .* below one batch"):
        search_space(config_of("--sweep.sweep-only", "learning_rate", "--sweep.train.total-timesteps.min", "100"))


def test_every_suggestion_is_a_valid_config():
    """Protein's Sobol start and GP phase, on the full default space of a small config: every
    suggested config passes cli.validate (before, num_buffers 3/5/6/7 and big horizons failed)."""
    config = config_of("--vec.total-agents", "96", "--train.minibatch-size", "768", "--train.horizon", "16",
                       "--sweep.train.total-timesteps.min", "1e5", "--sweep.train.total-timesteps.max", "1e6")
    space, sampler, _ = make_sampler(config, seed=3)
    sampler._protein_kwargs["num_random_samples"] = 4
    study = optuna.create_study(direction="maximize", sampler=sampler)
    params, outside = default_params(config, space)
    study.enqueue_trial(params)
    for i in range(14):
        trial = study.ask()
        trial_config = apply_params(config, space.suggest(trial))
        cli.validate(trial_config)  # raises ConfigError on an invalid config
        if i == 0:  # trial 0: the config's own values, pow2 ones included
            assert trial_config["train"]["horizon"] == 16 and trial_config["policy"]["hidden_size"] == 32
            assert trial_config["vec"]["num_buffers"] == config["vec"]["num_buffers"]
        study.tell(trial, float(trial_config["train"]["learning_rate"]))
    assert sampler.last_info["phase"] == "gp"
    assert any("total_timesteps" in o for o in outside)  # 5.6M steps: outside [1e5, 1e6]
