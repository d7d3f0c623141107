"""Snake's rules: many snakes share one world; each snake is an agent with its own episodes."""
import numpy as np
import pytest

import pufferlib

EMPTY, FOOD, WALL, BODY, HEAD = range(5)
UP, DOWN, LEFT, RIGHT = range(4)
STEP = {UP: (-1, 0), DOWN: (1, 0), LEFT: (0, -1), RIGHT: (0, 1)}
V = 5  # vision: 11x11 views


def views(vec):
    return vec.observations.reshape(-1, 2 * V + 1, 2 * V + 1)


def safe_actions(vec, rng):
    """Per agent, a random move onto an empty or food cell (any move if there is none)."""
    actions = rng.integers(0, 4, vec.num_agents)
    for i, view in enumerate(views(vec)):
        free = [a for a, (dr, dc) in STEP.items() if view[V + dr, V + dc] in (EMPTY, FOOD)]
        if free:
            actions[i] = free[rng.integers(len(free))]
    return actions


def world_seen_by(view, size):
    """Rebuilds a size x size world from one view that covers it whole (size <= V + 1)."""
    row = 5 - int(np.argmax(view[:, V] != WALL))  # head position from the border walls
    col = 5 - int(np.argmax(view[V, :] != WALL))
    return view[V - row:V - row + size, V - col:V - col + size].copy(), (row, col)


def test_agents_of_one_world_are_contiguous_rows():
    """In a 6x6 world every snake sees everything: rows 4e..4e+3 must all see world e."""
    kwargs = dict(width=6, height=6, num_snakes=4, num_food=3, max_snake_length=4)
    vec = pufferlib.make("snake", total_agents=12, **kwargs)
    assert vec.agents_per_env == [4, 4, 4] and vec.env_agent_start == [0, 4, 8, 12]
    vec.reset(0)
    rng = np.random.default_rng(0)
    distinct = 0
    for step in range(200):
        worlds = []
        for e in range(3):
            seen = [world_seen_by(views(vec)[i], 6) for i in range(4 * e, 4 * e + 4)]
            world = seen[0][0]
            for grid, head in seen:
                np.testing.assert_array_equal(grid, world)
                assert grid[head] == HEAD
            assert len({head for _, head in seen}) == 4  # four different snakes
            assert (world == HEAD).sum() == 4 and (world == FOOD).sum() == 3
            worlds.append(world)
        distinct += not np.array_equal(worlds[0], worlds[1])
        vec.step(safe_actions(vec, rng))
    assert distinct > 150  # the worlds are separate
    vec.close()


def test_death_is_minus_one_and_terminal_for_that_snake_only():
    vec = pufferlib.make("snake", total_agents=8, num_snakes=8, width=24, height=24, num_food=4)
    vec.reset(3)
    rng = np.random.default_rng(1)
    # Agent 0 heads up until the wall; predict the step from its view if the wall is in sight.
    column = views(vec)[0][:V, V]
    wall_in = V - int(np.nonzero(column == WALL)[0].max()) if (column == WALL).any() else None
    # Other snakes may die too (two heads entering one cell): count every death.
    alive_for, death_lengths = np.zeros(8), []
    for step in range(1, 30):
        actions = safe_actions(vec, rng)
        actions[0] = UP
        obs, rew, term, trunc = vec.step(actions)
        alive_for += 1
        assert (term == (rew == -1)).all() and not trunc.any()
        death_lengths += list(alive_for[term == 1])
        alive_for[term == 1] = 0
        if term[0]:
            break
    assert rew[0] == -1 and term[0] == 1
    assert term[1:].sum() < 7  # a death ends only that snake's episode
    if wall_in is not None:
        assert step == wall_in
    assert views(vec)[0][V, V] == HEAD  # respawned
    log = vec.log()
    assert log["n"] == len(death_lengths)
    assert log["episode_length"] == pytest.approx(np.mean(death_lengths))
    assert log["episode_return"] == pytest.approx(-1 + 0.1 * (log["score"] - 1))
    vec.close()


