"""Squared's rules: +1 on the target, -1 for leaving the grid or timing out."""
import numpy as np

import pufferlib

NOOP, DOWN, UP, LEFT, RIGHT = range(5)


def grid(vec, i=0):
    return vec.observations[i].reshape(11, 11)


def test_reset_puts_agent_in_centre_and_one_target():
    vec = pufferlib.make("squared", total_agents=64)
    vec.reset(1)
    for i in range(64):
        g = grid(vec, i)
        assert g[5, 5] == 1
        assert (g == 2).sum() == 1 and (g == 1).sum() == 1
    targets = {tuple(np.argwhere(grid(vec, i) == 2)[0]) for i in range(64)}
    assert len(targets) > 10  # random over cells
    vec.close()


def test_reaching_target_gives_plus_one():
    vec = pufferlib.make("squared")
    vec.reset(2)
    tr, tc = np.argwhere(grid(vec) == 2)[0]
    moves = [DOWN if tr > 5 else UP] * abs(tr - 5) + [RIGHT if tc > 5 else LEFT] * abs(tc - 5)
    for k, m in enumerate(moves):
        _, rew, term, _ = vec.step(np.array([[m]]))
        if k < len(moves) - 1:
            assert rew[0] == 0 and term[0] == 0
    assert rew[0] == 1 and term[0] == 1
    log = vec.log()
    assert log == {"perf": 1.0, "score": 1.0, "episode_return": 1.0,
                   "episode_length": float(len(moves)), "n": 1.0}
    vec.close()


def test_leaving_grid_gives_minus_one():
    vec = pufferlib.make("squared")
    vec.reset(4)
    tr, tc = np.argwhere(grid(vec) == 2)[0]
    direction = UP if tr > 5 or tc != 5 else DOWN  # never crosses the target
    for k in range(6):
        _, rew, term, _ = vec.step(np.array([[direction]]))
        if k < 5:
            assert term[0] == 0
    assert rew[0] == -1 and term[0] == 1
    assert vec.log()["perf"] == 0.0
    vec.close()


def test_timeout_after_three_times_size_steps():
    vec = pufferlib.make("squared")
    vec.reset(5)
    for k in range(33):
        _, rew, term, _ = vec.step(np.array([[NOOP]]))
        assert term[0] == 0
    _, rew, term, _ = vec.step(np.array([[NOOP]]))
    assert rew[0] == -1 and term[0] == 1
    assert vec.log()["episode_length"] == 34
    vec.close()


def test_continuous_variant_moves_by_sign():
    vec = pufferlib.make("squared_continuous")
    assert vec.act_sizes == [1, 1]
    vec.reset(6)
    vec.step(np.array([[0.0, 0.9]]))   # right
    g = grid(vec)
    if (g == 1).sum():
        assert tuple(np.argwhere(g == 1)[0]) == (5, 6)
    vec.close()
