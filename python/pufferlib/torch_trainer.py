"""The torch backend (`--slowly`): one epoch = one rollout of `horizon` steps over every agent, then
one training pass over it. Read top to bottom; it runs in this order:

    __init__        sizes, policy, optimizer, rollout and training buffers, env reset
    epoch()         rollout()  -> train()  -> logs
    rollout()       per step t: policy_step(t) on the device, then the env step on the CPU
    policy_step(t)  copy obs/reward/done in, zero finished agents' state, forward, sample, store
                    slot t, copy the actions out
    train()         clamp rewards, set this epoch's lr / entropy coef / priority exponent, then
                    minibatch() num_minibatches times, then read the losses once (a non-finite
                    mean loss raises NonFiniteLoss; the driver keeps the last good checkpoint)
    minibatch()     advantage, priorities, sample segments, forward over the segments, PPO loss,
                    backward, all-reduce, clip, Muon, write back the new ratios and values so the
                    next minibatch's advantages use them

CUDA graphs (base key `cudagraphs`; -1 runs eagerly, any other value turns graphs on, CUDA only):
policy_step(t) and minibatch() never wait for the host and only touch tensors allocated once in
__init__ (plus temporaries), so each can be captured in a torch.cuda.CUDAGraph: ~50 launches per
rollout step and ~800 per minibatch become one replay each. The first epoch runs eagerly (it warms
up cuBLAS and creates Muon's momentum); the next one captures one graph per rollout slot t and one
for the minibatch, and replays them from then on. Graphs and eager launches run the same kernels in
the same order on the same RNG stream (the generator is registered with every graph), so they agree
(tests/test_torch_trainer.py checks it on the GPU). The learning rate, entropy coefficient and
priority exponent are device tensors refilled each epoch, so the captured minibatch follows their
schedules. All of the trainer's CUDA work runs on its own stream (the default stream cannot be
captured). Under torch.distributed only the rollout is captured (the all-reduce stays eager).

The env's buffers stay where the vec env put them: on CPU the policy reads observations and writes
actions through zero-copy views; on CUDA they are page-locked in place (cudaHostRegister) so the
copies in and out are asynchronous and can sit inside the graphs (see EnvIO). A rollout step is one
graph over all agents followed by one vec.step() over all envs: splitting it per env buffer, to step
one buffer's envs while the next buffer's policy runs, would multiply the GPU's small kernels by the
number of buffers, and the envs (~0.1 ms per step for breakout's 4096) are the smaller part.

Hyperparameters are read from the nested config under their ini names (reference 7.1):
config['train'][...], config['policy'][...], config['torch']['network'], base keys at the top.
"""
import contextlib
import os
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


