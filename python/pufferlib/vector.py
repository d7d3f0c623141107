"""VecEnv: a native vector env seen from Python. Buffers are zero-copy numpy views.

    vec = pufferlib.make("breakout", total_agents=1024, num_threads=2)
    obs = vec.reset(seed=1)
    vec.actions[:] = policy(obs)         # write actions in place ...
    obs, rew, term, trunc = vec.step()   # ... or pass them: vec.step(actions)
"""
import numpy as np

from . import _C


class VecEnv:
    def __init__(self, name, path, total_agents, num_buffers, num_threads, seed, keys, values, gpu_id=-1):
        self.name = name
        self._vec = _C.VecEnv(path, total_agents, num_buffers, num_threads, seed, keys, values, gpu_id)
        self.device = f"cuda:{gpu_id}" if gpu_id >= 0 else "cpu"
        info = self._vec.info
        self.obs_size = info["obs_size"]
        self.obs_dtype = np.dtype(info["obs_dtype"])
        self.act_sizes = list(info["act_sizes"])
        self.num_atns = len(self.act_sizes)
        self.can_render = info["render"]
        self.seed = seed
        self.kwargs = dict(zip(keys, values))
        # Views stay valid for the life of the env.
        self.observations = self._vec.observations
        self.actions = self._vec.actions
        self.rewards = self._vec.rewards
        self.terminals = self._vec.terminals
        self.truncations = self._vec.truncations

    @property
    def num_agents(self):
        return self._vec.total_agents

    total_agents = num_agents

    @property
    def num_envs(self):
        return self._vec.num_envs

    @property
    def num_buffers(self):
        return self._vec.num_buffers

    @property
    def agents_per_env(self):
        starts = self._vec.env_agent_start
        return [b - a for a, b in zip(starts[:-1], starts[1:])]

    @property
    def env_agent_start(self):
        return list(self._vec.env_agent_start)

    @property
    def buffer_agent_start(self):
        return list(self._vec.buffer_agent_start)

    @property
    def continuous(self):
        return all(s == 1 for s in self.act_sizes)

    def reset(self, seed=None):
        if seed is not None:
            self.seed = int(seed)
        self._vec.reset(self.seed)
        return self.observations

    def step(self, actions=None):
        """Steps every env. Returns views (observations, rewards, terminals, truncations)."""
        if actions is not None:
            actions = np.asarray(actions)
            expected = (self.num_agents, self.num_atns)
            if actions.shape == (self.num_agents,) and self.num_atns == 1:
                actions = actions.reshape(expected)
            if actions.shape != expected:
                raise ValueError(f"{self.name}: actions must have shape {expected} "
                                 f"(agents, action heads), got {actions.shape}")
            if not (np.issubdtype(actions.dtype, np.integer) or np.issubdtype(actions.dtype, np.floating)):
                raise TypeError(f"{self.name}: actions must be integers or floats, got dtype {actions.dtype}")
            self.actions[:] = actions
        self._vec.check_actions()
        self._vec.step()
        return self.observations, self.rewards, self.terminals, self.truncations

    def step_buffer(self, buffer):
        self._vec.step_buffer(buffer)

    def bench_device(self, graphs=20):
        """Seconds per step of all envs on the GPU alone (device vecs; actions as they are)."""
        return self._vec.bench_device(graphs)

    def log(self, clear=True):
        """Per-episode means of the env's Log fields since the last clear, plus 'n'."""
        return dict(self._vec.log(clear))

    def render(self, env_index=0):
        if not self.can_render:
            raise RuntimeError(f"{self.name}: this env was made without rendering; "
                               "use pufferlib.make(..., render='auto')")
        self._vec.render(env_index)

    def save_frame(self, path):
        self._vec.save_frame(str(path))

    def capture_key(self):
        """1 if F12 (screenshot), 2 if ctrl+F12 (GIF start/stop) was pressed at the last render."""
        return self._vec.capture_key()

    def window_closed(self):
        return self._vec.window_closed()

    def close(self):
        self._vec.close()

    @property
    def closed(self):
        return self._vec.closed

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # Spaces (gymnasium), per agent.
    @property
    def single_observation_space(self):
        from gymnasium import spaces
        if self.obs_dtype == np.uint8:
            return spaces.Box(0, 255, (self.obs_size,), np.uint8)
        return spaces.Box(-np.inf, np.inf, (self.obs_size,), np.float32)

    @property
    def single_action_space(self):
        from gymnasium import spaces
        if self.continuous:
            return spaces.Box(-1.0, 1.0, (self.num_atns,), np.float32)
        if any(s == 1 for s in self.act_sizes):
            raise ValueError(f"{self.name}: mixed continuous and discrete heads are not supported")
        if self.num_atns == 1:
            return spaces.Discrete(self.act_sizes[0])
        return spaces.MultiDiscrete(self.act_sizes)

    def __repr__(self):
        if self.closed:
            return f"VecEnv({self.name}, closed)"
        return (f"VecEnv({self.name}, agents={self.num_agents}, envs={self.num_envs}, "
                f"buffers={self.num_buffers}, obs={self.obs_size} {self.obs_dtype}, actions={self.act_sizes})")
