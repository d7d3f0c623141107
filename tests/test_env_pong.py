"""Pong's rules: +1 when the ball leaves on the opponent's side, -1 on the agent's, the ball
speeds up on paddle hits, the episode ends at max_score (or is truncated at max_steps)."""
import math

import numpy as np
import pytest

import pufferlib

STAY, UP, DOWN = 0, 1, 2
W, H, PADDLE_H, BALL, MAX_SPEED = 500.0, 400.0, 60.0, 10.0, 800.0


def speed(obs):
    return math.hypot(obs[4], obs[5]) * MAX_SPEED


def track(obs):
    """Moves the paddle towards the ball (a decent scripted player)."""
    d = obs[3] - obs[0]
    return STAY if abs(d) < 0.02 else (UP if d < 0 else DOWN)


def test_spaces_and_serve():
    vec = pufferlib.make("pong", total_agents=64)
    assert vec.obs_size == 8 and vec.obs_dtype == np.float32 and vec.act_sizes == [3]
    obs = vec.reset(1)
    np.testing.assert_array_equal(obs[:, [0, 1, 2, 3, 6, 7]], 0)  # centred, no points
    speeds = np.hypot(obs[:, 4], obs[:, 5]) * MAX_SPEED
    np.testing.assert_allclose(speeds, 300, rtol=1e-5)
    assert np.all(np.abs(obs[:, 5]) <= np.abs(obs[:, 4]) * math.tan(math.radians(30)) + 1e-6)
    assert 0 < (obs[:, 4] > 0).sum() < 64  # served to both sides
    vec.close()


def test_paddle_moves_by_paddle_speed_and_stays_on_court():
    vec = pufferlib.make("pong", max_score=100)
    vec.reset(2)
    per_step = 420 * 4 / 60 / (H / 2)  # paddle_speed * frameskip frames, in obs units
    limit = 1 - PADDLE_H / H
    for action, sign in [(UP, -1), (DOWN, 1)]:
        for _ in range(40):
            before = vec.observations[0, 0]
            obs, *_ = vec.step(np.array([[action]]))
            expected = np.clip(before + sign * per_step, -limit, limit)
            assert obs[0, 0] == pytest.approx(expected, abs=1e-5)
        assert obs[0, 0] == pytest.approx(sign * limit, abs=1e-5)
    before = vec.observations[0, 0]
    obs, *_ = vec.step(np.array([[STAY]]))
    assert obs[0, 0] == before
    vec.close()


def test_ball_flies_straight_and_bounces_off_walls():
    vec = pufferlib.make("pong", frameskip=1, max_score=100)
    obs = vec.reset(3)[0].copy()
    r = BALL / 2
    bounces = 0
    for _ in range(400):
        prev = obs
        obs, rew, *_ = vec.step(np.array([[track(prev)]]))
        obs = obs[0].copy()
        assert abs(obs[3]) <= 1 - 2 * r / H + 1e-6  # the ball stays between the walls
        if rew[0] != 0 or np.sign(obs[4]) != np.sign(prev[4]):
            continue  # a point or a paddle hit
        dx = (obs[2] - prev[2]) * W / 2
        assert dx == pytest.approx(prev[4] * MAX_SPEED / 60, abs=1e-3)
        if np.sign(obs[5]) == -np.sign(prev[5]):
            bounces += 1
            assert speed(obs) == pytest.approx(speed(prev), rel=1e-5)  # walls keep the speed
        else:
            dy = (obs[3] - prev[3]) * H / 2
            assert dy == pytest.approx(prev[5] * MAX_SPEED / 60, abs=1e-3)
    assert bounces > 0
    vec.close()