class TorchTrainer:
    def __init__(self, config, vec, device='cpu'):
        self.config = config
        self.train_cfg = {**TRAIN_DEFAULTS, **config.get('train', {})}
        self.vec = vec
        self.device = torch.device(device)
        self.reset_state = bool(config.get('reset_state', True))

        # Data parallel: every rank has its own envs; gradients are averaged (see minibatch()).
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

        # Training buffers: what minibatch() reads and refreshes in place.
        self.train_rewards = torch.zeros(N, T, device=dev)   # clamped to [-1, 1]
        self.train_values = torch.zeros(N, T, device=dev)    # value estimates, refreshed per minibatch
        self.train_ratios = torch.ones(N, T, device=dev)     # V-trace importance, refreshed per minibatch
        self.advantages = torch.zeros(N, T, device=dev)      # the last minibatch's
        self.loss_sum = torch.zeros(len(ppo.LOSS_KEYS), device=dev)
        # This epoch's scheduled values, read by the (captured) minibatch from device memory.
        self.lr = torch.tensor(float(cfg['learning_rate']), device=dev)
        self.ent_coef = torch.tensor(float(cfg['ent_coef']), device=dev)
        self.prio_beta = torch.tensor(float(cfg['prio_beta0']), device=dev)

        # CUDA graphs and the trainer's stream (CUDA only).
        self.stream = torch.cuda.Stream(dev) if dev.type == 'cuda' else None
        self.use_graphs = dev.type == 'cuda' and int(config.get('cudagraphs', 10)) >= 0
        self.rollout_graphs = None   # one per slot t, captured at the second rollout
        self.train_graph = None      # captured at the second training pass
        self._ran_eagerly = {'rollout': False, 'train': False}
        self.io = None               # EnvIO, bound at the first rollout

        vec.reset(seed + self.rank)

    @property
    def cudagraphs(self):
        """True while CUDA graphs are in use (or will be, after the eager first epoch)."""
        return self.use_graphs

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
        if self.io is None:
            self.io = EnvIO(self.vec, self.device)
        io, vec = self.io, self.vec
        env_time = forward_time = 0.0
        with self._on_stream():
            if self.reset_state:
                self.state.zero_()
            self.rollout_state0.copy_(self.state)  # the training scan starts each row from here
            graphs = self._rollout_graphs()
            for t in range(self.horizon):
                tick = time.perf_counter()
                io.stage_in()
                if graphs is not None:
                    graphs[t].replay()
                else:
                    self.policy_step(t)
                if self.stream is not None:
                    self.stream.synchronize()      # the actions are in host memory
                io.stage_out()
                forward_time += time.perf_counter() - tick

                tick = time.perf_counter()
                vec.step()
                env_time += time.perf_counter() - tick
        self._ran_eagerly['rollout'] |= graphs is None

        self.global_step += self.batch_size
        return {'perf/rollout': time.perf_counter() - start,
                'perf/eval_env': env_time, 'perf/eval_gpu': forward_time}

    def policy_step(self, t):
        """The device side of rollout step t. Slot t: the obs seen at step t with the reward/done
        produced by the previous action.

        done = terminal or truncation: either way the env has reset and this obs starts a new
        episode, so the advantage must neither bootstrap from it nor carry its trace back (we have no
        value for the cut-off state), and the recurrent state starts from zero (DESIGN 3).
        """
        io, policy = self.io, self.policy
        io.copy_in()
        obs = io.dev['observations']
        done = torch.maximum(io.dev['terminals'], io.dev['truncations'])
        self.obs[:, t] = obs
        self.rewards[:, t] = io.dev['rewards']
        self.dones[:, t] = done

        self.state.mul_(1.0 - done.view(1, -1, 1))
        logits, value, state = policy.forward_step(obs, self.state)
        self.state.copy_(state)
        actions, logprob = sample_actions(logits, policy.logstd, self.act_sizes, self.generator)
        self.actions[:, t] = actions
        self.logprobs[:, t] = logprob
        self.values[:, t] = value
        io.dev['actions'].copy_(actions)   # as float32, the env's action dtype
        io.copy_out()

    # ---------------------------------------------------------------------------------------------
    def train(self):
        start = time.perf_counter()
        cfg = self.train_cfg
        epoch, total = self.epoch_index, self.total_epochs
        lr = float(cfg['learning_rate'])
        if cfg['anneal_lr']:
            lr = ppo.cosine_schedule(lr, epoch, total, float(cfg['min_lr_ratio']))
        ent_coef = float(cfg['ent_coef'])
        if cfg['anneal_ent_coef']:
            ent_coef = ppo.cosine_schedule(ent_coef, epoch, total, float(cfg['min_ent_coef_ratio']))
        beta = ppo.prio_beta(float(cfg['prio_beta0']), float(cfg['prio_alpha']), epoch, total)

        with self._on_stream():
            self.lr.fill_(lr)
            self.ent_coef.fill_(ent_coef)
            self.prio_beta.fill_(beta)
            for group in self.optimizer.param_groups:
                group['lr'] = self.lr
            self.train_rewards.copy_(ppo.clamp_rewards(self.rewards))
            self.train_values.copy_(self.values)
            self.train_ratios.fill_(1.0)
            self.loss_sum.zero_()

            graph = self._train_graph()
            for mb in range(self.num_minibatches):
                if graph is not None:
                    graph.replay()
                else:
                    self.minibatch()
                if mb == 0:   # advantages from the rollout's own values and unit ratios
                    explained_var = ppo.explained_variance(self.values, self.values + self.advantages)
            # The epoch's one host synchronisation: the mean losses and the explained variance.
            stats = torch.cat([self.loss_sum / self.num_minibatches, explained_var.view(1)]).tolist()
        self._ran_eagerly['train'] |= graph is None

        means, explained_var = stats[:-1], stats[-1]
        logs = dict(zip(ppo.LOSS_KEYS, means))
        if not np.isfinite(logs['total']):
            raise NonFiniteLoss(
                f"non-finite loss ({logs['total']}) at epoch {epoch}, averaged over its "
                f"{self.num_minibatches} minibatches: policy {logs['policy']:.4g}, value {logs['value']:.4g}, "
                f"entropy {logs['entropy']:.4g}. Try a lower train.learning_rate or train.max_grad_norm.")
        out = {f'loss/{k}': v for k, v in logs.items()}
        out['loss/explained_variance'] = explained_var
        out['perf/train'] = time.perf_counter() - start
        return out

    def minibatch(self):
        """One minibatch, all on the device: prioritized replay over whole rows, PPO loss, Muon."""
        cfg, policy = self.train_cfg, self.policy
        # Advantages of the whole batch, from the values and ratios the last minibatch left.
        advantages = ppo.puffer_advantage(
            self.train_values, self.train_rewards, self.dones, self.train_ratios, float(cfg['gamma']),
            float(cfg['gae_lambda']), float(cfg['vtrace_rho_clip']), float(cfg['vtrace_c_clip']))
        self.advantages.copy_(advantages)

        probs = ppo.priorities(advantages, float(cfg['prio_alpha']))
        idx = ppo.sample_segments(probs, self.segments, self.generator)
        weights = ppo.importance_weights(probs, idx, self.prio_beta)

        if self.reset_state:
            state0 = policy.initial_state(self.segments, self.device)
        else:
            state0 = self.rollout_state0[:, idx]
        logits, new_values = policy.forward_sequence(self.obs[idx], state0, self.dones[idx])
        loss, logs, new_ratio, new_values = ppo.ppo_loss(
            logits, new_values, policy.logstd, self.actions[idx], self.logprobs[idx], self.train_values[idx],
            advantages[idx], weights, self.act_sizes, float(cfg['clip_coef']), float(cfg['vf_clip_coef']),
            float(cfg['vf_coef']), self.ent_coef)

        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if self.distributed:
            for p in policy.parameters():
                dist.all_reduce(p.grad, op=dist.ReduceOp.SUM)
                p.grad.div_(self.world_size)
        torch.nn.utils.clip_grad_norm_(policy.parameters(), float(cfg['max_grad_norm']))
        self.optimizer.step()

        self.train_ratios[idx] = new_ratio
        self.train_values[idx] = new_values
        self.loss_sum += logs

    # ---------------------------------------------------------------------------------------------
    # CUDA graphs: captured once the same code has run eagerly, then replayed.
    def _rollout_graphs(self):
        if not self.use_graphs or not self._ran_eagerly['rollout']:
            return None
        if self.rollout_graphs is None:
            pool = torch.cuda.graph_pool_handle()   # shared: the steps replay in capture order
            self.rollout_graphs = [self._capture(lambda t=t: self.policy_step(t), pool, f'rollout step {t}')
                                   for t in range(self.horizon)]
        return self.rollout_graphs

    def _train_graph(self):
        if not self.use_graphs or self.distributed or not self._ran_eagerly['train']:
            return None
        if self.train_graph is None:
            self.train_graph = self._capture(self.minibatch, torch.cuda.graph_pool_handle(), 'minibatch')
        return self.train_graph

    def _capture(self, fn, pool, what):
        graph = torch.cuda.CUDAGraph()
        graph.register_generator_state(self.generator)   # replays draw fresh numbers, as eager would
        self.stream.synchronize()
        # thread_local under torch.distributed: NCCL's watchdog thread queries events meanwhile.
        graph.capture_begin(pool=pool, capture_error_mode='thread_local' if self.distributed else 'global')
        try:
            fn()
        except BaseException as e:
            with contextlib.suppress(Exception):
                graph.capture_end()
            raise RuntimeError(f"CUDA graph capture of the {what} failed ({e}); "
                               f"run with --cudagraphs -1 to train without graphs") from e
        graph.capture_end()
        return graph

    def drop_graphs(self):
        """Forget captured graphs (they are captured again at the next epoch); needed after anything
        replaces a tensor they hold, e.g. loading optimizer state."""
        self.rollout_graphs = self.train_graph = None

    @contextlib.contextmanager
    def _on_stream(self):
        """Runs the block on the trainer's stream, after the work the caller's stream already has
        queued and before whatever it queues next."""
        if self.stream is None:
            yield
            return
        ambient = torch.cuda.current_stream(self.device)
        self.stream.wait_stream(ambient)
        with torch.cuda.stream(self.stream):
            yield
        ambient.wait_stream(self.stream)

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
        optimizer = self.optimizer.state_dict()
        for group in optimizer['param_groups']:   # the device lr tensor, as a plain number
            group['lr'] = float(group['lr'])
        return {
            'policy': self.policy.state_dict(),
            'optimizer': optimizer,
            'global_step': self.global_step,
            'epoch_index': self.epoch_index,
            'generator': self.generator.get_state(),
        }

    def load_state_dict(self, state):
        self.policy.load_state_dict(state['policy'])
        if 'optimizer' in state:
            self.optimizer.load_state_dict(state['optimizer'])
            self.drop_graphs()   # new momentum tensors
        self.global_step = int(state.get('global_step', 0))
        self.epoch_index = int(state.get('epoch_index', 0))
        if 'generator' in state:
            self.generator.set_state(state['generator'])

    def close(self):
        """Unpins the env's buffers; call before closing the vec env."""
        self.drop_graphs()
        if self.io is not None:
            if self.stream is not None:
                self.stream.synchronize()
            self.io.close()
            self.io = None


