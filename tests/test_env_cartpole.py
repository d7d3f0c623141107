"""Cartpole's rules: the reference dynamics, termination at |x| > 2.4 or |theta| > 12 degrees,
truncation at 200 steps, reward 1 per surviving step, and the log."""
import math

import numpy as np
import pytest

import pufferlib

X_LIMIT = 2.4
THETA_LIMIT = 12 * math.pi / 180


def model_step(state, force, cart_mass=1.0, pole_mass=0.1, pole_length=0.5, gravity=9.8, dt=0.02):
    """The reference equations (with its two non-standard terms), in float64."""
    x, x_dot, theta, theta_dot = state
    total_mass = cart_mass + pole_mass
    polemass_length = total_mass + pole_mass
    sin_t, cos_t = math.sin(theta), math.cos(theta)
    temp = (force + polemass_length * theta_dot ** 2 * sin_t) / total_mass
    theta_acc = (gravity * sin_t - cos_t * temp) / (pole_length * (4 / 3 - cos_t ** 2))
    x_acc = temp - polemass_length * theta_acc * cos_t / total_mass
    return (x + dt * x_dot, x_dot + dt * x_acc, theta + dt * theta_dot, theta_dot + dt * theta_acc)


def balance(obs):
    """A bang-bang controller that keeps the pole up for 200 steps under these dynamics."""
    x, x_dot, theta, theta_dot = obs
    return 1 if theta + 0.5 * theta_dot + 0.01 * x + 0.05 * x_dot > 0 else 0


def test_spaces_and_reset_range():
    vec = pufferlib.make("cartpole", total_agents=256)
    assert vec.obs_size == 4 and vec.obs_dtype == np.float32 and vec.act_sizes == [2]
    obs = vec.reset(1).copy()
    assert np.all(np.abs(obs) <= 0.04)
    assert obs.std() > 0.01  # uniform in [-0.04, 0.04], not all zero
    vec.close()


@pytest.mark.parametrize("action", [0, 1])
def test_dynamics_and_termination_match_the_reference(action):
    vec = pufferlib.make("cartpole")
    state = tuple(float(v) for v in vec.reset(2)[0])
    force = 10.0 if action == 1 else -10.0
    for t in range(1, 200):
        state = model_step(state, force)
        obs, rew, term, trunc = vec.step(np.array([[action]]))
        ended = abs(state[0]) > X_LIMIT or abs(state[2]) > THETA_LIMIT
        if ended:
            assert term[0] == 1 and trunc[0] == 0 and rew[0] == 0
            assert np.all(np.abs(obs[0]) <= 0.04)  # auto-reset: the next episode's first obs
            break
        assert term[0] == 0 and trunc[0] == 0 and rew[0] == 1
        np.testing.assert_allclose(obs[0], state, rtol=1e-4, atol=1e-5)
    else:
        pytest.fail("a constant push never ended the episode")
    assert 3 <= t < 50
    log = vec.log()
    assert log["n"] == 1
    assert log["episode_length"] == t and log["score"] == t
    assert log["episode_return"] == t - 1
    assert log["perf"] == pytest.approx((t - 1) / 200)
    assert log["pole_fell"] + log["cart_out"] == 1 and log["time_limit"] == 0
    vec.close()


def test_cart_leaving_the_track_terminates():
    # A heavy force and a stiff pole: the cart leaves [-2.4, 2.4] before the pole falls.
    vec = pufferlib.make("cartpole", force_mag=10.0, gravity=0.0, pole_length=50.0)
    state = tuple(float(v) for v in vec.reset(3)[0])
    for t in range(1, 200):
        prev = state
        state = model_step(state, 10.0, pole_length=50.0, gravity=0.0)
        obs, rew, term, trunc = vec.step(np.array([[1]]))
        if term[0]:
            assert state[0] > X_LIMIT >= prev[0] and abs(state[2]) <= THETA_LIMIT
            break
        np.testing.assert_allclose(obs[0], state, rtol=1e-4, atol=1e-5)
    else:
        pytest.fail("the cart never left the track")
    log = vec.log()
    assert log["cart_out"] == 1 and log["pole_fell"] == 0
    vec.close()


