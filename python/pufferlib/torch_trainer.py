"""The torch backend (`--slowly`): one epoch = one rollout of `horizon` steps over every agent, then
one training pass over it. Read top to bottom; it runs in this order:

    __init__   sizes, policy, optimizer, rollout buffers, env reset
    epoch()    rollout()  -> train()  -> logs
    rollout()  per step: read obs/reward/done, zero finished agents' state, forward, sample, env step
    train()    clamp rewards, anneal lr, then per minibatch: advantage, priorities, sample segments,
               forward over the segments, PPO loss, backward, all-reduce, clip, Muon, write back
               the new ratios and values so the next minibatch's advantages use them

Hyperparameters are read from the nested config under their ini names (reference 7.1):
config['train'][...], config['policy'][...], config['torch']['network'], base keys at the top.
"""
import time

import numpy as np
import torch
import torch.distributed as dist

from . import ppo
from .models import make_policy, sample_actions
from .muon import Muon
from .train import NonFiniteLoss

# Reference 7.1 defaults, used for any key a (partial) config leaves out.
TRAIN_DEFAULTS = dict(
    total_timesteps=10_000_000, learning_rate=0.015, anneal_lr=1, min_lr_ratio=0.0,
    gamma=0.995, gae_lambda=0.90, replay_ratio=1.0, clip_coef=0.2, vf_coef=2.0, vf_clip_coef=0.2,
    max_grad_norm=1.5, ent_coef=0.001, anneal_ent_coef=0, min_ent_coef_ratio=0.1, beta1=0.95,
    beta2=0.999, eps=1e-12, minibatch_size=8192, horizon=64, vtrace_rho_clip=1.0, vtrace_c_clip=1.0,
    prio_alpha=0.8, prio_beta0=0.2,
)


def _sync(device):
    if device.type == 'cuda':
        torch.cuda.synchronize(device)


