"""Freeway's rules (reference 4.0): traffic, collisions with stun and pushback, crossings and
rewards, levels and speed changes, its log, determinism, rendering and learning on the CPU."""
import time

import numpy as np
import pytest

import pufferlib

STAY, UP, DOWN = 0, 1, 2
W, H = 1216.0, 720.0
TICK = 1 / 60
START_Y = H - 32                       # chicken centre on the pavement
PLAYER_STEP = H / 3.5 * TICK           # pixels per frame
HUMAN_SCORE = [25, 20, 18, 20, 25, 18, 15, 18]
Y, LANE, SCORE, STUNNED, CARS = 0, 1, 2, 3, 4
# Speed level s moves a car (1/13) * 1.35**s road widths per second.
SPEEDS = [(1 / 13) * 1.35 ** s * TICK for s in range(6)]   # widths per frame
LEVEL_SPEEDS = [[0, 1, 2, 3, 4, 4, 3, 2, 1, 0], [0, 1, 3, 4, 5, 5, 4, 3, 1, 0],
                [0, 1, 3, 4, 5, 5, 4, 3, 1, 0], [5, 4, 2, 4, 5, 5, 4, 2, 4, 5]]
LEVEL_CARS = [[1] * 10, [1, 2, 2, 3, 2, 1, 2, 3, 2, 2], [3, 3, 1, 3, 1, 1, 3, 1, 3, 1], [1] * 10]


def car_x(obs):
    return obs[..., CARS:].reshape(obs.shape[:-1] + (10, 3))


def lane_moves(prev, obs):
    """Per-lane car displacement (widths) between two observations, undoing the wrap."""
    d = car_x(obs)[..., 0] - car_x(prev)[..., 0]
    return d - np.round(d)


def test_reset_observation_places_level_1_cars():
    vec = pufferlib.make("freeway", total_agents=2, level=1, env_randomization=0)
    obs = vec.reset(1)
    assert obs.shape == (2, 34) and obs.dtype == np.float32
    np.testing.assert_allclose(obs[:, :CARS], [[START_Y / H, 0, 0, 0]] * 2, rtol=1e-6)
    cars = car_x(obs)[0]
    # right-moving lanes (0-4) from the left edge, left-moving lanes (5-9) from the right edge
    np.testing.assert_allclose(cars[1], [0, 0.1, 0], atol=1e-6)
    np.testing.assert_allclose(cars[3], [0, 0.1, 0.2], atol=1e-6)
    np.testing.assert_allclose(cars[6], [1, 0.6, 0], atol=1e-6)
    np.testing.assert_allclose(cars[7], [1, 0.9, 0.8], atol=1e-6)
    np.testing.assert_allclose(cars[5], [1, 0, 0], atol=1e-6)  # one truck, empty slots are 0
    vec.close()


@pytest.mark.parametrize("level", [0, 2, 3])
def test_lanes_move_at_their_speed(level):
    vec = pufferlib.make("freeway", total_agents=4, level=level)
    prev = vec.reset(2).copy()
    filled = np.arange(3)[None, :] < np.array(LEVEL_CARS[level])[:, None]   # (lanes, slots)
    speed = np.array([SPEEDS[s] for s in LEVEL_SPEEDS[level]]) * np.array([1] * 5 + [-1] * 5)
    for _ in range(20):
        obs = vec.step(np.full((4, 1), STAY))[0].copy()
        d = car_x(obs) - car_x(prev)
        d -= np.round(d)  # undo the wrap
        expected = np.broadcast_to(4 * speed[:, None], d.shape)
        np.testing.assert_allclose(d[:, filled], expected[:, filled], atol=2e-5)
        assert (car_x(obs)[:, ~filled] == 0).all()
        prev = obs
    vec.close()


def test_cars_stay_on_the_wrapped_road():
    vec = pufferlib.make("freeway", total_agents=32)
    obs = vec.reset(3)
    lo, hi = -64 / W, 1 + 64 / W  # a truck's half length past either edge
    for _ in range(400):
        assert (car_x(obs) >= lo).all() and (car_x(obs) <= hi).all()
        obs = vec.step(np.random.default_rng(0).integers(0, 3, (32, 1)))[0]
    vec.close()