def test_eating_food_rewards_and_grows():
    vec = pufferlib.make("snake", total_agents=8, num_snakes=8, width=20, height=20,
                         num_food=150, max_snake_length=8, food_reward=0.5)
    vec.reset(2)
    # The first agent with food next to its head: no earlier agent can reach that cell.
    for agent, view in enumerate(views(vec)):
        moves = [a for a, (dr, dc) in STEP.items() if view[V + dr, V + dc] == FOOD]
        if moves:
            break
    assert moves, "no snake starts next to food"
    actions = safe_actions(vec, np.random.default_rng(0))
    actions[agent] = moves[0]
    obs, rew, term, _ = vec.step(actions)
    assert rew[agent] == 0.5 and term[agent] == 0
    dr, dc = STEP[moves[0]]
    assert views(vec)[agent][V - dr, V - dc] == BODY  # the old head cell is now body
    assert views(vec)[agent][V, V] == HEAD
    vec.close()


def test_log_counts_snake_episodes():
    n = 32
    vec = pufferlib.make("snake", total_agents=n, num_snakes=16, width=30, height=30,
                         num_food=40, max_snake_length=50, food_reward=0.25)
    vec.reset(5)
    rng = np.random.default_rng(2)
    steps, ret, eaten = np.zeros(n), np.zeros(n), np.zeros(n)
    lengths, returns, scores = [], [], []
    for _ in range(1000):
        actions = np.where(rng.random(n) < 0.2, rng.integers(0, 4, n), safe_actions(vec, rng))
        obs, rew, term, _ = vec.step(actions)
        steps += 1
        ret += rew
        eaten += rew > 0
        for i in np.nonzero(term)[0]:
            lengths.append(steps[i])
            returns.append(ret[i])
            scores.append(1 + eaten[i])
            steps[i] = ret[i] = eaten[i] = 0
    log = vec.log()
    assert log["n"] == len(lengths) > 100
    assert log["episode_length"] == pytest.approx(np.mean(lengths), rel=1e-5)
    assert log["episode_return"] == pytest.approx(np.mean(returns), rel=1e-4)
    assert log["score"] == pytest.approx(np.mean(scores), rel=1e-5)
    assert log["perf"] == pytest.approx(log["score"] / 50, rel=1e-5)
    assert max(scores) > 3
    assert vec.log()["n"] == 0
    vec.close()


def test_length_is_capped():
    """max_snake_length 3: eating at full length keeps 3 cells (2 body cells per snake)."""
    vec = pufferlib.make("snake", total_agents=4, num_snakes=4, width=6, height=6,
                         num_food=12, max_snake_length=3, food_reward=0.5)
    vec.reset(1)
    rng = np.random.default_rng(3)
    most, meals = 0, 0
    for _ in range(500):
        rew = vec.step(safe_actions(vec, rng))[1]
        meals += (rew == 0.5).sum()
        world, _ = world_seen_by(views(vec)[0], 6)
        most = max(most, (world == BODY).sum())
        assert (world == BODY).sum() <= 4 * 2
    assert most >= 6 and meals > 100
    log = vec.log()
    assert log["n"] > 0 and 1 <= log["score"] <= 3
    assert log["perf"] == pytest.approx(log["score"] / 3, rel=1e-5)
    vec.close()


@pytest.mark.parametrize("kwargs, message", [
    ({"vision": 4}, "vision"),
    ({"width": 10, "height": 10, "max_snake_length": 10}, "room"),
    ({"food_reward": 2.0}, "food_reward"),
])
def test_bad_kwargs_fail(kwargs, message):
    with pytest.raises(Exception, match=message):
        pufferlib.make("snake", **kwargs)


def test_total_agents_must_fit_whole_worlds():
    with pytest.raises(Exception, match="multiple"):
        pufferlib.make("snake", total_agents=24, num_snakes=16)
