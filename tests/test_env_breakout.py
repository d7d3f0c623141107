"""Breakout's rules (reference 4.0): brick values, lives, frameskip, scoring and its log."""
import math

import numpy as np
import pytest

import pufferlib

STAY, LEFT, RIGHT = 0, 1, 2
W, H = 576.0, 330.0
TICK = 1 / 60
ROW_VALUES = [7, 7, 4, 4, 1, 1]
# Observation layout.
PADDLE_X, PADDLE_Y, BALL_X, BALL_Y, BALL_VX, BALL_VY = range(6)
FIRED, SCORE, BALLS, PADDLE_W, BRICKS = 6, 7, 8, 9, 10


def track(obs, offsets, deadband=20.0):
    """Scripted player: paddle centre follows the ball centre plus a per-env offset."""
    width = obs[:, PADDLE_W] * 62
    centre = obs[:, PADDLE_X] * W + width / 2
    target = obs[:, BALL_X] * W + 16 + offsets * width
    actions = np.full(len(obs), STAY)
    actions[centre < target - deadband] = RIGHT
    actions[centre > target + deadband] = LEFT
    return actions


def test_reset_observation():
    vec = pufferlib.make("breakout", total_agents=2)
    obs = vec.reset(1)
    assert obs.shape == (2, 118) and obs.dtype == np.float32
    paddle_x = (W - 62) / 2
    expected = [paddle_x / W, (H - 8 - 10) / H, (paddle_x + 31 - 16) / W, (H / 2 - 30) / H,
                0, 0, 0, 0, 1, 1]
    np.testing.assert_allclose(obs[:, :BRICKS], [expected] * 2, rtol=1e-6)
    assert (obs[:, BRICKS:] == 0).all()
    vec.close()


def test_launch_and_frameskip():
    """One step = frameskip frames: the ball travels frameskip times as far."""
    moved = {}
    for frameskip in (1, 4):
        vec = pufferlib.make("breakout", frameskip=frameskip)
        obs0 = vec.reset(7).copy()
        obs1 = vec.step([[STAY]])[0].copy()
        assert obs1[0, FIRED] == pytest.approx(1 / 5)
        speed = 256 * TICK / 512  # per-frame velocity, normalised by 512
        assert abs(obs1[0, BALL_VX]) == pytest.approx(speed * math.sin(math.pi / 3.25), rel=1e-5)
        assert obs1[0, BALL_VY] == pytest.approx(speed * math.cos(math.pi / 3.25), rel=1e-5)
        moved[frameskip] = (obs1[0, BALL_Y] - obs0[0, BALL_Y]) * H
        vec.close()
    assert moved[1] == pytest.approx(256 * TICK * math.cos(math.pi / 3.25), rel=1e-4)
    assert moved[4] == pytest.approx(4 * moved[1], rel=1e-4)


def test_idle_paddle_loses_six_balls_then_terminal():
    vec = pufferlib.make("breakout", total_agents=1)
    obs = vec.reset(3)
    balls = [round(float(obs[0, BALLS]) * 5)]
    steps = 0
    while True:
        obs, rew, term, _ = vec.step([[STAY]])
        steps += 1
        assert rew[0] == 0
        if term[0]:
            break
        b = round(float(obs[0, BALLS]) * 5)
        if b != balls[-1]:
            balls.append(b)
        assert steps < 1000
    assert balls == [5, 4, 3, 2, 1, 0]  # five spares, then the sixth ball ends it
    assert obs[0, BALLS] == 1 and (obs[0, BRICKS:] == 0).all()  # already a new episode
    log = vec.log()
    assert log["n"] == 1 and log["score"] == 0 and log["perf"] == 0
    # episode_length counts frames; the last step may run frames of the next episode.
    assert 4 * steps - 3 <= log["episode_length"] <= 4 * steps
    vec.close()


def test_frameskip_scales_episode_steps():
    lengths = {}
    for frameskip in (1, 4):
        vec = pufferlib.make("breakout", frameskip=frameskip)
        vec.reset(5)
        for steps in range(1, 5000):
            if vec.step([[STAY]])[2][0]:
                break
        lengths[frameskip] = (steps, vec.log()["episode_length"])
        vec.close()
    assert lengths[1][0] == lengths[1][1]            # one frame per step
    assert lengths[1][1] == lengths[4][1]            # same game in frames
    assert lengths[4][0] == math.ceil(lengths[1][0] / 4)


