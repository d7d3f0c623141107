"""The native backend: train.py's backend interface over the C/CUDA trainer in libpuffercore.

    trainer = NativeTrainer(config, vec, device)   # vec: pufferlib.vector.VecEnv
    logs = trainer.epoch()                          # rollout + training pass, in native code

The nested config (base keys at the top, [train], [policy]) is flattened into the numbers the
native trainer reads (reference 7.1 names); everything else stays in Python. Data parallel:
config['rank'] / config['world_size'] (set by train.py). On CUDA the ranks share an NCCL unique
id (config['nccl_id'], or made by rank 0 and broadcast through torch.distributed); on the CPU the
gradients are averaged through torch.distributed (gloo) by a callback.
"""
import os

import numpy as np

from . import _C

# [train] keys the native trainer reads; the others (gpus, seed, beta2, eps: unused by Muon) stay here.
TRAIN_KEYS = (
    "total_timesteps", "learning_rate", "anneal_lr", "min_lr_ratio", "gamma", "gae_lambda",
    "replay_ratio", "clip_coef", "vf_coef", "vf_clip_coef", "max_grad_norm", "ent_coef",
    "anneal_ent_coef", "min_ent_coef_ratio", "beta1", "minibatch_size", "horizon",
    "vtrace_rho_clip", "vtrace_c_clip", "prio_alpha", "prio_beta0",
)
# fused_rollout is not an ini key: tests and benchmarks set it to compare with the unfused chain.
BASE_KEYS = ("seed", "reset_state", "cudagraphs", "fused_rollout", "gpu_id")
POLICY_KEYS = ("hidden_size", "num_layers")


def has_native_trainer():
    return bool(getattr(_C, "has_native_trainer", False))


def has_cuda_trainer():
    return has_native_trainer() and bool(getattr(_C, "trainer_cuda", False))


def default_device():
    """'cuda' when this build has the CUDA trainer and a GPU is visible, else 'cpu'."""
    if has_cuda_trainer() and _C.cuda_device_count() > 0:
        return "cuda"
    return "cpu"


def native_config(config):
    """Flat {key: float} for _C.NativeTrainer from the nested config."""
    flat = {}
    for key in BASE_KEYS:
        if key in config:
            flat[key] = config[key]
    for key in POLICY_KEYS:
        if key in config.get("policy", {}):
            flat[key] = config["policy"][key]
    for key in TRAIN_KEYS:
        if key in config.get("train", {}):
            flat[key] = config["train"][key]
    out = {}
    for key, value in flat.items():
        if isinstance(value, str):
            lowered = value.strip().lower()
            if lowered in ("true", "false"):
                value = lowered == "true"
            else:
                try:
                    value = float(value.replace("_", ""))
                except ValueError:
                    raise ValueError(f"config {key} must be a number, got {value!r}") from None
        out[key] = float(value)
    return out


def _torch_dist():
    try:
        import torch.distributed as dist
    except ImportError:
        return None
    return dist if dist.is_available() and dist.is_initialized() else None


def _gloo_allreduce(world_size):
    """Averages a float32 numpy array over the ranks of torch.distributed, in place."""
    import torch
    dist = _torch_dist()

    def allreduce(array):
        tensor = torch.from_numpy(array)
        dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
        tensor.div_(world_size)
    return allreduce


def _shared_nccl_id(config, rank):
    nccl_id = config.get("nccl_id")
    if isinstance(nccl_id, str) and nccl_id not in ("", "None"):
        return bytes.fromhex(nccl_id)
    if isinstance(nccl_id, (bytes, bytearray)):
        return bytes(nccl_id)
    dist = _torch_dist()
    if dist is None:
        raise RuntimeError("native multi-GPU training needs the NCCL unique id of rank 0: pass "
                           "config['nccl_id'] or initialise torch.distributed")
    box = [_C.nccl_unique_id() if rank == 0 else None]
    dist.broadcast_object_list(box, src=0)
    return box[0]