def test_walking_up_and_down():
    vec = pufferlib.make("freeway", total_agents=1, level=0, env_randomization=0)
    obs0 = vec.reset(1).copy()
    obs = vec.step([[DOWN]])[0].copy()
    assert obs[0, Y] == obs0[0, Y]  # already at the bottom
    obs = vec.step([[UP]])[0].copy()
    assert (obs0[0, Y] - obs[0, Y]) * H == pytest.approx(4 * PLAYER_STEP, rel=1e-4)
    obs2 = vec.step([[DOWN]])[0].copy()
    assert obs2[0, Y] == pytest.approx(obs0[0, Y], rel=1e-6)
    vec.close()


def test_standing_chicken_is_hit_by_the_lane_0_car():
    """At the start the chicken's box (64 high) reaches into lane 0. Level 0, no randomisation:
    the lane 0 car starts at x = 0 and moves 1216/13/60 px per frame, so its front passes the
    chicken's left edge (304 - 32 = 272) when x > 240: frame 154, in step 39."""
    vec = pufferlib.make("freeway", total_agents=1, level=0, env_randomization=0)
    vec.reset(1)
    for step in range(1, 45):
        obs, rew, term, _ = vec.step([[STAY]])
        if obs[0, STUNNED]:
            break
        assert rew[0] == 0
    # the hit test comes before the cars move in a frame: frame t sees the car at (t - 1) * v
    frame = int(np.ceil(240 / (W * SPEEDS[0]))) + 1
    assert step == int(np.ceil(frame / 4)) == 39
    assert rew[0] == pytest.approx(-0.01)
    vec.close()


def hit_in(rew):
    """Hits in a step, from its dense reward: lanes give 0.1, a crossing 1.0, a hit -0.01."""
    return (-np.round(np.asarray(rew) * 100).astype(int)) % 10


def test_stun_pushes_back_and_ignores_actions():
    n = 64
    vec = pufferlib.make("freeway", total_agents=n, game_length=30)
    obs = vec.reset(4).copy()
    pushed = 0
    for _ in range(800):
        prev = obs
        o, rew, term, _ = vec.step(np.full((n, 1), UP))
        obs = o.copy()
        whole = (prev[:, STUNNED] == 1) & (obs[:, STUNNED] == 1) & (hit_in(rew) == 0) & (term == 0)
        # 4 stunned frames push the chicken down 1.5 lanes / 40 frames each, whatever the action
        dy = (obs[whole, Y] - prev[whole, Y]) * H
        at_bottom = obs[whole, Y] * H >= START_Y - 1e-3
        np.testing.assert_allclose(dy[~at_bottom], 4 * 1.5 * 64 / 40, rtol=1e-4)
        pushed += int((~at_bottom).sum())
    assert pushed > 100
    vec.close()


def test_difficulty_1_sends_the_chicken_home():
    n = 64
    vec = pufferlib.make("freeway", total_agents=n, difficulty=1, game_length=30)
    obs = vec.reset(5).copy()
    homes = 0
    for _ in range(600):
        prev = obs
        o, rew, term, _ = vec.step(np.full((n, 1), UP))
        obs = o.copy()
        assert (obs[:, STUNNED] == 0).all()
        hit = (hit_in(rew) > 0) & (term == 0)
        # sent to the start in the frame of the hit, then walks up for the frames left
        assert (obs[hit, Y] * H >= START_Y - 3 * PLAYER_STEP - 1e-3).all()
        homes += int((hit & (prev[:, Y] * H < START_Y - 100)).sum())
    assert homes > 20
    vec.close()


