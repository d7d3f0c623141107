"""Gymnasium and PettingZoo adapters pass their libraries' API checkers."""
import numpy as np
import pytest

from pufferlib.adapters import GymnasiumEnv, PettingZooEnv


@pytest.mark.parametrize("name", ["squared", "squared_continuous", "cartpole", "breakout", "pong", "tetris", "maze"])
def test_gymnasium_check_env(name):
    from gymnasium.utils.env_checker import check_env
    env = GymnasiumEnv(name)
    check_env(env, skip_render_check=True)
    obs, _ = env.reset(seed=3)
    assert env.observation_space.contains(obs)
    env.close()


def test_gymnasium_reset_seed_reproducible():
    env = GymnasiumEnv("squared")
    a, _ = env.reset(seed=11)
    b, _ = env.reset(seed=11)
    assert np.array_equal(a, b)
    env.close()


def test_gymnasium_rejects_multi_agent():
    with pytest.raises(ValueError, match="PettingZooEnv"):
        GymnasiumEnv("target")


@pytest.mark.parametrize("name", ["target", "snake"])
def test_pettingzoo_parallel_api(name):
    from pettingzoo.test import parallel_api_test
    env = PettingZooEnv(name, max_cycles=300)
    parallel_api_test(env, num_cycles=400)
    env.close()
