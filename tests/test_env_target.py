"""Target's rules: 8 agents per env in contiguous rows, 28 floats each, reward 1 for reaching
a goal (which then moves), respawn after 512 steps without a reward, no terminals ever."""
import math

import numpy as np
import pytest

import pufferlib

AGENTS, GOALS, W, H = 8, 4, 952.0, 592.0
STRAIGHT, KEEP = 4, 2  # turn and throttle actions that change nothing


def positions(obs):
    """Absolute agent positions (pixels) from each row's own x/W, y/H."""
    return obs[:, 26] * W, obs[:, 27] * H


def goal_positions(obs, env):
    """Absolute goal positions seen by agent 0 of env `env`, shape (GOALS, 2)."""
    row = obs[env * AGENTS]
    rel = row[:2 * GOALS].reshape(GOALS, 2)
    return (rel + row[26:28]) * np.array([W, H])


def idle(n):
    return np.tile([STRAIGHT, KEEP], (n, 1))


def test_rows_are_contiguous_and_agent_relative():
    vec = pufferlib.make("target", total_agents=24)
    assert vec.obs_size == 28 and vec.act_sizes == [9, 5] and vec.agents_per_env == [8, 8, 8]
    obs = vec.reset(1)
    assert obs.shape == (24, 28) and obs.dtype == np.float32
    for e in range(3):
        rows = obs[e * AGENTS:(e + 1) * AGENTS]
        x, y = rows[:, 26], rows[:, 27]
        assert np.all((x >= 0) & (x <= 1) & (y >= 0) & (y <= 1))
        others = rows[:, 2 * GOALS:2 * GOALS + 2 * AGENTS].reshape(AGENTS, AGENTS, 2)
        # Row i, slot j holds agent j's position relative to agent i (so slot i is 0, 0).
        np.testing.assert_allclose(others[..., 0], x[None, :] - x[:, None], atol=1e-6)
        np.testing.assert_allclose(others[..., 1], y[None, :] - y[:, None], atol=1e-6)
        # Every agent of an env sees the same goals.
        goals = (rows[:, :2 * GOALS].reshape(AGENTS, GOALS, 2) + rows[:, None, 26:28])
        np.testing.assert_allclose(goals, np.broadcast_to(goals[0], goals.shape), atol=1e-5)
        assert np.all((rows[:, 24] >= 0) & (rows[:, 24] <= 1))  # heading / 2 pi
        assert np.all(rows[:, 25] == 0)  # no reward yet
    assert not np.allclose(goal_positions(obs, 0), goal_positions(obs, 1))  # envs differ
    vec.close()


def test_each_agent_reads_its_own_action_row():
    vec = pufferlib.make("target", total_agents=16)
    obs = vec.reset(2).copy()
    mover = 11  # env 1, agent 3
    actions = idle(16)
    actions[mover] = [STRAIGHT, 4]  # speed +2 per step
    heading = obs[mover, 24] * 2 * math.pi
    speed, x, y = 0.0, obs[mover, 26] * W, obs[mover, 27] * H
    for _ in range(5):
        before = obs.copy()
        obs = vec.step(actions)[0].copy()
        speed += 2
        x = min(max(x + speed * math.cos(heading), 0), W)
        y = min(max(y + speed * math.sin(heading), 0), H)
        still = np.arange(16) != mover
        np.testing.assert_array_equal(obs[still, 26:28], before[still, 26:28])
        assert obs[mover, 26] * W == pytest.approx(x, abs=1e-2)
        assert obs[mover, 27] * H == pytest.approx(y, abs=1e-2)
    # Turning: head 0 = 8 adds 4/12 rad per step, clipped to [0, 2 pi].
    headings = obs[:, 24].copy()
    heading = headings[3] * 2 * math.pi
    actions = idle(16)
    actions[3, 0] = 8
    for _ in range(30):
        obs = vec.step(actions)[0]
        heading = min(heading + 4 / 12, 2 * math.pi)
        assert obs[3, 24] == pytest.approx(heading / (2 * math.pi), abs=1e-5)
        np.testing.assert_array_equal(np.delete(obs[:, 24], 3), np.delete(headings, 3))
    assert obs[3, 24] == pytest.approx(1.0)  # clipped at 2 pi, not wrapped
    vec.close()


def steer_to_nearest_goal(row, speed):
    """Turn toward the nearest goal, then drive at it; returns (turn, throttle)."""
    rel = row[:2 * GOALS].reshape(GOALS, 2) * np.array([W, H])
    g = rel[np.argmin((rel ** 2).sum(1))]
    want = math.atan2(g[1], g[0]) % (2 * math.pi)
    heading = row[24] * 2 * math.pi
    turn = int(np.clip(round((want - heading) * 12), -4, 4)) + 4
    target_speed = 8 if abs(want - heading) < 0.2 else 0
    throttle = int(np.clip(target_speed - speed, -2, 2)) + 2
    return turn, throttle