@pytest.mark.parametrize("level", [0, 2, 6])
def test_crossing_rewards_score_and_log(level):
    """Always up: +0.1 per new lane, 1.0 for the crossing frame; the log matches the play."""
    n = 16
    vec = pufferlib.make("freeway", total_agents=n, level=level, game_length=40)
    obs = vec.reset(6).copy()
    returns, lanes, crossings, hits = (np.zeros(n) for _ in range(4))
    finished = []
    for _ in range(4 * 600):
        prev = obs
        o, rew, term, _ = vec.step(np.full((n, 1), UP))
        obs = o.copy()
        returns += rew
        h = hit_in(rew)
        hits += h
        for i in range(n):
            r = round(float(rew[i]) + 0.01 * h[i], 4)
            assert r in (0.0, 0.1, 1.0)
            lanes[i] += r == 0.1
            crossings[i] += r == 1.0
            if term[i]:
                finished.append((returns[i], lanes[i], crossings[i], hits[i]))
                returns[i] = lanes[i] = crossings[i] = hits[i] = 0
                continue
            progress = round((obs[i, LANE] - prev[i, LANE]) * 10)
            if r == 1.0:  # crossed: back to the start, lane count restarts, score + 1
                assert obs[i, LANE] == 0 and obs[i, Y] * H >= START_Y - 3 * PLAYER_STEP - 1e-3
                assert (obs[i, SCORE] - prev[i, SCORE]) * HUMAN_SCORE[level] == pytest.approx(1)
            else:
                assert progress == (r == 0.1) and obs[i, SCORE] == prev[i, SCORE]
        if len(finished) >= 2 * n:
            break
    log = vec.log()
    ret, lane_rewards, crossed, hit = np.array(finished).T
    assert log["n"] == len(finished) >= n
    assert crossed.sum() >= 8  # level 2 is hard for a chicken that never waits
    # each crossing pays 9 lanes at 0.1 and 1.0 for the last; a started crossing up to 9 lanes
    assert ((lane_rewards - 9 * crossed >= 0) & (lane_rewards - 9 * crossed <= 9)).all()
    np.testing.assert_allclose(ret, 0.1 * lane_rewards + crossed - 0.01 * hit, atol=1e-3)
    assert log["score"] == pytest.approx(crossed.mean(), rel=1e-5)
    assert log["episode_return"] == pytest.approx(ret.mean(), rel=1e-4)
    assert log["hits"] == pytest.approx(hit.mean(), rel=1e-5)
    assert log["perf"] == pytest.approx(log["score"] / (HUMAN_SCORE[level] * 40 / 136), rel=1e-5)
    assert log["episode_length"] == 40 * 60 and log["up_action_frac"] == 1
    vec.close()


def test_sparse_rewards_pay_one_per_crossing():
    n = 16
    vec = pufferlib.make("freeway", total_agents=n, use_dense_rewards=0, game_length=40)
    vec.reset(7)
    total = np.zeros(n)
    for _ in range(600):
        _, rew, term, _ = vec.step(np.full((n, 1), UP))
        assert set(np.unique(rew)) <= {0.0, 1.0}
        total += rew
    log = vec.log()
    assert log["n"] == n and log["episode_return"] == log["score"] == total.mean() > 2
    vec.close()


def test_episode_is_136_seconds():
    vec = pufferlib.make("freeway", total_agents=2)
    vec.reset(8)
    for step in range(1, 3000):
        _, _, term, _ = vec.step([[STAY], [DOWN]])
        if term.any():
            break
    assert step == 136 * 60 // 4 and term.all()
    log = vec.log()
    assert log["n"] == 2 and log["episode_length"] == 8160 and log["up_action_frac"] == 0
    assert log["score"] == 0 and log["perf"] == 0
    vec.close()


def lane_speed_levels(prev, obs):
    """Per-lane speed level (0-5) from the car displacement of one 4-frame step."""
    v = np.abs(lane_moves(prev, obs)) / 4
    levels = np.argmin(np.abs(v[..., None] - np.array(SPEEDS)), axis=-1)
    assert np.allclose(v, np.array(SPEEDS)[levels], atol=3e-6)
    return levels


@pytest.mark.parametrize("level", [1, 5])
def test_speed_changes_only_in_levels_4_to_7(level):
    n = 32
    vec = pufferlib.make("freeway", total_agents=n, level=level, game_length=60)
    obs = vec.reset(9).copy()
    base = np.array(LEVEL_SPEEDS[level % 4])
    speeds = []
    for _ in range(899):
        prev = obs
        obs = vec.step(np.full((n, 1), STAY))[0].copy()
        speeds.append(lane_speed_levels(prev, obs))
    speeds = np.array(speeds)  # (steps, envs, lanes); the speed may change after frame 360k
    changes = np.nonzero((speeds[1:] != speeds[:-1]).any(axis=(1, 2)))[0] + 1
    if level < 4:
        assert (speeds == base).all()
    else:
        assert (speeds[:90] == base).all()
        assert set(changes) <= {90, 180, 270, 360, 450, 540, 630, 720, 810}
        assert len(changes) >= 8
        assert (np.abs(np.diff(speeds, axis=0)) <= 1).all()
        assert (np.abs(speeds - base) <= 2).all()
        assert (speeds != base).mean() > 0.2
    vec.close()


