"""Ocean envs for other libraries: a Gymnasium env (single-agent) and a PettingZoo
parallel env (multi-agent). Both wrap one native env; Ocean envs reset themselves when an
episode ends, so the observation returned with terminated/truncated already belongs to the
next episode (the final observation is not kept)."""
import numpy as np

from .envs import make


class GymnasiumEnv:
    """gymnasium.Env over one single-agent Ocean env: pufferlib.adapters.GymnasiumEnv('cartpole')."""

    metadata = {"render_modes": ["human", "rgb_array"]}

    def __new__(cls, *args, **kwargs):
        import gymnasium
        # Subclass gymnasium.Env lazily so importing pufferlib does not need gymnasium.
        impl = type("OceanGymnasiumEnv", (_GymnasiumImpl, gymnasium.Env), {})
        return impl(*args, **kwargs)


class _GymnasiumImpl:
    metadata = {"render_modes": ["human", "rgb_array"]}

    def __init__(self, name, render_mode=None, **env_kwargs):
        self.render_mode = render_mode
        render = None if render_mode is None else ("headless" if render_mode == "rgb_array" else "auto")
        self.vec = make(name, total_agents=None, render=render, **env_kwargs)
        agents = self.vec.num_agents
        if agents != 1:
            self.vec.close()
            raise ValueError(f"{name} has {agents} agents per env: use PettingZooEnv")
        self.observation_space = self.vec.single_observation_space
        self.action_space = self.vec.single_action_space

    def reset(self, seed=None, options=None):
        super().reset(seed=seed)  # seeds self.np_random (gymnasium.Env)
        obs = self.vec.reset(int(self.np_random.integers(0, 2**31 - 1)))
        return obs[0].copy(), {}

    def step(self, action):
        actions = np.asarray(action, dtype=np.float32).reshape(1, self.vec.num_atns)
        obs, rew, term, trunc = self.vec.step(actions)
        info = {}
        if term[0] or trunc[0]:
            info = self.vec.log(clear=True)
        return obs[0].copy(), float(rew[0]), bool(term[0]), bool(trunc[0]), info

    def render(self):
        self.vec.render(0)
        if self.render_mode == "rgb_array":
            return _frame(self.vec)
        return None

    def close(self):
        self.vec.close()


def _frame(vec):
    import os
    import tempfile
    from PIL import Image
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "frame.png")
        vec.save_frame(path)
        return np.asarray(Image.open(path).convert("RGB"))


class PettingZooEnv:
    """pettingzoo.ParallelEnv over one multi-agent Ocean env: PettingZooEnv('target').

    Agents that terminate leave `agents` until the next reset (PettingZoo's rule); the
    native env keeps stepping them with action 0. max_cycles truncates every agent."""

    metadata = {"render_modes": ["human"], "name": "ocean", "is_parallelizable": True}

    def __new__(cls, *args, **kwargs):
        from pettingzoo import ParallelEnv
        impl = type("OceanParallelEnv", (_PettingZooImpl, ParallelEnv), {})
        return impl(*args, **kwargs)


class _PettingZooImpl:
    metadata = {"render_modes": ["human"], "name": "ocean", "is_parallelizable": True}

    def __init__(self, name, max_cycles=10_000, render_mode=None, **env_kwargs):
        self.render_mode = render_mode
        self.vec = make(name, total_agents=None, render="auto" if render_mode else None, **env_kwargs)
        self.possible_agents = [f"agent_{i}" for i in range(self.vec.num_agents)]
        self.agents = list(self.possible_agents)
        self._index = {a: i for i, a in enumerate(self.possible_agents)}
        self._obs_space = self.vec.single_observation_space
        self._act_space = self.vec.single_action_space
        self.max_cycles = max_cycles
        self._cycles = 0
        self._seeds = np.random.default_rng()

    def observation_space(self, agent):
        return self._obs_space

    def action_space(self, agent):
        return self._act_space

    def reset(self, seed=None, options=None):
        if seed is not None:
            self._seeds = np.random.default_rng(seed)
        obs = self.vec.reset(int(self._seeds.integers(0, 2**31 - 1)))
        self.agents = list(self.possible_agents)
        self._cycles = 0
        return {a: obs[self._index[a]].copy() for a in self.agents}, {a: {} for a in self.agents}

    def step(self, actions):
        for agent in actions:
            if agent not in self._index:
                raise KeyError(f"unknown agent {agent!r}; agents are {self.possible_agents[0]}..")
        self.vec.actions[:] = 0
        for agent, action in actions.items():
            self.vec.actions[self._index[agent]] = np.asarray(action, dtype=np.float32).reshape(-1)
        obs, rew, term, trunc = self.vec.step()
        self._cycles += 1
        out_agents = self.agents
        timeout = self._cycles >= self.max_cycles
        observations = {a: obs[self._index[a]].copy() for a in out_agents}
        rewards = {a: float(rew[self._index[a]]) for a in out_agents}
        terminations = {a: bool(term[self._index[a]]) for a in out_agents}
        truncations = {a: bool(trunc[self._index[a]]) or timeout for a in out_agents}
        infos = {a: {} for a in out_agents}
        self.agents = [a for a in out_agents if not (terminations[a] or truncations[a])]
        return observations, rewards, terminations, truncations, infos

    def render(self):
        self.vec.render(0)

    def close(self):
        self.vec.close()
