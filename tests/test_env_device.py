"""Envs stepped on the GPU (vec.device = cuda, marked gpu: skipped without one). The same env header
runs on host threads and one env per GPU thread (envs/ocean.h); with the same seed and the same
actions both give the same observations, rewards, terminals, truncations and logs, bit for bit
(the envs use puffer_sinf/puffer_cosf, and the device build rounds like the host: --fmad=false).
Training with device envs reaches the same thresholds as with host envs."""
import time

import numpy as np
import pytest

import pufferlib
from pufferlib import _C

pytestmark = pytest.mark.gpu


def cuda_available():
    try:
        return _C.has_cuda and _C.cuda_device_count() > 0
    except AttributeError:
        return False


needs_gpu = pytest.mark.skipif(not cuda_available(), reason="no CUDA GPU or a CPU-only build")

# agents per env for the multi-agent envs
MULTI = {"target": 8, "snake": 16}


def random_actions(rng, vec):
    cols = []
    for size in vec.act_sizes:
        if size == 1:
            cols.append(rng.uniform(-1.5, 1.5, vec.num_agents))
        else:
            cols.append(rng.integers(0, size, vec.num_agents).astype(np.float32))
    return np.stack(cols, axis=1).astype(np.float32)


def poison(vec):
    """NaN/255 in every host buffer, so a value the device never wrote cannot pass as equal."""
    for name in ("observations", "rewards", "terminals", "truncations"):
        arr = getattr(vec, name)
        arr[...] = 255 if arr.dtype == np.uint8 else np.nan


@needs_gpu
@pytest.mark.parametrize("env_name", pufferlib.available_envs())
def test_host_and_device_steps_are_identical(env_name):
    agents = MULTI.get(env_name, 1) * 64
    host = pufferlib.make(env_name, total_agents=agents, num_buffers=2, num_threads=2)
    dev = pufferlib.make(env_name, total_agents=agents, num_buffers=2, num_threads=2, device="cuda")
    assert dev.device == "cuda:0" and host.device == "cpu"
    poison(dev)
    seed = int(np.random.default_rng().integers(1 << 30))
    obs_h, obs_d = host.reset(seed).copy(), dev.reset(seed).copy()
    assert np.array_equal(obs_h, obs_d), "reset observations differ"
    rng = np.random.default_rng(seed)
    events = 0  # episode ends and rewards: the comparison must cross them
    for step in range(400):
        actions = random_actions(rng, host)
        out_h = [a.copy() for a in host.step(actions)]
        poison(dev)
        out_d = [a.copy() for a in dev.step(actions)]
        for name, a, b in zip(("observations", "rewards", "terminals", "truncations"), out_h, out_d):
            assert np.array_equal(a, b), f"{env_name}: {name} differ at step {step}"
        events += int(out_h[2].sum() + out_h[3].sum() + np.count_nonzero(out_h[1]))
        if step % 100 == 99:
            assert host.log() == dev.log(), f"{env_name}: logs differ at step {step}"
    assert events > 0, "no reward and no episode end: the comparison saw nothing happen"
    host.close()
    dev.close()


@needs_gpu
def test_device_buffer_steps_run_alone():
    vec = pufferlib.make("breakout", total_agents=4096, num_buffers=4, device="cuda")
    vec.reset(1)
    vec.actions[:] = random_actions(np.random.default_rng(0), vec)
    vec.step()
    seconds = vec.bench_device(graphs=5)
    assert 0 < seconds < 0.01
    log = vec.log()
    assert log["n"] > 0   # 5 x 64 steps of 4096 envs end episodes, summed on the device
    vec.close()


@needs_gpu
def test_closed_device_vec_refuses_calls():
    vec = pufferlib.make("squared", total_agents=64, device="cuda")
    vec.reset(0)
    vec.close()
    with pytest.raises(RuntimeError):
        vec.step()


def train_until(env_name, metric, target, device, window=3, time_limit=240):
    from pufferlib.config import load_config
    from pufferlib.native_trainer import NativeTrainer
    config = load_config(env_name)
    v = config["vec"]
    vec = pufferlib.make(env_name, total_agents=v["total_agents"], num_buffers=v["num_buffers"],
                         num_threads=v["num_threads"], seed=config["seed"], device=device, **config["env"])
    trainer = NativeTrainer(config, vec, "cuda")
    start, history, reached = time.time(), [], None
    while trainer.epoch_index < trainer.total_epochs and time.time() - start < time_limit:
        logs = trainer.epoch()
        if f"env/{metric}" in logs:
            history.append(logs[f"env/{metric}"])
        if reached is None and len(history) >= window and np.mean(history[-window:]) >= target:
            reached = time.time() - start
    final = np.mean(history[-window:]) if history else float("nan")
    sps = trainer.global_step / (time.time() - start)
    if hasattr(trainer, "close"):
        trainer.close()
    vec.close()
    return final, reached, sps


@needs_gpu
@pytest.mark.parametrize("env_name, metric, target", [
    ("cartpole", "episode_return", 195.0),
    ("squared", "perf", 0.95),
    ("breakout", "perf", 0.9),
])
def test_training_with_device_envs_reaches_score(env_name, metric, target):
    final, reached, sps = train_until(env_name, metric, target, "cuda")
    print(f"{env_name} on device envs: final {metric} {final:.3f}, reached {target} at {reached} s, "
          f"{sps / 1e6:.1f}M SPS")
    assert reached is not None
    assert final >= 0.9 * target