def test_random_level_each_episode_and_observation_range():
    n = 64
    vec = pufferlib.make("freeway", total_agents=n, game_length=5)
    rng = np.random.default_rng(0)
    obs = vec.reset(10)
    layouts = set()
    for _ in range(400):
        assert (obs[:, Y] >= 32 / H - 1e-6).all() and (obs[:, Y] <= START_Y / H + 1e-6).all()
        assert np.isin(np.round(obs[:, LANE] * 10, 4), np.arange(10)).all()
        assert np.isin(obs[:, STUNNED], [0, 1]).all()
        assert (obs[:, SCORE] >= 0).all() and (obs[:, SCORE] <= 45 / 15).all()
        filled = tuple(map(tuple, (car_x(obs) != 0).sum(-1)))
        layouts |= set(filled)
        obs, _, _, _ = vec.step(rng.integers(0, 3, (n, 1)))
    # every episode of every env draws a level: all four car layouts show up
    assert {tuple(c) for c in LEVEL_CARS} <= layouts
    vec.close()


def test_same_seed_same_game_and_reset_repeats():
    def play(seed, vec=None):
        vec = vec or pufferlib.make("freeway", total_agents=8, num_threads=2)
        out = [np.pad(vec.reset(seed), ((0, 0), (0, 2)))]
        rng = np.random.default_rng(seed)
        for _ in range(300):
            o, r, d, _ = vec.step(rng.integers(0, 3, (8, 1)))
            out.append(np.concatenate([o, r[:, None], d[:, None]], 1).copy())
        return vec, np.array(out)
    vec, a = play(11)
    _, b = play(11)
    _, again = play(11, vec)
    _, c = play(12)
    assert (a == b).all() and (a == again).all()
    assert not (a == c).all()


@pytest.mark.parametrize("kwargs, message", [
    ({"level": 8}, "level must be -1"),
    ({"difficulty": 2}, "difficulty must be 0 or 1"),
    ({"enable_human_player": 1}, "enable_human_player"),
    ({"frameskip": 0}, "frameskip"),
    ({"lane_size": 80}, "must fit in height"),
    ({"game_length": 0}, "game_length"),
])
def test_bad_kwargs_fail(kwargs, message):
    with pytest.raises(Exception, match=message):
        pufferlib.make("freeway", **kwargs)


def test_rendered_frame_is_not_blank(tmp_path):
    try:
        vec = pufferlib.make("freeway", render="headless", level=2)
    except RuntimeError as e:
        pytest.skip(str(e))
    vec.reset(1)
    vec.render(0)
    path = tmp_path / "freeway.png"
    vec.save_frame(path)
    from PIL import Image
    img = np.asarray(Image.open(path).convert("RGB"))
    assert img.shape == (720, 1216, 3)
    colours = np.unique(img.reshape(-1, 3), axis=0)
    assert len(colours) > 8  # road, markings, cars of several colours, the chicken, text
    chicken = img[int(START_Y) - 40:, 270:340]
    assert (chicken.min(-1) > 200).sum() > 100  # the white chicken at its start
    vec.close()


# A small CI config: 10-second games (150 steps) so episodes, and perf, come often; a small
# network. A random agent scores 0 (it never gets across); walking up blindly reaches ~0.6.
LEARN = {'vec': {'total_agents': 512, 'num_buffers': 1, 'num_threads': 2},
         'policy': {'hidden_size': 32, 'num_layers': 1},
         'env': {'game_length': 10},
         'train': {'horizon': 32, 'minibatch_size': 4096, 'learning_rate': 0.01,
                   'total_timesteps': 3_000_000, 'ent_coef': 0.01, 'gamma': 0.99,
                   'gae_lambda': 0.9, 'replay_ratio': 1.0}}


def test_learns_to_cross_on_the_cpu():
    from pufferlib.config import load_config
    from pufferlib.native_trainer import NativeTrainer, has_native_trainer
    if not has_native_trainer():
        pytest.skip("built without the native trainer")
    config = load_config("freeway")
    for section, values in LEARN.items():
        config.setdefault(section, {}).update(values)
    v = config['vec']
    vec = pufferlib.make("freeway", total_agents=v['total_agents'], num_buffers=v['num_buffers'],
                         num_threads=v['num_threads'], seed=config['seed'], **config['env'])
    trainer = NativeTrainer(config, vec, 'cpu')
    start, perfs = time.time(), []
    while trainer.epoch_index < trainer.total_epochs and time.time() - start < 300:
        logs = trainer.epoch()
        if 'env/perf' in logs:
            perfs.append(logs['env/perf'])
        if len(perfs) >= 2 and np.mean(perfs[-2:]) >= 0.15:
            break
    print(f"freeway: perf {np.mean(perfs[-2:]):.3f} after {trainer.global_step} steps "
          f"in {time.time() - start:.1f} s")
    trainer.close()
    vec.close()
    assert np.mean(perfs[-2:]) >= 0.15
