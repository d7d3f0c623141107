"""The vector env runtime: zero-copy buffers, seeding, logs, layout, errors."""
import numpy as np
import pytest

import pufferlib


def random_actions(vec, rng):
    cols = [rng.integers(0, s, vec.num_agents) if s > 1 else rng.uniform(-1, 1, vec.num_agents)
            for s in vec.act_sizes]
    return np.stack(cols, axis=1).astype(np.float32)


def test_buffers_are_zero_copy_views():
    vec = pufferlib.make("squared", total_agents=16, num_threads=2)
    obs = vec.reset(1)
    assert obs is vec.observations
    for name in ("observations", "actions", "rewards", "terminals", "truncations"):
        arr = getattr(vec, name)
        assert not arr.flags.owndata, name          # a view of native memory
        assert arr.ctypes.data == getattr(vec, name).ctypes.data  # same memory every access
    # Writing through the view changes what the env reads: action 4 (right) moves the agent.
    before = np.argwhere(vec.observations[0].reshape(11, 11) == 1)[0]
    vec.actions[:] = 4
    vec.step()
    after = np.argwhere(vec.observations[0].reshape(11, 11) == 1)
    if len(after):  # unless the episode ended on the target this very step
        assert tuple(after[0]) == (before[0], before[1] + 1)
    # The env writes into the same memory the array shows.
    address = vec.observations.ctypes.data
    vec.step(np.zeros((16, 1)))
    assert vec.observations.ctypes.data == address
    vec.close()


def test_seeding_is_deterministic():
    def rollout(seed):
        vec = pufferlib.make("squared", total_agents=32, num_threads=2)
        vec.reset(seed)
        rng = np.random.default_rng(0)
        trace = []
        for _ in range(200):
            obs, rew, term, _ = vec.step(random_actions(vec, rng))
            trace.append((obs.copy(), rew.copy(), term.copy()))
        vec.close()
        return trace

    a, b, c = rollout(5), rollout(5), rollout(6)
    assert all(np.array_equal(x[0], y[0]) and np.array_equal(x[1], y[1]) for x, y in zip(a, b))
    assert any(not np.array_equal(x[0], y[0]) for x, y in zip(a, c))


def test_log_aggregates_means_over_episodes():
    vec = pufferlib.make("squared", total_agents=64, num_threads=2)
    vec.reset(0)
    rng = np.random.default_rng(1)
    returns, lengths = [], []
    ticks = np.zeros(64)
    ret = np.zeros(64)
    for _ in range(300):
        _, rew, term, _ = vec.step(random_actions(vec, rng))
        ticks += 1
        ret += rew
        for i in np.flatnonzero(term):
            returns.append(ret[i])
            lengths.append(ticks[i])
            ret[i] = 0
            ticks[i] = 0
    log = vec.log()
    assert log["n"] == len(returns) > 0
    assert log["episode_return"] == pytest.approx(np.mean(returns), rel=1e-5)
    assert log["episode_length"] == pytest.approx(np.mean(lengths), rel=1e-5)
    assert log["perf"] == pytest.approx(np.mean(np.array(returns) > 0), rel=1e-5)
    assert vec.log() == {"n": 0.0}  # cleared
    vec.close()


def test_log_without_clear_keeps_counts():
    vec = pufferlib.make("squared", total_agents=8)
    vec.reset(0)
    for _ in range(100):
        vec.step(np.full((8, 1), 1.0))  # always down: leaves the grid after 6 steps
    first = vec.log(clear=False)
    assert first["n"] > 0
    assert vec.log(clear=False) == first
    vec.close()


def test_multi_agent_rows_are_contiguous_per_env():
    vec = pufferlib.make("target", total_agents=32, num_buffers=2, num_threads=2)
    per_env = vec.agents_per_env
    assert per_env == [8, 8, 8, 8]
    assert vec.env_agent_start == [0, 8, 16, 24, 32]
    assert vec.buffer_agent_start == [0, 16, 32]
    assert vec.observations.shape == (32, vec.obs_size)
    assert vec.actions.shape == (32, 2)
    vec.close()


def test_step_buffer_only_touches_its_rows():
    vec = pufferlib.make("squared", total_agents=16, num_buffers=2)
    vec.reset(3)
    before = vec.observations.copy()
    vec.actions[:] = 1
    vec.step_buffer(1)
    assert np.array_equal(vec.observations[:8], before[:8])
    assert not np.array_equal(vec.observations[8:], before[8:])
    with pytest.raises(IndexError):
        vec.step_buffer(2)
    vec.close()


def test_unknown_env_lists_available():
    with pytest.raises(pufferlib.UnknownEnvError) as e:
        pufferlib.make("sqared")
    assert "squared" in str(e.value) and "Available envs" in str(e.value)


def test_unknown_env_key_names_key_and_env():
    with pytest.raises(ValueError, match=r"unknown \[env\] key 'bogus' for env squared"):
        pufferlib.make("squared", bogus=3)


def test_non_numeric_env_key():
    with pytest.raises(ValueError, match=r"'size' of env squared must be a number"):
        pufferlib.make("squared", size="big")


def test_bad_env_value_is_reported():
    with pytest.raises(ValueError, match="size must be 11"):
        pufferlib.make("squared", size=12)


def test_total_agents_not_multiple_of_env_agents():
    with pytest.raises(ValueError, match="multiple of the 8 agents per target env"):
        pufferlib.make("target", total_agents=12)
    with pytest.raises(ValueError, match="multiple of vec.num_buffers"):
        pufferlib.make("squared", total_agents=10, num_buffers=4)


@pytest.mark.parametrize("bad", [
    np.zeros((3, 1)),            # wrong number of agents
    np.zeros((4, 2)),            # wrong number of heads
    np.array([["a"]] * 4),       # not numbers
])
def test_bad_action_shapes_and_dtypes(bad):
    vec = pufferlib.make("squared", total_agents=4)
    vec.reset(0)
    with pytest.raises((ValueError, TypeError)):
        vec.step(bad)
    vec.close()


@pytest.mark.parametrize("value", [5, -1, 2.5, np.nan])
def test_out_of_range_discrete_action(value):
    vec = pufferlib.make("squared", total_agents=4)
    vec.reset(0)
    obs = vec.observations.copy()
    actions = np.zeros((4, 1), np.float32)
    actions[2] = value
    with pytest.raises(ValueError, match="agent 2"):
        vec.step(actions)
    assert np.array_equal(obs, vec.observations)  # nothing stepped
    vec.close()


def test_closed_env_raises():
    vec = pufferlib.make("squared")
    vec.close()
    with pytest.raises(RuntimeError, match="closed"):
        vec.step()