def test_reaching_a_goal_gives_one_and_moves_it():
    vec = pufferlib.make("target", total_agents=8)
    obs = vec.reset(3).copy()
    speed, rewarded = 0.0, 0
    for t in range(1, 400):
        goals_before = goal_positions(obs, 0)
        actions = idle(8)
        actions[0] = steer_to_nearest_goal(obs[0], speed)
        speed = float(np.clip(speed + actions[0, 1] - 2, -20, 20))
        obs, rew, term, trunc = vec.step(actions)
        obs = obs.copy()
        assert np.all(term == 0) and np.all(trunc == 0)
        np.testing.assert_array_equal(obs[:, 25], rew)  # the row shows its own reward
        x, y = obs[0, 26] * W, obs[0, 27] * H
        dist = np.hypot(goals_before[:, 0] - x, goals_before[:, 1] - y)
        moved = np.any(np.abs(goal_positions(obs, 0) - goals_before) > 1e-2, axis=1)
        if rew[0] == 1:
            assert dist.min() <= 64 + 1e-3
            assert moved[np.argmin(dist)]
            rewarded += 1
            if rewarded == 3:
                break
        elif rew[1:].sum() == 0:
            assert dist.min() > 64 - 1e-3 and not moved.any()
    assert rewarded == 3, "the steering agent should reach three goals"
    log = vec.log()
    assert log["n"] >= 3 and log["score"] == 1 and log["episode_return"] == 1
    vec.close()


def test_rewards_follow_the_goal_rule_for_all_agents():
    # Random play: every goal within 64 px of an agent after a step is taken, and every reward
    # comes from such a goal. n counts goals reached; perf = mean of max(0, 1 - 0.01 * ticks).
    vec = pufferlib.make("target", total_agents=32)
    obs = vec.reset(4).copy()
    rng = np.random.default_rng(0)
    ticks = np.zeros(32)
    perf, lengths = [], []
    for t in range(1500):
        goals_before = [goal_positions(obs, e) for e in range(4)]
        actions = np.stack([rng.integers(0, 9, 32), rng.integers(0, 5, 32)], 1)
        obs, rew, term, trunc = vec.step(actions)
        obs = obs.copy()
        assert not term.any() and not trunc.any()
        assert set(np.unique(rew)) <= {0.0, 1.0}
        ticks += 1
        x, y = positions(obs)
        takers = []  # one entry per goal reached this step: the row that reached it
        for e in range(4):
            rows = slice(e * AGENTS, (e + 1) * AGENTS)
            g = goals_before[e]
            d = np.hypot(g[None, :, 0] - x[rows, None], g[None, :, 1] - y[rows, None])
            moved = np.any(np.abs(goal_positions(obs, e) - g) > 1e-2, axis=1)
            near = (d <= 64 - 1e-2).any(axis=0)
            far = (d > 64 + 1e-2).all(axis=0)
            assert np.all(moved[near]) and not np.any(moved[far])
            # Each goal moved was reached by the first agent (lowest index) near it.
            for goal in np.flatnonzero(moved):
                first = int(np.argmax(d[:, goal] <= 64 + 1e-2))
                assert rew[e * AGENTS + first] == 1
                takers.append(e * AGENTS + first)
            # A moved goal can land next to a later agent and be taken again in the same
            # step: a reward far from every old goal needs a goal that moved.
            for i in np.flatnonzero(rew[rows]):
                if d[i].min() > 64 + 1e-2:
                    assert moved.any()
                    takers.append(e * AGENTS + i)
        for k, row in enumerate(takers):
            steps = 0 if row in takers[:k] else ticks[row]  # a second goal took 0 steps
            perf.append(max(0.0, 1 - 0.01 * steps))
            lengths.append(steps)
        ticks[rew == 1] = 0
    assert len(perf) > 20
    log = vec.log()
    assert log["n"] == len(perf)
    assert log["perf"] == pytest.approx(np.mean(perf), abs=1e-4)
    assert log["episode_length"] == pytest.approx(np.mean(lengths), rel=1e-4)
    assert log["score"] == 1 and log["episode_return"] == 1
    vec.close()


def test_agent_without_reward_respawns_after_512_steps():
    vec = pufferlib.make("target", total_agents=64)
    obs = vec.reset(5).copy()
    start = obs[:, 26:28].copy()
    ever_rewarded = np.zeros(64, bool)
    for t in range(1, 513):
        obs, rew, term, *_ = vec.step(idle(64))
        ever_rewarded |= rew == 1
        assert not term.any()
        if t < 512:
            np.testing.assert_array_equal(obs[:, 26:28], start)  # idle agents stay put
    calm = ~ever_rewarded
    assert calm.sum() > 40
    jumped = np.any(obs[:, 26:28] != start, axis=1)
    assert np.all(jumped[calm])
    vec.close()


def test_world_size_kwargs():
    vec = pufferlib.make("target", total_agents=8, width=200, height=100)
    obs = vec.reset(6)
    x, y = obs[:, 26] * 200, obs[:, 27] * 100
    assert np.all(x <= 200) and np.all(y <= 100)
    vec.close()
    with pytest.raises(Exception, match="width"):
        pufferlib.make("target", total_agents=8, width=0)
    with pytest.raises(Exception, match="multiple of the 8 agents"):
        pufferlib.make("target", total_agents=12)
    with pytest.raises(Exception, match="num_agents|no_such"):
        pufferlib.make("target", total_agents=8, num_agents=4)