def test_paddle_hits_speed_the_ball_up_to_the_maximum():
    for speedup, cap in [(25.0, 800.0), (300.0, 700.0)]:
        vec = pufferlib.make("pong", total_agents=4, ball_speedup=speedup, max_ball_speed=cap,
                             max_score=100)
        obs = vec.reset(4).copy()
        hits = 0
        for _ in range(3000):
            prev = obs
            obs, rew, *_ = vec.step(np.array([[track(o)] for o in prev]))
            obs = obs.copy()
            for i in range(4):
                if rew[i] == 0 and np.sign(obs[i, 4]) != np.sign(prev[i, 4]):
                    hits += 1
                    before = math.hypot(prev[i, 4], prev[i, 5]) * cap
                    after = math.hypot(obs[i, 4], obs[i, 5]) * cap
                    assert after == pytest.approx(min(before + speedup, cap), rel=1e-4)
                    # The new angle stays within 60 degrees of horizontal.
                    assert abs(obs[i, 5]) <= abs(obs[i, 4]) * math.tan(math.radians(60)) + 1e-5
        assert hits > 50
        vec.close()


def test_paddle_hit_zone_and_return_angle():
    # One frame per step: a hit shows the ball where it met the agent's paddle face.
    vec = pufferlib.make("pong", frameskip=1, max_score=100)
    obs = vec.reset(10)[0].copy()
    rng = np.random.default_rng(10)
    reach = PADDLE_H / 2 + BALL / 2  # centre distances that still touch the paddle
    face = W - 10 - BALL / 2         # ball centre x at the agent's paddle face
    aim = 0.0
    hits = misses = 0
    for _ in range(20000):
        prev = obs
        if prev[4] < 0:
            aim = rng.uniform(-50, 50) / (H / 2)  # meet the next ball at a random offset
        d = prev[3] + aim - prev[0]
        action = STAY if abs(d) < 0.02 else (UP if d < 0 else DOWN)
        obs, rew, *_ = vec.step(np.array([[action]]))
        obs = obs[0].copy()
        x0, x1 = (prev[2] + 1) * W / 2, (obs[2] + 1) * W / 2
        paddle = (obs[0] + 1) * H / 2
        if rew[0] == 0 and prev[4] > 0 and obs[4] < 0:  # returned by the agent
            hits += 1
            assert (obs[2] + 1) * W / 2 == pytest.approx(face, abs=1e-3)
            offset = ((obs[3] + 1) * H / 2 - paddle) / reach
            assert abs(offset) <= 1 + 1e-4
            angle = math.asin(obs[5] * MAX_SPEED / speed(obs))
            assert angle == pytest.approx(offset * math.radians(60), abs=1e-3)
        elif rew[0] == 0 and prev[4] > 0 and x0 <= face < x1:  # passed the face, no hit
            misses += 1
            y0, y1 = (prev[3] + 1) * H / 2, (obs[3] + 1) * H / 2
            y_cross = y0 + (face - x0) / (x1 - x0) * (y1 - y0)
            assert abs(y_cross - paddle) > reach - 1e-2
    assert hits > 30 and misses > 10
    vec.close()


def play(vec, steps, policy, seed):
    """Plays and checks the scoring rules; returns [(won, lost, length, truncated)]."""
    max_score = int(vec.kwargs["max_score"])
    obs = vec.reset(seed).copy()
    won = lost = length = 0
    episodes = []
    for _ in range(steps):
        prev = obs
        obs, rew, term, trunc = vec.step(np.array([[policy(prev[0])]]))
        obs = obs.copy()
        length += 1
        assert rew[0] in (-1.0, 0.0, 1.0)
        won += rew[0] == 1
        lost += rew[0] == -1
        if rew[0] == 1:
            assert prev[0, 2] < -0.8 and prev[0, 4] < 0  # it left on the opponent's side
        if rew[0] == -1:
            assert prev[0, 2] > 0.8 and prev[0, 4] > 0
        if term[0] or trunc[0]:
            assert term[0] != trunc[0]
            if term[0]:
                assert max(won, lost) == max_score and min(won, lost) < max_score
                assert rew[0] != 0  # the deciding point
            episodes.append((won, lost, length, bool(trunc[0])))
            won = lost = length = 0
            np.testing.assert_array_equal(obs[0, [0, 1, 2, 3, 6, 7]], 0)  # a new game
        else:
            assert max(won, lost) < max_score
            assert obs[0, 6] == pytest.approx(won / max_score)
            assert obs[0, 7] == pytest.approx(lost / max_score)
            if rew[0] != 0:
                np.testing.assert_array_equal(obs[0, 2:4], 0)  # served from the centre
    return episodes