class NativeTrainer:
    def __init__(self, config, vec, device="cpu"):
        if not has_native_trainer():
            raise RuntimeError("this PufferLib build has no native trainer (libpuffercore); "
                               "use --backend torch")
        device = str(device)
        if device.startswith("cuda") and not has_cuda_trainer():
            raise RuntimeError(
                f"device {device}: this PufferLib was built without CUDA (nvcc, cuBLAS and NCCL "
                "are needed at build time: pip install 'pufferlib[cuda]' and rebuild), so the "
                "native trainer runs on the CPU only: use --torch.device cpu")
        if device not in ("cpu",) and not device.startswith("cuda"):
            raise ValueError(f"device must be cpu or cuda, got {device!r}")
        if device == "cuda" and "LOCAL_RANK" in os.environ:   # torchrun: one GPU per process
            device = f"cuda:{int(os.environ['LOCAL_RANK'])}"
        self.config = config
        self.vec = vec
        self.device = device
        self.rank = int(config.get("rank", 0))
        self.world_size = int(config.get("world_size", 1))
        nccl_id, allreduce = None, None
        if self.world_size > 1:
            if device.startswith("cuda"):
                nccl_id = _shared_nccl_id(config, self.rank)
            else:
                if _torch_dist() is None:
                    raise RuntimeError("native data-parallel training on the CPU averages gradients "
                                       "through torch.distributed (gloo): initialise it first")
                allreduce = _gloo_allreduce(self.world_size)
        self._t = _C.NativeTrainer(vec._vec, native_config(config), device, self.rank,
                                   self.world_size, nccl_id, allreduce)

    # -- train.py's backend interface ------------------------------------------------------------
    def epoch(self, train=True):
        """One rollout plus (unless train=False) one training pass; flat float logs."""
        logs = dict(self._t.epoch(train))
        log = self.vec.log(clear=True)
        if log and log.get("n", 0) > 0:
            logs.update({f"env/{k}": float(v) for k, v in log.items()})
        return logs

    @property
    def global_step(self):
        return self._t.global_step

    @property
    def epoch_index(self):
        return self._t.epoch_index

    @property
    def total_epochs(self):
        return self._t.total_epochs

    @property
    def num_params(self):
        return self._t.num_params

    def weights(self):
        """{name: float32 array} in checkpoint order (encoder, decoder, [logstd], layers.<l>)."""
        return self._t.weights()

    def load_weights(self, tensors):
        self._t.load_weights({k: np.asarray(v, dtype=np.float32) for k, v in tensors.items()})

    def state_dict(self):
        return {"weights": self.weights(), "momentum": self._t.momentum(),
                "counters": self._t.counters(), "global_step": int(self.global_step),
                "epoch_index": int(self.epoch_index)}

    def load_state_dict(self, state):
        self.load_weights(state["weights"])
        if "momentum" in state:
            self._t.set_momentum(np.asarray(state["momentum"], dtype=np.float32))
        counters = state.get("counters", self._t.counters())
        self._t.set_counters(np.asarray(counters, dtype=np.uint64), int(state.get("global_step", 0)),
                             int(state.get("epoch_index", 0)))

    # -- extras ----------------------------------------------------------------------------------
    def rollout_buffers(self):
        """The last rollout, float32, agent-major: observations (A, T, OBS), actions (A, T, heads),
        logprobs, values, rewards, dones (A, T). Slot t: the obs at step t with the reward/done the
        previous action produced."""
        return dict(self._t.rollout())

    @property
    def precision_bytes(self):
        return self._t.precision_bytes

    @property
    def cudagraphs(self):
        return self._t.cudagraphs

    @property
    def fused_rollout(self):
        """True when CUDA rollout steps run as one fused kernel each."""
        return self._t.fused_rollout

    def close(self):
        self._t.close()