def test_truncation_at_200_steps_with_a_balancing_controller():
    vec = pufferlib.make("cartpole", total_agents=8)
    obs = vec.reset(4)
    rewards = np.zeros(8)
    for t in range(1, 201):
        actions = np.array([[balance(o)] for o in obs])
        obs, rew, term, trunc = vec.step(actions)
        assert np.all(term == 0)
        if t < 200:
            assert np.all(rew == 1) and np.all(trunc == 0)
            assert np.all(np.abs(obs[:, 0]) <= X_LIMIT) and np.all(np.abs(obs[:, 2]) <= THETA_LIMIT)
        rewards += rew
    assert np.all(trunc == 1) and np.all(rew == 0)  # the 200th step truncates, reward 0
    assert np.all(rewards == 199)
    assert np.all(np.abs(obs) <= 0.04)  # reset after a truncation too
    log = vec.log()
    assert log["n"] == 8 and log["time_limit"] == 1 and log["episode_length"] == 200
    assert log["episode_return"] == 199 and log["perf"] == pytest.approx(199 / 200)
    vec.close()


def test_log_is_a_true_mean_over_episodes():
    # Mixed episode lengths: perf must be the mean of return/200, not the last episode's.
    vec = pufferlib.make("cartpole", total_agents=32, seed=0)
    obs = vec.reset(5)
    rng = np.random.default_rng(0)
    returns, running = [], np.zeros(32)
    skill = rng.uniform(0, 1, 32)  # each agent follows the controller with its own probability
    for _ in range(600):
        good = np.array([balance(o) for o in obs])
        random = rng.integers(0, 2, 32)
        actions = np.where(rng.uniform(0, 1, 32) < skill, good, random)
        obs, rew, term, trunc = vec.step(actions[:, None])
        running += rew
        for i in np.flatnonzero((term == 1) | (trunc == 1)):
            returns.append(running[i])
            running[i] = 0
    log = vec.log()
    assert log["n"] == len(returns) > 50
    assert np.std(returns) > 10
    assert log["episode_return"] == pytest.approx(np.mean(returns), rel=1e-4)
    assert log["perf"] == pytest.approx(np.mean(returns) / 200, rel=1e-4)
    assert log["cart_out"] + log["pole_fell"] + log["time_limit"] == pytest.approx(1)
    assert vec.log()["n"] == 0  # cleared
    vec.close()


def test_continuous_variant_scales_and_clips_the_force():
    vec = pufferlib.make("cartpole_continuous")
    assert vec.act_sizes == [1]
    state = tuple(float(v) for v in vec.reset(6)[0])
    for action in [0.3, -0.7, 5.0, -5.0, 0.0]:
        state = model_step(state, 10.0 * max(-1.0, min(1.0, action)))
        obs, _, term, _ = vec.step(np.array([[action]], dtype=np.float32))
        assert term[0] == 0
        np.testing.assert_allclose(obs[0], state, rtol=1e-4, atol=1e-5)
    vec.close()


def test_physics_kwargs_are_used():
    vec = pufferlib.make("cartpole", gravity=20.0, pole_length=0.3, dt=0.01, force_mag=5.0)
    state = tuple(float(v) for v in vec.reset(7)[0])
    for _ in range(5):
        state = model_step(state, 5.0, gravity=20.0, pole_length=0.3, dt=0.01)
        obs, *_ = vec.step(np.array([[1]]))
        np.testing.assert_allclose(obs[0], state, rtol=1e-4, atol=1e-5)
    vec.close()


def test_bad_kwargs_are_refused():
    with pytest.raises(Exception, match="cartpole_continuous"):
        pufferlib.make("cartpole", continuous=1)
    with pytest.raises(Exception, match="pole_length"):
        pufferlib.make("cartpole", pole_length=0.0)
    with pytest.raises(Exception, match="dt"):
        pufferlib.make("cartpole_continuous", dt=-0.02)
    with pytest.raises(Exception, match="no_such_key"):
        pufferlib.make("cartpole", no_such_key=1)
    pufferlib.make("cartpole_continuous", continuous=0).close()  # the shared ini key is accepted