class TorchTrainer:
    def __init__(self, config, vec, device='cpu'):
        self.config = config
        self.train_cfg = {**TRAIN_DEFAULTS, **config.get('train', {})}
        self.vec = vec
        self.device = torch.device(device)
        self.reset_state = bool(config.get('reset_state', True))

        # Data parallel: every rank has its own envs; gradients are averaged (see train()).
        self.distributed = dist.is_available() and dist.is_initialized()
        self.rank = dist.get_rank() if self.distributed else 0
        self.world_size = dist.get_world_size() if self.distributed else 1

        # Sizes. A batch is one row per agent, `horizon` steps per row; a minibatch is whole rows.
        cfg = self.train_cfg
        self.num_agents = int(vec.num_agents)
        self.horizon = int(cfg['horizon'])
        self.batch_size = self.num_agents * self.horizon
        self.minibatch_size = int(cfg['minibatch_size'])
        if self.minibatch_size % self.horizon != 0:
            raise ValueError(f"train.minibatch_size ({self.minibatch_size}) must be a multiple of "
                             f"train.horizon ({self.horizon})")
        if self.minibatch_size > self.batch_size:
            raise ValueError(f"train.minibatch_size ({self.minibatch_size}) exceeds the batch "
                             f"(total_agents {self.num_agents} x horizon {self.horizon} = {self.batch_size})")
        self.segments = self.minibatch_size // self.horizon
        self.num_minibatches = max(1, int(float(cfg['replay_ratio']) * self.batch_size / self.minibatch_size))
        # total_timesteps is the whole run's budget; each rank does its share.
        self.total_epochs = max(1, int(cfg['total_timesteps']) // self.world_size // self.batch_size)
        self.global_step = 0   # this rank's agent steps
        self.epoch_index = 0

        # Policy and optimizer. Weights come from the base seed on every rank (and are broadcast from
        # rank 0 anyway); action and minibatch sampling use seed + rank.
        seed = int(config.get('seed', 73))
        self.act_sizes = [int(a) for a in vec.act_sizes]
        self.policy = make_policy(int(vec.obs_size), self.act_sizes, config).to(self.device)
        if self.distributed:
            for p in self.policy.parameters():
                dist.broadcast(p.data, src=0)
        self.optimizer = Muon(self.policy.parameters(), lr=float(cfg['learning_rate']),
                              momentum=float(cfg['beta1']))
        self.generator = torch.Generator(self.device).manual_seed(seed + self.rank)

        # Rollout buffers, (agents, horizon, ...) so a training row is one agent's segment.
        N, T, dev = self.num_agents, self.horizon, self.device
        obs_dtype = torch.uint8 if np.asarray(vec.observations).dtype == np.uint8 else torch.float32
        self.obs = torch.zeros(N, T, int(vec.obs_size), dtype=obs_dtype, device=dev)
        action_dtype = torch.float32 if self.policy.continuous else torch.int64  # exact ids (DESIGN 4)
        self.actions = torch.zeros(N, T, len(self.act_sizes), dtype=action_dtype, device=dev)
        self.logprobs = torch.zeros(N, T, device=dev)
        self.values = torch.zeros(N, T, device=dev)
        self.rewards = torch.zeros(N, T, device=dev)
        self.dones = torch.zeros(N, T, device=dev)  # 1: the episode ended right before this slot's obs
        self.state = self.policy.initial_state(N, dev)
        self.rollout_state0 = self.state.clone()
        self.eval_state = None

        vec.reset(seed + self.rank)

    # ---------------------------------------------------------------------------------------------
    def epoch(self, train=True):
        """One rollout plus (unless train=False, e.g. post-training eval epochs) one training pass."""
        logs = self.rollout()
        if train:
            logs.update(self.train())
            self.epoch_index += 1
        log = self.vec.log(clear=True)
        if log and log.get('n', 0) > 0:
            logs.update({f'env/{k}': float(v) for k, v in log.items()})
        return logs

    # ---------------------------------------------------------------------------------------------
    @torch.no_grad()
    def rollout(self):
        start = time.perf_counter()
        vec, policy, dev = self.vec, self.policy, self.device
        env_time = forward_time = 0.0
        if self.reset_state:
            self.state.zero_()
        self.rollout_state0.copy_(self.state)  # the training scan starts each row from here
        for t in range(self.horizon):
            # Slot t: the obs seen at step t with the reward/done produced by the previous action.
            # done = terminal or truncation: either way the env has reset and this obs starts a new
            # episode, so the advantage must neither bootstrap from it nor carry its trace back (we
            # have no value for the cut-off state), and the recurrent state starts from zero.
            tick = time.perf_counter()
            obs = torch.from_numpy(np.asarray(vec.observations)).to(dev)
            done = torch.from_numpy(np.maximum(vec.terminals, vec.truncations)).to(dev)
            self.obs[:, t] = obs
            self.rewards[:, t] = torch.from_numpy(np.asarray(vec.rewards)).to(dev)
            self.dones[:, t] = done

            # Per-episode memory (DESIGN 3): an agent whose episode just ended starts from zero.
            self.state.mul_(1.0 - done.view(1, -1, 1))
            logits, value, self.state = policy.forward_step(obs, self.state)
            actions, logprob = sample_actions(logits, policy.logstd, self.act_sizes, self.generator)
            self.actions[:, t] = actions
            self.logprobs[:, t] = logprob
            self.values[:, t] = value
            host_actions = actions.to('cpu', torch.float32).numpy()
            forward_time += time.perf_counter() - tick

            tick = time.perf_counter()
            np.copyto(vec.actions, host_actions.reshape(vec.actions.shape))
            vec.step()
            env_time += time.perf_counter() - tick

        self.global_step += self.batch_size
        return {'perf/rollout': time.perf_counter() - start,
                'perf/eval_env': env_time, 'perf/eval_gpu': forward_time}

    # ---------------------------------------------------------------------------------------------
    def train(self):
        start = time.perf_counter()
        cfg, policy = self.train_cfg, self.policy
        rewards = ppo.clamp_rewards(self.rewards)
        ratios = torch.ones_like(self.values)     # V-trace importance, refreshed by each minibatch
        values = self.values.clone()              # value estimates, refreshed by each minibatch

        epoch, total = self.epoch_index, self.total_epochs
        lr = float(cfg['learning_rate'])
        if cfg['anneal_lr']:
            lr = ppo.cosine_schedule(lr, epoch, total, float(cfg['min_lr_ratio']))
        for group in self.optimizer.param_groups:
            group['lr'] = lr
        ent_coef = float(cfg['ent_coef'])
        if cfg['anneal_ent_coef']:
            ent_coef = ppo.cosine_schedule(ent_coef, epoch, total, float(cfg['min_ent_coef_ratio']))
        alpha = float(cfg['prio_alpha'])
        beta = ppo.prio_beta(float(cfg['prio_beta0']), alpha, epoch, total)

        loss_sum = torch.zeros(len(ppo.LOSS_KEYS), device=self.device)
        explained_var = float('nan')
        for mb in range(self.num_minibatches):
            # Advantages of the whole batch, from the values and ratios the last minibatch left.
            advantages = ppo.puffer_advantage(
                values, rewards, self.dones, ratios, float(cfg['gamma']), float(cfg['gae_lambda']),
                float(cfg['vtrace_rho_clip']), float(cfg['vtrace_c_clip']))
            if mb == 0:
                explained_var = ppo.explained_variance(self.values, self.values + advantages)

            # Prioritized replay over whole rows.
            probs = ppo.priorities(advantages, alpha)
            idx = ppo.sample_segments(probs, self.segments, self.generator)
            weights = ppo.importance_weights(probs, idx, beta)

            if self.reset_state:
                state0 = policy.initial_state(self.segments, self.device)
            else:
                state0 = self.rollout_state0[:, idx]
            logits, new_values = policy.forward_sequence(self.obs[idx], state0, self.dones[idx])
            loss, logs, new_ratio, new_values = ppo.ppo_loss(
                logits, new_values, policy.logstd, self.actions[idx], self.logprobs[idx], values[idx],
                advantages[idx], weights, self.act_sizes, float(cfg['clip_coef']),
                float(cfg['vf_clip_coef']), float(cfg['vf_coef']), ent_coef)
            if not torch.isfinite(loss):
                raise NonFiniteLoss(
                    f"non-finite loss ({loss.item()}) at epoch {epoch}, minibatch {mb}: "
                    f"policy {logs[0].item():.4g}, value {logs[1].item():.4g}, entropy {logs[2].item():.4g}. "
                    f"Try a lower train.learning_rate or train.max_grad_norm.")

            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if self.distributed:
                for p in policy.parameters():
                    dist.all_reduce(p.grad, op=dist.ReduceOp.SUM)
                    p.grad.div_(self.world_size)
            torch.nn.utils.clip_grad_norm_(policy.parameters(), float(cfg['max_grad_norm']))
            self.optimizer.step()

            ratios[idx] = new_ratio
            values[idx] = new_values
            loss_sum += logs

        means = (loss_sum / self.num_minibatches).tolist()
        out = {f'loss/{k}': v for k, v in zip(ppo.LOSS_KEYS, means)}
        out['loss/explained_variance'] = explained_var
        _sync(self.device)
        out['perf/train'] = time.perf_counter() - start
        return out

    # ---------------------------------------------------------------------------------------------
    @torch.no_grad()
    def evaluate_step(self, obs=None, state=None, dones=None):
        """One forward + sample for eval, no training: returns (actions as float32 numpy, new state).

        Defaults: obs = vec.observations, dones = vec terminals|truncations, state = the trainer's
        eval state (kept between calls, zeroed for agents whose episode ended).
        """
        vec = self.vec
        if obs is None:
            obs = vec.observations
            if dones is None:
                dones = np.maximum(vec.terminals, vec.truncations)
        obs = torch.as_tensor(np.asarray(obs), device=self.device)
        keep_internal = state is None
        if state is None:
            if self.eval_state is None or self.eval_state.shape[1] != obs.shape[0]:
                self.eval_state = self.policy.initial_state(obs.shape[0], self.device)
            state = self.eval_state
        if dones is not None:
            done = torch.as_tensor(np.asarray(dones, dtype=np.float32), device=self.device)
            state = state * (1.0 - done.view(1, -1, 1))
        logits, _, state = self.policy.forward_step(obs, state)
        actions, _ = sample_actions(logits, self.policy.logstd, self.act_sizes, self.generator)
        if keep_internal:
            self.eval_state = state
        return actions.to('cpu', torch.float32).numpy(), state

    # ---------------------------------------------------------------------------------------------
    @property
    def num_params(self):
        return sum(p.numel() for p in self.policy.parameters())

    def state_dict(self):
        return {
            'policy': self.policy.state_dict(),
            'optimizer': self.optimizer.state_dict(),
            'global_step': self.global_step,
            'epoch_index': self.epoch_index,
            'generator': self.generator.get_state(),
        }

    def load_state_dict(self, state):
        self.policy.load_state_dict(state['policy'])
        if 'optimizer' in state:
            self.optimizer.load_state_dict(state['optimizer'])
        self.global_step = int(state.get('global_step', 0))
        self.epoch_index = int(state.get('epoch_index', 0))
        if 'generator' in state:
            self.generator.set_state(state['generator'])