class EnvIO:
    """The vec env's shared buffers (observations, rewards, terminals, truncations, actions) as the
    policy sees them, in `dev`.

    CPU: `dev` holds zero-copy views of the numpy buffers; the policy reads observations and writes
    actions in place, and copy_in/copy_out do nothing.
    CUDA: `dev` holds device tensors that copy_in/copy_out fill and drain asynchronously (inside the
    rollout graphs). Asynchronous (and captured) copies need page-locked host memory, so, as the
    native trainer does, the env's own buffers are pinned in place with cudaHostRegister (buffers that
    share a page are registered together). A buffer that cannot be (its pages are registered already,
    e.g. by another trainer on the same env) goes through a pinned staging tensor instead, which
    stage_in/stage_out refresh with a CPU copy around each step.
    """
    INPUTS = ('observations', 'rewards', 'terminals', 'truncations')
    NAMES = INPUTS + ('actions',)

    def __init__(self, vec, device):
        self.views = {k: torch.from_numpy(np.ascontiguousarray(getattr(vec, k))) for k in self.NAMES}
        for k, v in self.views.items():
            if v.data_ptr() != np.asarray(getattr(vec, k)).ctypes.data:
                raise ValueError(f"vec.{k} must be a C-contiguous array written in place")
        self.cuda = device.type == 'cuda'
        self.registered = []   # base pointers this object registered
        self.staged = []       # names that go through a pinned staging tensor
        if not self.cuda:
            self.host = self.dev = self.views
            return
        pinned = self._register(device)
        self.host = {}
        for k, view in self.views.items():
            if k in pinned:
                self.host[k] = view
            else:
                self.host[k] = torch.empty(view.shape, dtype=view.dtype, pin_memory=True).copy_(view)
                self.staged.append(k)
        self.dev = {k: torch.zeros_like(v, device=device) for k, v in self.views.items()}

    def _register(self, device):
        spans = [(v.data_ptr(), v.data_ptr() + v.nbytes, k) for k, v in self.views.items()]
        cudart, pinned = torch.cuda.cudart(), set()
        for start, end, names in page_groups(spans, os.sysconf('SC_PAGE_SIZE')):
            if int(cudart.cudaHostRegister(start, end - start, 1)) == 0:   # 1: cudaHostRegisterPortable
                self.registered.append(start)
                pinned.update(names)
            else:
                _clear_cuda_error(device)
        return pinned

    def copy_in(self):
        if self.cuda:
            for k in self.INPUTS:
                self.dev[k].copy_(self.host[k], non_blocking=True)

    def copy_out(self):
        if self.cuda:
            self.host['actions'].copy_(self.dev['actions'], non_blocking=True)

    def stage_in(self):
        for k in self.staged:
            if k != 'actions':
                self.host[k].copy_(self.views[k])

    def stage_out(self):
        if 'actions' in self.staged:
            self.views['actions'].copy_(self.host['actions'])

    def close(self):
        cudart = torch.cuda.cudart() if self.registered else None
        for ptr in self.registered:
            if int(cudart.cudaHostUnregister(ptr)) != 0:
                _clear_cuda_error(self.dev['actions'].device)
        self.registered = []


def page_groups(spans, page):
    """[(start, end, name)] byte ranges -> [(start, end, [names])]: ranges that share a memory page
    merged (the pages of one range can be registered only once)."""
    groups = []
    for start, end, name in sorted(spans):
        if groups and start // page <= (groups[-1][1] - 1) // page:
            groups[-1] = (groups[-1][0], max(groups[-1][1], end), groups[-1][2] + [name])
        else:
            groups.append((start, end, [name]))
    return groups


def _clear_cuda_error(device):
    """A failed CUDA runtime call leaves its error as the thread's last error, which torch's next
    kernel-launch check would report as its own. torch exposes no cudaGetLastError, but that check
    reads (and so clears) it: run one tiny kernel and drop what it reports."""
    with contextlib.suppress(RuntimeError):
        torch.ones(1, device=device).add_(1)
