"""The training driver: one loop for every backend.

A backend is a class built as Backend(config, vec, device) with:
    epoch() -> dict         one rollout + one training pass; flat float logs
    global_step, epoch_index, total_epochs, num_params
    weights() -> {name: fp32 array}   in checkpoint order (see checkpoint.py)
    load_weights({name: array})
    state_dict() / load_state_dict(d) optimizer and counters, for resuming
"""
import json
import math
import os
import time
from pathlib import Path

from . import checkpoint
from .dashboard import Dashboard
from .envs import make


class NonFiniteLoss(ValueError):
    """Raised by a backend whose loss became NaN or inf, before the optimizer step."""


class TrainingStopped(RuntimeError):
    """A run that stopped early (NaN loss); carries the last good checkpoint path."""

    def __init__(self, message, last_checkpoint=None):
        super().__init__(message)
        self.last_checkpoint = last_checkpoint


def native_available():
    try:
        from . import _C
        return bool(getattr(_C, "has_native_trainer", False))
    except ImportError:
        return False


def choose_backend(requested):
    """(name, reason). auto = native when built, else torch."""
    if requested == "native":
        if not native_available():
            raise RuntimeError("--backend native: this build has no native trainer yet; use --backend torch")
        return "native", "requested"
    if requested == "torch":
        return "torch", "requested"
    if native_available():
        return "native", "default"
    return "torch", "native trainer not built"


def backend_class(name):
    if name == "torch":
        try:
            from .torch_trainer import TorchTrainer
        except ImportError as e:
            raise RuntimeError(f"the torch backend needs PyTorch: pip install 'pufferlib[torch]' ({e})") from None
        return _torch_backend(TorchTrainer)
    from .native_trainer import NativeTrainer
    return NativeTrainer


def _torch_backend(TorchTrainer):
    import torch

    class TorchBackend(TorchTrainer):
        """TorchTrainer plus the checkpoint side of the backend interface."""

        @property
        def num_params(self):
            return sum(p.numel() for p in self.policy.parameters())

        def weights(self):
            return {k: v.detach().float().cpu().numpy() for k, v in self.policy.state_dict().items()}

        def load_weights(self, tensors):
            state = self.policy.state_dict()
            missing = sorted(set(state) - set(tensors))
            if missing:
                raise KeyError(f"missing tensors {missing}")
            for k, v in state.items():
                if tuple(tensors[k].shape) != tuple(v.shape):
                    raise ValueError(f"tensor {k} has shape {tuple(tensors[k].shape)}, the policy needs {tuple(v.shape)}")
            self.policy.load_state_dict({k: torch.from_numpy(tensors[k]).to(v.dtype) for k, v in state.items()})

    return TorchBackend


def pick_device(config, backend):
    wanted = str(config.get("torch", {}).get("device", "auto"))
    if backend == "torch":
        import torch
        if wanted == "auto":
            wanted = "cuda" if torch.cuda.is_available() else "cpu"
        if wanted.startswith("cuda") and not torch.cuda.is_available():
            raise RuntimeError(f"--torch.device {wanted}: no CUDA GPU is available (use cpu)")
        if wanted == "cuda" and "LOCAL_RANK" in os.environ:
            wanted = f"cuda:{int(os.environ['LOCAL_RANK'])}"
        if wanted == "cpu":
            # One intra-op thread: torch's OpenMP workers spin and starve the env threads
            # (measured 73k SPS with 1 thread vs 11k with 2 on a 2-core machine).
            torch.set_num_threads(int(os.environ.get("PUFFER_TORCH_THREADS", "1")))
        return wanted
    if wanted == "auto":
        from .native_trainer import default_device
        return default_device()
    return wanted


