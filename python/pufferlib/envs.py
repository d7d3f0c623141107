"""Ocean env libraries: discovery and pufferlib.make."""
import os
from pathlib import Path

import numpy as np

from . import config as cfg

OCEAN_DIR = Path(__file__).parent / "ocean"


def available_envs():
    """Names of the env libraries installed with the package."""
    names = []
    for p in OCEAN_DIR.glob("libocean_*.so"):
        name = p.name[len("libocean_"):-len(".so")]
        if not name.endswith(("_headless", "_desktop", "_cuda")):
            names.append(name)
    return sorted(names)


class UnknownEnvError(ValueError):
    pass


def library_path(name, render=None, device="cpu"):
    """Path of an env library. render: None (no raylib), 'headless' or 'desktop'; device 'cuda':
    the env's CUDA variant (its envs step on the GPU)."""
    envs = available_envs()
    if name not in envs:
        hint = cfg.closest(name, envs)
        hint = f" Did you mean '{hint}'?" if hint else ""
        raise UnknownEnvError(f"unknown env '{name}'.{hint} Available envs: {', '.join(envs) or '(none built)'}")
    if device != "cpu":
        if render:
            raise ValueError(f"env '{name}': rendering needs vec.device cpu (the CUDA variant has no raylib)")
        path = OCEAN_DIR / f"libocean_{name}_cuda.so"
        if not path.exists():
            raise RuntimeError(f"env '{name}' has no CUDA build (nvcc was not found at build time): "
                               "use --vec.device cpu")
        return str(path)
    suffix = f"_{render}" if render else ""
    path = OCEAN_DIR / f"libocean_{name}{suffix}.so"
    if not path.exists():
        raise RuntimeError(f"env '{name}' was built without {render} rendering (raylib was not found at build time)")
    return str(path)


def has_display():
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def render_variant(mode="auto"):
    """'desktop' when a display exists, else 'headless'; mode forces one."""
    if mode in ("desktop", "headless"):
        return mode
    return "desktop" if has_display() else "headless"


def env_kwargs(name, overrides=None):
    """The env's [env] section merged with overrides, as (keys, float values)."""
    config = cfg.load_config(name)
    kwargs = dict(config.get("env", {}))
    kwargs.update(overrides or {})
    keys, values = [], []
    for key, value in kwargs.items():
        if isinstance(value, bool):
            value = float(value)
        if not isinstance(value, (int, float)):
            raise cfg.ConfigError(f"[env] key '{key}' of env {name} must be a number, got {value!r}")
        keys.append(str(key))
        values.append(float(value))
    return keys, values


def env_device(wanted, env_name, trainer_device, gpu_id=0):
    """Where a run's envs step. 'auto': on the GPU when the trainer runs there and the env has a
    CUDA build (measured faster on the H200 for every shipped env: BENCHMARKS.md), else on the CPU.
    'cuda' is this rank's GPU; 'cpu' and 'cuda:N' are taken as given."""
    wanted = str(wanted)
    if wanted == "auto":
        on_gpu = str(trainer_device).startswith("cuda")
        has_build = (OCEAN_DIR / f"libocean_{env_name}_cuda.so").exists()
        return f"cuda:{gpu_id}" if on_gpu and has_build else "cpu"
    return f"cuda:{gpu_id}" if wanted == "cuda" else wanted


def env_buffers(device, num_buffers):
    """Device envs step as one buffer: no host work to overlap, and one launch per step is faster
    than several (BENCHMARKS.md). vec.num_buffers applies to host envs."""
    return 1 if str(device) != "cpu" else int(num_buffers)


def parse_device(device):
    """'cpu' -> -1; 'cuda' or 'cuda:N' -> the GPU ordinal."""
    if device == "cpu":
        return -1
    if device == "cuda":
        return 0
    if isinstance(device, str) and device.startswith("cuda:") and device[5:].isdigit():
        return int(device[5:])
    raise ValueError(f"vec.device must be cpu, cuda or cuda:N, got {device!r}")


def make(name, total_agents=None, num_buffers=1, num_threads=1, seed=0, render=None, device="cpu",
         **env_overrides):
    """A vector env of `name` whose buffers are numpy views of native memory.

    device 'cuda' (or 'cuda:N'): the envs step on the GPU; the numpy buffers are host mirrors
    refreshed by reset() and step(), and the native trainer reads the device buffers directly.

    total_agents defaults to one env's agents. Keyword arguments other than the vec ones
    override the env's [env] ini section. render: None (training library), 'auto',
    'desktop' or 'headless' (loads a raylib variant so render()/save_frame() work).
    """
    from .vector import VecEnv
    variant = render_variant(render) if render else None
    gpu_id = parse_device(device)
    path = library_path(name, variant, "cpu" if gpu_id < 0 else "cuda")
    keys, values = env_kwargs(name, env_overrides)
    if total_agents is None:
        from . import _C
        total_agents = _C.agents_per_env(path, keys, values)
    return VecEnv(name, path, int(total_agents), int(num_buffers), int(num_threads), int(seed), keys, values,
                  gpu_id)