def test_paddle_moves_620_pixels_per_second():
    vec = pufferlib.make("breakout")
    obs0 = vec.reset(1).copy()
    obs1 = vec.step([[RIGHT]])[0].copy()  # frame 1 launches the ball, frames 2-4 move
    assert (obs1[0, PADDLE_X] - obs0[0, PADDLE_X]) * W == pytest.approx(3 * 620 * TICK, rel=1e-4)
    obs2 = vec.step([[LEFT]])[0].copy()
    assert (obs2[0, PADDLE_X] - obs1[0, PADDLE_X]) * W == pytest.approx(-4 * 620 * TICK, rel=1e-4)
    for action, wall in ((LEFT, 0.0), (RIGHT, (W - 62) / W)):
        xs = [vec.step([[action]])[0][0, PADDLE_X] for _ in range(20)]
        assert min(xs) >= 0 and max(xs) <= (W - 62) / W
        assert np.isclose(xs, wall, atol=1e-6).sum() >= 2  # reached the wall and stayed
    vec.close()


def test_continuous_action_is_clipped():
    xs = {}
    for action in (0.5, 1.0, 7.0, -1.0):
        vec = pufferlib.make("breakout_continuous")
        assert vec.act_sizes == [1]
        obs0 = vec.reset(1).copy()
        obs1 = vec.step(np.array([[action]], np.float32))[0]
        xs[action] = (obs1[0, PADDLE_X] - obs0[0, PADDLE_X]) * W
        vec.close()
    assert xs[1.0] == pytest.approx(3 * 620 * TICK, rel=1e-4)
    assert xs[7.0] == xs[1.0]
    assert xs[0.5] == pytest.approx(xs[1.0] / 2, rel=1e-4)
    assert xs[-1.0] == pytest.approx(-xs[1.0], rel=1e-4)


def play_tracking(steps, total_agents=32, seed=3, **kwargs):
    """Runs the tracking player; yields (prev_obs, obs, rewards, terminals) copies per step."""
    vec = pufferlib.make("breakout", total_agents=total_agents, **kwargs)
    offsets = np.random.default_rng(seed).uniform(-0.3, 0.3, total_agents)
    obs = vec.reset(seed).copy()
    try:
        for _ in range(steps):
            prev = obs
            o, r, d, _ = vec.step(track(prev, offsets))
            obs = o.copy()
            yield vec, prev, obs, r.copy(), d.copy()
    finally:
        vec.close()


def ball_speed(obs):
    return math.hypot(obs[BALL_VX], obs[BALL_VY]) * 512 / TICK


