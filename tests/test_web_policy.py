"""The browser's policy forward (envs/web/policy.c over kernels/cpu), compiled for the host and
called through ctypes, against the forward `puffer eval` runs (evaluate.PolicyAgent's torch
PufferNet) on observations from real env rollouts: same logits, same argmax actions, the means as
continuous actions, and sampled actions distributed as the softmax. The weights travel the way the
page gets them: checkpoint file -> pufferlib.web.policy_script -> base64 fp32 payload."""
import base64
import ctypes
import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import pufferlib  # noqa: E402
from pufferlib import checkpoint, web  # noqa: E402
from pufferlib.evaluate import PolicyAgent  # noqa: E402
from pufferlib.models import make_policy  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SAMPLE, ARGMAX = 0, 1


@pytest.fixture(scope="module")
def lib(tmp_path_factory):
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        pytest.skip("no C compiler")
    out = tmp_path_factory.mktemp("webpolicy") / "libwebpolicy.so"
    sources = [ROOT / "envs/web/policy.c"] + [ROOT / "kernels/cpu" / k for k in web.KERNELS]
    subprocess.run([cc, "-O2", "-shared", "-fPIC", f"-I{ROOT / 'kernels'}", "-o", str(out),
                    *map(str, sources), "-lm"], check=True, capture_output=True)
    lib = ctypes.CDLL(str(out))
    lib.web_policy_create.restype = ctypes.c_void_p
    lib.web_policy_create.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.POINTER(ctypes.c_int), ctypes.c_int,
                                      ctypes.c_int, ctypes.c_int, ctypes.c_void_p, ctypes.c_size_t,
                                      ctypes.c_uint64, ctypes.c_char_p, ctypes.c_size_t]
    lib.web_policy_act.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int, ctypes.c_void_p,
                                   ctypes.c_int, ctypes.c_void_p]
    lib.web_policy_logits.restype = ctypes.POINTER(ctypes.c_float)
    lib.web_policy_logits.argtypes = [ctypes.c_void_p]
    lib.web_policy_destroy.argtypes = [ctypes.c_void_p]
    return lib


class WebPolicy:
    """The page's policy, loaded from policy.js's payload."""

    def __init__(self, lib, script, obs_size, act_sizes, agents, seed=1):
        data = json.loads(script[script.index("{"):script.rindex("}") + 1])
        self.weights = np.frombuffer(base64.b64decode(data["weights"]), "<f4").copy()
        sizes = (ctypes.c_int * len(act_sizes))(*act_sizes)
        err = ctypes.create_string_buffer(512)
        self.lib, self.agents, self.num_atns = lib, agents, len(act_sizes)
        self.D = sum(act_sizes) if act_sizes[0] > 1 else len(act_sizes)
        self.ptr = lib.web_policy_create(obs_size, len(act_sizes), sizes, data["hidden_size"], data["num_layers"],
                                         agents, self.weights.ctypes.data, self.weights.size, seed, err, 512)
        assert self.ptr, err.value.decode()

    def act(self, obs, dones, mode):
        obs = np.ascontiguousarray(obs)
        dones = np.ascontiguousarray(dones, dtype=np.float32)
        actions = np.zeros((self.agents, self.num_atns), np.float32)
        self.lib.web_policy_act(self.ptr, obs.ctypes.data, int(obs.dtype == np.uint8), dones.ctypes.data,
                                mode, actions.ctypes.data)
        logits = np.ctypeslib.as_array(self.lib.web_policy_logits(self.ptr), (self.agents * (self.D + 1),))
        return actions, logits.reshape(self.agents, self.D + 1).copy()

    def close(self):
        self.lib.web_policy_destroy(self.ptr)


def saved_policy(tmp_path, env_name, vec, hidden, layers, seed):
    """A PufferNet with its seed's initial weights, written and read back as a checkpoint."""
    config = {"policy": {"hidden_size": hidden, "num_layers": layers}, "seed": seed}
    policy = make_policy(vec.obs_size, vec.act_sizes, config)
    path = checkpoint.save(tmp_path / "model.bin", {k: v.detach().numpy() for k, v in policy.state_dict().items()},
                           env=env_name, network="MinGRU", policy=config["policy"], obs_size=vec.obs_size,
                           act_sizes=list(vec.act_sizes), global_step=0)
    header, tensors = checkpoint.load_for_env(path, env_name)
    return header, tensors, {**config, "env": {}, "torch": {}}


