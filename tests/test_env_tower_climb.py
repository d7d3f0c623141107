"""Tower Climb (reference 4.0 rules): the move rules on hand-built worlds (a C harness), and
through the runtime: observation layout and range, episode ends and log, determinism,
rendering, learning on the CPU."""
import os
import shutil
import subprocess
import time

import numpy as np
import pytest

import pufferlib

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VIEW = 225
PX, PZ, NX, NZ, GRAB, LET_GO = range(6)


def test_rules_on_hand_built_worlds(tmp_path):
    """Walk, climb (and its reward), ledges and hanging moves, letting go, grab/push/pull,
    falling blocks with edge support, the goal, the 60-step limit, generated levels."""
    cc = shutil.which("gcc") or shutil.which("cc")
    if cc is None:
        pytest.skip("no C compiler")
    exe = tmp_path / "rules"
    build = subprocess.run([cc, "-O1", "-g", "-fsanitize=address,undefined", "-fno-sanitize-recover",
                            "-I", os.path.join(ROOT, "envs"), "-I", os.path.join(ROOT, "envs", "tower_climb"),
                            os.path.join(ROOT, "tests", "c", "tower_climb_rules.c"), "-lm", "-o", str(exe)],
                           capture_output=True, text=True)
    assert build.returncode == 0, build.stderr
    run = subprocess.run([str(exe)], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0 and run.stdout.strip() == "ok", run.stdout + run.stderr


def window(obs):
    return obs[..., :VIEW].reshape(obs.shape[:-1] + (5, 5, 9))  # (floor, z, x)


def test_observation_layout_and_range():
    n = 64
    vec = pufferlib.make("tower_climb", total_agents=n)
    obs = vec.reset(1)
    assert obs.shape == (n, 228) and obs.dtype == np.uint8
    assert (obs[:, VIEW] == NZ).all() and (obs[:, VIEW + 1:] == 0).all()  # facing -z, standing, free
    rng = np.random.default_rng(0)
    hanging_seen = holding_seen = goal_seen = 0
    for _ in range(600):
        w = window(obs)
        assert (w <= 3).all()
        assert ((w == 3).sum(axis=(1, 2, 3)) == 1).all()  # the robot, exactly once
        assert ((w == 2).sum(axis=(1, 2, 3)) <= 1).all()
        assert (obs[:, VIEW] <= 3).all() and (obs[:, VIEW + 1:] <= 1).all()
        # the robot stands on a block (or hangs), never inside one
        y, z, x = np.nonzero(w == 3)[1:]
        standing = obs[:, VIEW + 1] == 0
        below = w[np.arange(n), np.maximum(y - 1, 0), z, x]
        assert (below[standing & (y > 0)] >= 1).all()
        hanging_seen += int(obs[:, VIEW + 1].sum())
        holding_seen += int(obs[:, VIEW + 2].sum())
        goal_seen += int((w == 2).any(axis=(1, 2, 3)).sum())
        obs = vec.step(rng.integers(0, 6, (n, 1)))[0]
    assert hanging_seen > 100 and holding_seen > 100 and goal_seen > 100
    vec.close()


def test_episodes_end_and_log():
    n = 64
    vec = pufferlib.make("tower_climb", total_agents=n)
    vec.reset(2)
    rng = np.random.default_rng(1)
    steps = np.zeros(n, int)
    returns = np.zeros(n)
    ends = []
    for _ in range(700):
        _, rew, term, trunc = vec.step(rng.integers(0, 6, (n, 1)))
        steps += 1
        returns += rew
        assert (rew >= -1).all() and (rew <= 1).all()
        assert not (term.astype(bool) & trunc.astype(bool)).any()
        # truncation exactly at 60 steps; terminals at the goal (reward 1) or a death (-1)
        assert (steps[trunc == 1] == 60).all() and (steps[term == 0] <= 60).all()
        assert np.isin(rew[term == 1], [1.0, -1.0]).all()
        for i in np.nonzero((term == 1) | (trunc == 1))[0]:
            ends.append((steps[i], returns[i], rew[i] == 1.0 and term[i] == 1))
            steps[i], returns[i] = 0, 0
    log = vec.log()
    lengths, rets, wins = np.array(ends).T
    assert log["n"] == len(ends) > 500
    assert log["episode_length"] == pytest.approx(lengths.mean(), rel=1e-5)
    assert log["episode_return"] == pytest.approx(rets.mean(), rel=1e-4, abs=1e-5)
    assert log["perf"] == pytest.approx(wins.mean(), abs=1e-6)
    assert 0 < log["score"] < 3
    vec.close()


def test_same_seed_same_game():
    def play(seed):
        vec = pufferlib.make("tower_climb", total_agents=8, num_threads=2)
        out = [np.pad(vec.reset(seed), ((0, 0), (0, 2))).astype(np.float32)]
        rng = np.random.default_rng(seed)
        for _ in range(200):
            o, r, d, _ = vec.step(rng.integers(0, 6, (8, 1)))
            out.append(np.concatenate([o, r[:, None], d[:, None]], 1))
        vec.close()
        return np.array(out)
    a, b, c = play(5), play(5), play(6)
    assert (a == b).all() and not (a == c).all()


@pytest.mark.parametrize("kwargs, message", [
    ({"reward_climb_row": 2.0}, "reward_climb_row must be in"),
    ({"reward_illegal_move": -3.0}, "reward_illegal_move must be in"),
    ({"num_maps": 50}, "unknown"),
])
def test_bad_kwargs_fail(kwargs, message):
    with pytest.raises(Exception, match=message):
        pufferlib.make("tower_climb", **kwargs)


def test_rendered_frame_is_not_blank(tmp_path):
    try:
        vec = pufferlib.make("tower_climb", render="headless")
    except RuntimeError as e:
        pytest.skip(str(e))
    vec.reset(3)
    vec.render(0)
    path = tmp_path / "tower.png"
    vec.save_frame(path)
    from PIL import Image
    img = np.asarray(Image.open(path).convert("RGB")).astype(int)
    assert img.shape == (720, 720, 3)
    gold = (img[..., 0] > 200) & (img[..., 1] > 150) & (img[..., 2] < 100)
    cyan = (img[..., 0] < 60) & (img[..., 1] > 150) & (img[..., 2] > 150)
    grey = (abs(img[..., 0] - img[..., 1]) < 10) & (img[..., 0] > 60)
    assert gold.sum() > 200 and cyan.sum() > 100 and grey.sum() > 5000  # goal, robot, blocks
    vec.close()


# A small CI config. A random agent averages an episode return of about -0.73 (it falls out of
# the world in most episodes); learning first to stay alive and climb lifts the return.
LEARN = {'vec': {'total_agents': 512, 'num_buffers': 1, 'num_threads': 2},
         'policy': {'hidden_size': 64, 'num_layers': 1},
         'train': {'horizon': 32, 'minibatch_size': 4096, 'learning_rate': 0.01,
                   'total_timesteps': 5_000_000, 'ent_coef': 0.01, 'gamma': 0.95,
                   'gae_lambda': 0.9, 'replay_ratio': 1.0}}


def test_random_play_return():
    vec = pufferlib.make("tower_climb", total_agents=256)
    vec.reset(4)
    rng = np.random.default_rng(4)
    for _ in range(400):
        vec.step(rng.integers(0, 6, (256, 1)))
    ret = vec.log()["episode_return"]
    assert -0.85 < ret < -0.6  # the baseline the learning check must beat
    vec.close()


def test_learns_to_survive_and_climb_on_the_cpu():
    from pufferlib.config import load_config
    from pufferlib.native_trainer import NativeTrainer, has_native_trainer
    if not has_native_trainer():
        pytest.skip("built without the native trainer")
    config = load_config("tower_climb")
    for section, values in LEARN.items():
        config.setdefault(section, {}).update(values)
    v = config['vec']
    vec = pufferlib.make("tower_climb", total_agents=v['total_agents'], num_buffers=v['num_buffers'],
                         num_threads=v['num_threads'], seed=config['seed'], **config['env'])
    trainer = NativeTrainer(config, vec, 'cpu')
    start, returns = time.time(), []
    while trainer.epoch_index < trainer.total_epochs and time.time() - start < 300:
        logs = trainer.epoch()
        if 'env/episode_return' in logs:
            returns.append(logs['env/episode_return'])
        if len(returns) >= 3 and np.mean(returns[-3:]) >= -0.4:
            break
    print(f"tower_climb: return {np.mean(returns[-3:]):.3f} after {trainer.global_step} steps "
          f"in {time.time() - start:.1f} s")
    trainer.close()
    vec.close()
    assert np.mean(returns[-3:]) >= -0.4


def test_generated_levels_are_mostly_solvable(tmp_path):
    """Breadth-first search over the env's own rules (scripts/tower_climb_solvable.c): most
    generated levels can be solved within the 60-step episode."""
    cc = shutil.which("gcc") or shutil.which("cc")
    if cc is None:
        pytest.skip("no C compiler")
    exe = tmp_path / "solve"
    build = subprocess.run([cc, "-O2", "-I", os.path.join(ROOT, "envs"), "-I", os.path.join(ROOT, "envs", "tower_climb"),
                            os.path.join(ROOT, "scripts", "tower_climb_solvable.c"), "-lm", "-o", str(exe)],
                           capture_output=True, text=True)
    assert build.returncode == 0, build.stderr
    run = subprocess.run([str(exe), "gen", "30", "3"], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    solved = int(run.stdout.split(":")[1].split()[0])
    assert solved >= 24, run.stdout