def distributed_rank():
    """(rank, world_size) under torchrun, else (0, 1). Initialises torch.distributed."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return 0, 1
    import torch
    import torch.distributed as dist
    if not dist.is_initialized():
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        if backend == "nccl":
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
        dist.init_process_group(backend)
    return dist.get_rank(), dist.get_world_size()


def new_run_id(tag=None):
    stamp = time.strftime("%Y%m%d_%H%M%S") + f"_{int(time.time() * 1000) % 1000:03d}"
    return f"{stamp}_{tag}" if tag else stamp


class RunDir:
    """experiments/<env>/<run_id>/: config.json, metrics.jsonl, checkpoints/, model.bin."""

    def __init__(self, data_dir, env_name, run_id, write=True):
        self.path = Path(data_dir) / env_name / run_id
        self.write = write
        self.metrics_file = None
        if write:
            (self.path / "checkpoints").mkdir(parents=True, exist_ok=True)
            self.metrics_file = open(self.path / "metrics.jsonl", "a")

    def save_config(self, config):
        if self.write:
            tmp = self.path / ".config.json.tmp"
            tmp.write_text(json.dumps(config, indent=2, default=str))
            os.replace(tmp, self.path / "config.json")

    def log(self, stats):
        if self.metrics_file:
            self.metrics_file.write(json.dumps(stats) + "\n")
            self.metrics_file.flush()

    def close(self):
        if self.metrics_file:
            self.metrics_file.close()
            self.metrics_file = None


def save_checkpoint(path, trainer, config, backend):
    return checkpoint.save(
        path, trainer.weights(), env=config["env_name"], backend=backend,
        policy=dict(config["policy"]), network=config.get("torch", {}).get("network", "MinGRU"),
        obs_size=trainer.vec.obs_size, act_sizes=trainer.vec.act_sizes,
        global_step=int(trainer.global_step), epoch=int(trainer.epoch_index))


def load_checkpoint_into(trainer, path, config):
    header, tensors = checkpoint.load_for_env(path, config["env_name"])
    try:
        trainer.load_weights(tensors)
    except (KeyError, ValueError, RuntimeError) as e:
        raise checkpoint.CheckpointError(
            f"{path} does not fit this policy ({e}); check --policy.hidden-size/--policy.num-layers "
            f"(checkpoint: {header.get('policy')})") from None
    return header


def train(config, options, on_epoch=None, verbose=True):
    """Runs one training job. on_epoch(stats) -> True stops the run early (sweeps).
    Returns {'run_dir', 'final': last stats, 'history': list of stats, 'stopped'}."""
    rank, world = distributed_rank()
    backend, reason = choose_backend(options.get("backend", "auto"))
    Backend = backend_class(backend)
    device = pick_device(config, backend)
    config = json.loads(json.dumps(config))  # private copy; backends split total_timesteps by rank
    config["rank"], config["world_size"] = rank, world
    config["gpu_id"] = int(os.environ.get("LOCAL_RANK", "0"))
    if backend == "native":  # the native trainer takes its rank's share; TorchTrainer splits itself
        config["train"]["total_timesteps"] = int(config["train"]["total_timesteps"]) // world
    run_id = options.get("run_id") or new_run_id(options.get("tag"))
    run = RunDir(config["data_dir"], config["env_name"], run_id, write=(rank == 0))
    run.save_config({**config, "backend": backend, "device": device})
    if verbose and rank == 0:
        print(f"PufferLib: training {config['env_name']} on the {backend} backend ({reason}) on {device}; "
              f"run folder {run.path}", flush=True)

    vec_cfg = config["vec"]
    from .envs import env_buffers, env_device
    where = env_device(vec_cfg.get("device", "auto"), config["env_name"], device if backend == "native" else "cpu",
                       config["gpu_id"])
    vec = make(config["env_name"], total_agents=vec_cfg["total_agents"],
               num_buffers=env_buffers(where, vec_cfg["num_buffers"]), num_threads=vec_cfg["num_threads"],
               seed=int(config["seed"]) + rank, device=where, **config["env"])
    trainer = Backend(config, vec, device)
    if options.get("load_model_path"):
        path = checkpoint.resolve(options["load_model_path"], config["data_dir"], config["env_name"])
        load_checkpoint_into(trainer, path, config)
        if verbose and rank == 0:
            print(f"PufferLib: loaded weights from {path}", flush=True)

    wandb_run = start_wandb(config, options, run_id) if options.get("wandb") and rank == 0 else None
    dash = Dashboard(config["env_name"], trainer.num_params, int(trainer.total_epochs) * world
                     * int(config["train"]["horizon"]) * int(config["vec"]["total_agents"]),
                     backend, device, quiet=options.get("quiet") or not verbose) if rank == 0 else None
    start = last_time = time.time()
    last_steps = 0
    last_ckpt, history, stats, stopped = None, [], {}, False
    interval = int(config["checkpoint_interval"])
    try:
        while trainer.epoch_index < trainer.total_epochs:
            logs = trainer.epoch()
            bad = [k for k, v in logs.items() if k.startswith("loss/") and not math.isfinite(v)]
            if bad:
                raise TrainingStopped(f"{bad[0]} became {logs[bad[0]]} at epoch {trainer.epoch_index}; "
                                      f"stopped. Last good checkpoint: {last_ckpt or 'none'}", last_ckpt)
            now = time.time()
            steps = int(trainer.global_step) * world
            stats = {"agent_steps": steps, "epoch": int(trainer.epoch_index), "uptime": now - start,
                     "SPS": (steps - last_steps) / max(now - last_time, 1e-9), **logs}
            last_time, last_steps = now, steps
            history.append(stats)
            run.log(stats)
            if wandb_run is not None:
                wandb_run.log(stats, step=steps)
            if rank == 0 and (trainer.epoch_index % interval == 0):
                last_ckpt = save_checkpoint(run.path / "checkpoints" / f"{steps:016d}.bin", trainer, config, backend)
            if dash is not None:
                dash.update(stats)
            if on_epoch is not None and on_epoch(stats):
                stopped = True
                break
    except NonFiniteLoss as e:
        raise TrainingStopped(f"{e}. Last good checkpoint: {last_ckpt or 'none'}", last_ckpt) from None
    finally:
        if dash is not None:
            dash.close(stats or None)
        run.close()
    if rank == 0:
        save_checkpoint(run.path / "model.bin", trainer, config, backend)
    if wandb_run is not None:
        wandb_run.finish()
    if hasattr(trainer, "close"):
        trainer.close()  # before the env: the trainer unpins the env's buffers
    vec.close()
    if world > 1:
        import torch.distributed as dist
        dist.destroy_process_group()
    return {"run_dir": str(run.path), "final": stats, "history": history, "stopped": stopped,
            "backend": backend}


def start_wandb(config, options, run_id):
    try:
        import wandb
    except ImportError:
        raise RuntimeError("--wandb needs the wandb package: pip install wandb") from None
    tags = [options["tag"]] if options.get("tag") else None
    return wandb.init(id=run_id, project=options.get("wandb_project"), group=options.get("wandb_group"),
                      config=config, tags=tags, name=run_id)