def check_log(log, episodes):
    assert log["n"] == len(episodes)
    won = np.array([e[0] for e in episodes], float)
    lost = np.array([e[1] for e in episodes], float)
    length = np.array([e[2] for e in episodes], float)
    assert log["perf"] == pytest.approx(np.mean(won / (won + lost)), abs=1e-5)
    assert log["score"] == pytest.approx(np.mean(won - lost), abs=1e-4)
    assert log["episode_return"] == pytest.approx(np.mean(won - lost), abs=1e-4)
    assert log["episode_length"] == pytest.approx(np.mean(length), rel=1e-5)


def test_opponent_scores_against_a_still_paddle():
    vec = pufferlib.make("pong", max_score=3)
    episodes = play(vec, 1500, lambda o: UP, seed=5)  # parked at the top: misses most balls
    assert len(episodes) >= 3
    assert all(lost == 3 and not trunc for won, lost, _, trunc in episodes)
    check_log(vec.log(), episodes)
    vec.close()


def test_agent_scores_against_a_frozen_opponent():
    vec = pufferlib.make("pong", max_score=5, opponent_speed=0)
    episodes = play(vec, 3000, track, seed=6)
    assert len(episodes) >= 3
    assert sum(e[0] == 5 for e in episodes) > sum(e[1] == 5 for e in episodes)
    check_log(vec.log(), episodes)
    assert vec.log()["n"] == 0  # cleared
    vec.close()


def test_tracking_beats_random_play():
    scores = {}
    for name, policy in [("track", track), ("random", None)]:
        vec = pufferlib.make("pong", total_agents=16, seed=7, max_score=3)
        obs = vec.reset(7)
        rng = np.random.default_rng(7)
        for _ in range(4000):
            actions = rng.integers(0, 3, 16) if policy is None else [track(o) for o in obs]
            obs, *_ = vec.step(np.asarray(actions)[:, None])
        log = vec.log()
        assert log["n"] > 0
        scores[name] = log["perf"]
        vec.close()
    assert scores["random"] < 0.1 < 0.5 < scores["track"]


def test_opponent_moves_at_its_own_speed():
    vec = pufferlib.make("pong", max_score=100, opponent_speed=120)
    obs = vec.reset(8).copy()
    per_step = 120 * 4 / 60 / (H / 2)
    moved = 0
    for _ in range(500):
        prev = obs
        obs, rew, *_ = vec.step(np.array([[track(prev[0])]]))
        obs = obs.copy()
        step = abs(obs[0, 1] - prev[0, 1])
        assert step <= per_step + 1e-5
        moved += step > 0
    assert moved > 50
    vec.close()


def test_truncation_at_max_steps():
    vec = pufferlib.make("pong", max_steps=50)
    obs = vec.reset(9)
    for t in range(1, 51):
        obs, rew, term, trunc = vec.step(np.array([[track(obs[0])]]))
        assert term[0] == 0
        assert trunc[0] == (t == 50)
    log = vec.log()
    assert log["n"] == 1 and log["episode_length"] == 50
    vec.close()


def test_bad_kwargs_are_refused():
    with pytest.raises(Exception, match="paddle_height"):
        pufferlib.make("pong", paddle_height=400)
    with pytest.raises(Exception, match="max_score"):
        pufferlib.make("pong", max_score=0)
    with pytest.raises(Exception, match="frameskip"):
        pufferlib.make("pong", frameskip=0)
    with pytest.raises(Exception, match="max_ball_speed"):
        pufferlib.make("pong", max_ball_speed=100)
    with pytest.raises(Exception, match="width"):
        pufferlib.make("pong", width=-5)