def test_brick_values_by_row():
    rows_seen = set()
    for vec, prev, obs, rew, term in play_tracking(2500):
        for i in range(len(obs)):
            if term[i]:
                continue
            broken = np.nonzero((obs[i, BRICKS:] == 1) & (prev[i, BRICKS:] == 0))[0]
            assert rew[i] == sum(ROW_VALUES[b // 18] for b in broken)
            rows_seen |= {b // 18 for b in broken}
            # score observation is the running total of rewards
            assert (obs[i, SCORE] - prev[i, SCORE]) * 864 == pytest.approx(rew[i], abs=1e-3)
            assert obs[i, PADDLE_W] in (1.0, 0.5)  # full, or shrunk to 31 by the top wall
    assert rows_seen == set(range(6))


def test_speedups_and_upper_rows_set_max_speed():
    """Every 4th paddle hit of a ball adds 64; a brick in rows 0-2 sets the max at once.
    A higher max_ball_speed (704) leaves room to see both rules."""
    n = 32
    hits, upper = np.zeros(n, int), np.zeros(n, bool)
    speeds, jumps, checked = set(), 0, 0
    for vec, prev, obs, rew, term in play_tracking(3000, total_agents=n, max_ball_speed=704):
        for i in range(n):
            if term[i] or obs[i, BALLS] != prev[i, BALLS]:  # a new ball: counts restart
                hits[i], upper[i] = 0, False
                continue
            if not obs[i, FIRED]:
                continue
            speeds.add(round(ball_speed(obs[i])))
            broken = np.nonzero((obs[i, BRICKS:] == 1) & (prev[i, BRICKS:] == 0))[0]
            if any(b // 18 < 3 for b in broken):
                assert ball_speed(obs[i]) == pytest.approx(704, rel=1e-3)
                jumps += prev[i, FIRED] and ball_speed(prev[i]) < 700
                upper[i] = True
            if prev[i, BALL_VY] > 0 and obs[i, BALL_VY] < 0 and obs[i, BALL_Y] * H > 200:
                hits[i] += 1  # bounced off the paddle
                if not upper[i]:
                    expected = min(256 + 64 * (hits[i] // 4), 704)
                    assert ball_speed(obs[i]) == pytest.approx(expected, rel=1e-3)
                    checked += 1
    assert speeds == {256 + 64 * k for k in range(8)}
    assert jumps >= 20 and checked >= 200


def test_paddle_sets_angle_by_hit_position():
    """The ball leaves at -45..45 degrees from vertical, by where it meets the paddle."""
    checked = 0
    for vec, prev, obs, rew, term in play_tracking(3000, total_agents=8, frameskip=1):
        for i in np.nonzero((prev[:, BALL_VY] > 0) & (obs[:, BALL_VY] < 0) & (term == 0))[0]:
            if obs[i, BALL_Y] * H < 200:
                continue  # a brick, not the paddle
            width = obs[i, PADDLE_W] * 62
            rel = (obs[i, BALL_X] * W + 16 - obs[i, PADDLE_X] * W) / width
            angle = -math.pi / 4 + math.pi / 2 * min(max(rel, 0.0), 1.0)
            speed = ball_speed(obs[i]) * TICK / 512
            assert obs[i, BALL_VX] == pytest.approx(math.sin(angle) * speed, abs=1e-5)
            assert obs[i, BALL_VY] == pytest.approx(-math.cos(angle) * speed, abs=1e-5)
            checked += 1
    assert checked >= 100


def test_clearing_both_walls_scores_864_and_logs_perf():
    returns = np.zeros(32)
    finished = []
    restored = 0
    saw_shrink = False
    for vec, prev, obs, rew, term in play_tracking(6000):
        returns += rew
        saw_shrink |= bool((obs[:, PADDLE_W] == 0.5).any())
        # At 432 (all 108 bricks gone) the next paddle hit restores the wall.
        back = (prev[:, BRICKS:].sum(1) == 108) & (obs[:, BRICKS:].sum(1) == 0) & (term == 0)
        assert (prev[back, SCORE] * 864).round().tolist() == [432] * int(back.sum())
        restored += int(back.sum())
        for i in np.nonzero(term)[0]:
            finished.append(returns[i])
            returns[i] = 0
        if len(finished) >= 8:
            log = vec.log()
            break
    assert restored >= 8 and saw_shrink
    assert finished == [864] * len(finished)
    assert log["n"] == len(finished)
    assert log["score"] == 864 and log["episode_return"] == 864 and log["perf"] == 1
    assert log["episode_length"] > 5000


def test_log_perf_is_score_over_864():
    """A clumsy player (random moves half the time) ends episodes with mixed scores."""
    vec = pufferlib.make("breakout", total_agents=16)
    rng = np.random.default_rng(0)
    offsets = rng.uniform(-0.3, 0.3, 16)
    obs = vec.reset(11)
    returns = np.zeros(16)
    finished = []
    for _ in range(20000):
        actions = np.where(rng.random(16) < 0.5, rng.integers(0, 3, 16), track(obs, offsets))
        obs, rew, term, _ = vec.step(actions)
        returns += rew
        for i in np.nonzero(term)[0]:
            finished.append(returns[i])
            returns[i] = 0
        if len(finished) >= 40:
            break
    log = vec.log()
    assert log["n"] == len(finished) >= 40
    assert log["score"] == pytest.approx(np.mean(finished), rel=1e-5)
    assert log["episode_return"] == pytest.approx(log["score"], rel=1e-6)
    assert log["perf"] == pytest.approx(log["score"] / 864, rel=1e-5)
    assert 0 < log["perf"] < 1
    assert vec.log()["n"] == 0  # cleared
    vec.close()


@pytest.mark.parametrize("kwargs, message", [
    ({"brick_rows": 4}, "brick_rows"),
    ({"num_agents": 2}, "num_agents"),
    ({"continuous": 1}, "breakout_continuous"),
    ({"frameskip": 0}, "frameskip"),
    ({"paddle_width": 40}, "paddle_width"),
])
def test_bad_kwargs_fail(kwargs, message):
    with pytest.raises(Exception, match=message):
        pufferlib.make("breakout", **kwargs)