@pytest.mark.parametrize("env_name,hidden,layers", [("breakout", 64, 2), ("squared", 32, 1), ("target", 48, 3),
                                                    ("breakout_continuous", 32, 2)])
def test_same_outputs_as_puffer_eval(lib, tmp_path, env_name, hidden, layers):
    per_env = pufferlib.make(env_name, total_agents=None, seed=5)
    agents = max(8 // per_env.num_agents, 1) * per_env.num_agents
    per_env.close()
    vec = pufferlib.make(env_name, total_agents=agents, seed=5)
    header, tensors, config = saved_policy(tmp_path, env_name, vec, hidden, layers, seed=11)
    reference = PolicyAgent(vec, config, tensors, header)  # what puffer eval acts with
    page = WebPolicy(lib, web.policy_script(header, tensors, env_name), vec.obs_size, list(vec.act_sizes), agents)
    continuous = all(a == 1 for a in vec.act_sizes)
    rng = np.random.default_rng(0)
    obs = vec.reset(seed=2)
    resets = 0
    try:
        for _ in range(300):
            dones = np.maximum(vec.terminals, vec.truncations).astype(np.float32)
            resets += int(dones.sum())
            actions, logits = page.act(obs, dones, ARGMAX)
            with torch.no_grad():
                reference.state = reference.state * (1.0 - torch.from_numpy(dones).view(1, -1, 1))
                ref_logits, ref_value, reference.state = reference.policy.forward_step(
                    torch.from_numpy(np.asarray(obs)), reference.state)
            ref_logits, ref_value = ref_logits.numpy(), ref_value.numpy()
            np.testing.assert_allclose(logits[:, :-1], ref_logits, rtol=1e-4, atol=1e-4)
            np.testing.assert_allclose(logits[:, -1], ref_value, rtol=1e-4, atol=1e-4)
            if continuous:
                np.testing.assert_array_equal(actions, logits[:, :-1])  # the mean
            else:
                off = 0
                for h, size in enumerate(vec.act_sizes):
                    head = ref_logits[:, off:off + size]
                    top2 = np.sort(head, axis=1)[:, -2:]
                    clear = top2[:, 1] - top2[:, 0] > 1e-4  # skip near-ties that rounding may flip
                    np.testing.assert_array_equal(actions[clear, h], head.argmax(axis=1)[clear])
                    off += size
            # Play on with a mix of the policy's actions and random ones, to reach many states.
            played = actions.copy()
            mask = rng.random(agents) < 0.5
            for h, size in enumerate(vec.act_sizes):
                random = rng.normal(0, 1, agents) if size == 1 else rng.integers(0, size, agents)
                played[mask, h] = random[mask]
            obs, _, _, _ = vec.step(played)
    finally:
        page.close()
        vec.close()
    if env_name in ("breakout", "squared"):
        assert resets > 0, "the rollout should cross episode ends (state resets)"


def test_sampled_actions_follow_the_softmax(lib, tmp_path):
    vec = pufferlib.make("breakout", total_agents=1, seed=5)
    header, tensors, _ = saved_policy(tmp_path, "breakout", vec, 32, 1, seed=3)
    obs = vec.reset(seed=1).copy()  # a copy: the views die with the env
    vec.close()
    agents = 20000
    page = WebPolicy(lib, web.policy_script(header, tensors, "breakout"), vec.obs_size, [3], agents, seed=9)
    try:
        same = np.repeat(np.asarray(obs), agents, axis=0)
        actions, logits = page.act(same, np.zeros(agents, np.float32), SAMPLE)
        probs = np.exp(logits[0, :3] - logits[0, :3].max())
        probs /= probs.sum()
        counts = np.bincount(actions[:, 0].astype(int), minlength=3) / agents
        np.testing.assert_allclose(counts, probs, atol=4 * np.sqrt(0.25 / agents))
        again, _ = page.act(same, np.ones(agents, np.float32), SAMPLE)
        assert (again != actions).any(), "each step draws new numbers"
    finally:
        page.close()


def test_bad_weight_count_is_refused(lib):
    err = ctypes.create_string_buffer(512)
    sizes = (ctypes.c_int * 1)(3)
    weights = np.zeros(10, np.float32)
    ptr = lib.web_policy_create(118, 1, sizes, 64, 2, 1, weights.ctypes.data, 10, 1, err, 512)
    assert not ptr
    assert "holds 10 weights" in err.value.decode()
