"""PufferNet for the torch backend, and the action distributions.

The default network is the native one, parameter for parameter, so one checkpoint format serves
both backends (reference 5.1): no biases anywhere, registered in this order

    encoder  (H, OBS)        uniform +-sqrt(2)/sqrt(OBS)   linear, no nonlinearity
    decoder  (D+1, H)        uniform +-1/sqrt(H)           rows 0..D-1 logits (or means), row D value
    logstd   (1, NUM_ATNS)   zeros                         continuous actions only
    layers.l (3H, H)         uniform +-1/sqrt(H)           one MinGRU layer each

D = sum(act_sizes) for (multi-)discrete actions, NUM_ATNS for continuous ones (a head of size 1 is a
continuous dimension). `config['torch']['network']` swaps the recurrent core for an MLP or an LSTM;
encoder, decoder and logstd stay the same.

Recurrent state is reset per episode (DESIGN.md decision 3): the rollout zeroes an agent's state
after a step that ended its episode, and the training scan cuts the carried state at the same
positions (`resets[b, t] = 1` means: the observation at t starts a new episode).
"""
import math

import torch
import torch.nn.functional as F
from torch import nn


def uniform_(weight, bound, generator):
    with torch.no_grad():
        weight.uniform_(-bound, bound, generator=generator)
    return weight


# ------------------------------------------------------------------------------------------------
# MinGRU (reference 5.2, 5.3)
#
#   [k, z, p] = W x                       three H-blocks: hidden, gate, proj
#   g(k) = k + 0.5 if k >= 0 else sigmoid(k)
#   h_t  = (1 - sigmoid(z)) h_{t-1} + sigmoid(z) g(k)
#   y_t  = sigmoid(p) h_t + (1 - sigmoid(p)) x      highway; y feeds the next layer, h is carried
# ------------------------------------------------------------------------------------------------

def mingru_step(x, h, weight):
    """One step. x, h: (B, H); weight: (3H, H). Returns (y, h_new)."""
    k, z, p = F.linear(x, weight).chunk(3, dim=-1)
    g = torch.where(k >= 0, k + 0.5, torch.sigmoid(k))
    h = torch.lerp(h, g, torch.sigmoid(z))
    y = torch.lerp(x, h, torch.sigmoid(p))
    return y, h


def log_g(k):
    # relu keeps the unused branch's gradient finite (log of a negative would give NaN * 0).
    return torch.where(k >= 0, torch.log(F.relu(k) + 0.5), F.logsigmoid(k))


class LogSpaceScan(torch.autograd.Function):
    """log h_t = logaddexp(log a_t + log h_{t-1}, log b_t), i.e. h_t = a_t h_{t-1} + b_t in log space.

    log_a, log_b: (B, T, H); log_h0: (B, H). Returns log h: (B, T, H).

    This is the reference's training scan (5.3) the way its kernel runs it: a walk over t, parallel
    over B*H, in log space. The reference keeps offsets, h_t = exp(A_t + s_t) with A = cumsum(log a)
    and s_t = logaddexp(s_{t-1}, log b_t - A_t); we carry log h_t = A_t + s_t directly, which is the
    same sum without the offsets. That matters for per-episode resets: log a_t = -inf at a reset cuts
    the carried state exactly, whereas A = -inf would make log b_i - A_i = -inf - -inf = NaN (and the
    torch.logcumsumexp form, A + logcumsumexp(log b - A), also loses ~1e-4 to cancellation in fp32).
    The backward is written out so it costs two vectorised passes and one walk back over t:
        w_t = exp(log a_t + log h_{t-1} - log h_t)    share of h_t carried over from h_{t-1}
        G_t = dL/dlog h_t + w_{t+1} G_{t+1}            gradient reaching log h_t, walking t backwards
        dlog a_t = w_t G_t,   dlog b_t = (1 - w_t) G_t,   dlog h0 = w_0 G_0
    Each step of either walk writes its slot in place (out=): two kernels per step forward, one back.
    """

    @staticmethod
    def forward(ctx, log_a, log_b, log_h0):
        log_h = torch.empty_like(log_b)
        prev = log_h0
        for t in range(log_b.shape[1]):
            prev = torch.logaddexp(log_a[:, t] + prev, log_b[:, t], out=log_h[:, t])
        ctx.save_for_backward(log_a, log_h0, log_h)
        return log_h

    @staticmethod
    def backward(ctx, grad_log_h):
        log_a, log_h0, log_h = ctx.saved_tensors
        log_h_prev = torch.cat([log_h0.unsqueeze(1), log_h[:, :-1]], dim=1)
        w = torch.exp(log_a + log_h_prev - log_h)   # 0 at resets and where h_{t-1} = 0
        G = torch.empty_like(grad_log_h)
        T = grad_log_h.shape[1]
        G[:, T - 1] = grad_log_h[:, T - 1]
        for t in range(T - 2, -1, -1):
            torch.addcmul(grad_log_h[:, t], G[:, t + 1], w[:, t + 1], out=G[:, t])
        d_log_a = G * w
        return d_log_a, G - d_log_a, G[:, 0] * w[:, 0]


def mingru_sequence(x, h0, weight, resets):
    """Training form. x: (B, T, H); h0: (B, H) (>= 0); resets: (B, T) bool. Returns (y, h_T)."""
    k, z, p = F.linear(x, weight).chunk(3, dim=-1)
    softplus_z = F.softplus(z)
    log_a = (-softplus_z).masked_fill(resets.unsqueeze(-1), -math.inf)  # log(1 - sigmoid(z)); cut at resets
    log_b = (z - softplus_z) + log_g(k)               # log sigmoid(z) + log g(k)
    log_h0 = torch.log(h0.clamp_min(0))               # zero state -> -inf, handled by logaddexp
    h = torch.exp(LogSpaceScan.apply(log_a, log_b, log_h0))
    y = torch.lerp(x, h, torch.sigmoid(p))
    return y, h[:, -1]


# ------------------------------------------------------------------------------------------------
# The policy
# ------------------------------------------------------------------------------------------------

class PufferNet(nn.Module):
    """Encoder -> recurrent core -> decoder (logits/means + value), optional logstd.

    network: 'MinGRU' (native layout; state (L, B, H)), 'MLP' (L bias-free Linear+GELU layers with a
    residual; stateless, state (0, B, H)), 'LSTM' (L bias-free LSTM cells, layers.l = [W_ih; W_hh]
    of shape (4H, 2H); state (2L, B, H) = h of every layer, then c of every layer).
    """

    def __init__(self, obs_size, act_sizes, hidden_size=128, num_layers=4, network='MinGRU',
                 seed=73):
        super().__init__()
        act_sizes = [int(a) for a in act_sizes]
        if network not in ('MinGRU', 'MLP', 'LSTM'):
            raise ValueError(f"torch.network must be MinGRU, MLP or LSTM, got {network!r}")
        self.continuous = all(a == 1 for a in act_sizes)
        if any(a == 1 for a in act_sizes) and not self.continuous:
            raise ValueError(f"mixed continuous and discrete action heads are not supported: {act_sizes}")
        self.obs_size, self.act_sizes = int(obs_size), act_sizes
        self.num_atns = len(act_sizes)
        self.hidden_size, self.num_layers, self.network = int(hidden_size), int(num_layers), network
        H, L, D = self.hidden_size, self.num_layers, sum(act_sizes)
        self.logit_dim = D

        gen = torch.Generator().manual_seed(int(seed))
        # Registration order is the checkpoint order: encoder, decoder, [logstd], layers.
        self.encoder = nn.Parameter(uniform_(torch.empty(H, obs_size), math.sqrt(2) / math.sqrt(obs_size), gen))
        self.decoder = nn.Parameter(uniform_(torch.empty(D + 1, H), 1 / math.sqrt(H), gen))
        if self.continuous:
            self.logstd = nn.Parameter(torch.zeros(1, self.num_atns))
        else:
            self.logstd = None
        rows, cols = {'MinGRU': (3 * H, H), 'MLP': (H, H), 'LSTM': (4 * H, 2 * H)}[network]
        self.layers = nn.ParameterList(
            [nn.Parameter(uniform_(torch.empty(rows, cols), 1 / math.sqrt(H), gen)) for _ in range(L)])

    # the native checkpoint: every parameter as fp32, flattened, in registration order ------------------
    def flat_weights(self):
        return torch.cat([p.detach().float().flatten().cpu() for p in self.parameters()])

    def load_flat_weights(self, flat):
        flat = torch.as_tensor(flat, dtype=torch.float32).flatten()
        total = sum(p.numel() for p in self.parameters())
        if flat.numel() != total:
            raise ValueError(f"checkpoint holds {flat.numel()} weights, this policy has {total} "
                             f"(obs {self.obs_size}, actions {self.act_sizes}, hidden {self.hidden_size}, "
                             f"layers {self.num_layers}, network {self.network})")
        offset = 0
        with torch.no_grad():
            for p in self.parameters():
                p.copy_(flat[offset:offset + p.numel()].view_as(p))
                offset += p.numel()

    # state ---------------------------------------------------------------------------------------
    def initial_state(self, batch, device=None):
        n = {'MinGRU': self.num_layers, 'MLP': 0, 'LSTM': 2 * self.num_layers}[self.network]
        return torch.zeros(n, batch, self.hidden_size, device=device or self.encoder.device,
                           dtype=self.encoder.dtype)

    def encode(self, obs):
        return F.linear(obs.to(self.encoder.dtype), self.encoder)  # uint8 obs as raw values

    def decode(self, hidden):
        out = F.linear(hidden, self.decoder)
        return out[..., :-1], out[..., -1]

    # rollout: one step ---------------------------------------------------------------------------
    def forward_step(self, obs, state):
        """obs (B, OBS), state from initial_state -> (logits or means (B, D), value (B,), new state)."""
        x = self.encode(obs)
        new_state = []
        if self.network == 'MinGRU':
            for weight, h in zip(self.layers, state):
                x, h = mingru_step(x, h, weight)
                new_state.append(h)
        elif self.network == 'MLP':
            for weight in self.layers:
                x = x + F.gelu(F.linear(x, weight))
        else:
            L = self.num_layers
            for l, weight in enumerate(self.layers):
                h, c = lstm_step(x, state[l], state[L + l], weight)
                new_state.append(h), new_state.append(c)
                x = h
            new_state = new_state[0::2] + new_state[1::2]
        logits, value = self.decode(x)
        new_state = torch.stack(new_state) if new_state else state
        return logits, value, new_state

    # training: whole segments ------------------------------------------------------------------------
    def forward_sequence(self, obs, state0, resets):
        """obs (B, T, OBS), state0 (n, B, H), resets (B, T) -> (logits (B, T, D), values (B, T)).

        resets[b, t] true: the episode ended before step t, so step t starts from a zero state.
        """
        x = self.encode(obs)
        resets = resets.bool()
        if self.network == 'MinGRU':
            for weight, h0 in zip(self.layers, state0):
                x, _ = mingru_sequence(x, h0, weight, resets)
        elif self.network == 'MLP':
            for weight in self.layers:
                x = x + F.gelu(F.linear(x, weight))
        else:
            # LSTM: step by step (it has no log-space form); keep = 0 where an episode starts.
            L, T = self.num_layers, x.shape[1]
            keep = (~resets).to(x.dtype).unsqueeze(-1)
            hs, cs = list(state0[:L]), list(state0[L:])
            outs = []
            for t in range(T):
                xt = x[:, t]
                for l, weight in enumerate(self.layers):
                    hs[l], cs[l] = lstm_step(xt, hs[l] * keep[:, t], cs[l] * keep[:, t], weight)
                    xt = hs[l]
                outs.append(xt)
            x = torch.stack(outs, dim=1)
        return self.decode(x)


def lstm_step(x, h, c, weight):
    i, f, g, o = F.linear(torch.cat([x, h], dim=-1), weight).chunk(4, dim=-1)
    c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
    h = torch.sigmoid(o) * torch.tanh(c)
    return h, c


def make_policy(obs_size, act_sizes, config):
    """The policy a config asks for: [policy] hidden_size/num_layers, [torch] network, base seed."""
    policy = config.get('policy', {})
    return PufferNet(obs_size, act_sizes,
                     hidden_size=int(policy.get('hidden_size', 128)),
                     num_layers=int(policy.get('num_layers', 4)),
                     network=config.get('torch', {}).get('network', 'MinGRU'),
                     seed=int(config.get('seed', 73)))


# ------------------------------------------------------------------------------------------------
# Action distributions (reference 5.4)
#
# Discrete / multi-discrete: head h owns the consecutive logit slice of width act_sizes[h]; the joint
# log-prob and the entropy are sums over heads. Actions are integers 0..k-1 (int64 here).
# Continuous: a = mu + exp(logstd) * eps, not squashed (envs clip); log-prob and entropy summed over dims.
# ------------------------------------------------------------------------------------------------

LOG_SQRT_2PI = 0.5 * math.log(2 * math.pi)


def _heads(logits, act_sizes):
    return torch.split(logits, act_sizes, dim=-1)


def sample_actions(logits, logstd, act_sizes, generator=None):
    """logits (N, D) -> (actions (N, num_atns): int64 discrete / float continuous, logprob (N,))."""
    if logstd is not None:
        std = logstd.exp()
        eps = torch.randn(logits.shape, generator=generator, device=logits.device, dtype=logits.dtype)
        actions = logits + std * eps
        logprob = (-0.5 * eps.square() - LOG_SQRT_2PI - logstd).sum(-1)
        return actions, logprob
    actions, logprob = [], 0
    for head in _heads(logits, act_sizes):
        logp = torch.log_softmax(head.float(), dim=-1)
        # Inverse CDF, as the native kernel: count the options whose cumulative mass is below u.
        u = torch.rand(head.shape[0], 1, generator=generator, device=head.device)
        cdf = logp.exp().cumsum(-1)
        a = (cdf < u).sum(-1, keepdim=True).clamp_max(head.shape[-1] - 1)
        actions.append(a)
        logprob = logprob + logp.gather(-1, a).squeeze(-1)
    return torch.cat(actions, dim=-1), logprob


def log_prob_entropy(logits, logstd, actions, act_sizes):
    """logits (..., D), actions (..., num_atns) -> (log_prob (...), entropy (...)), both summed over heads."""
    if logstd is not None:
        std = logstd.exp()
        log_prob = (-0.5 * ((actions - logits) / std).square() - LOG_SQRT_2PI - logstd).sum(-1)
        entropy = (0.5 + LOG_SQRT_2PI + logstd).sum(-1).expand(log_prob.shape)
        return log_prob, entropy
    log_prob, entropy = 0, 0
    actions = actions.long()
    for h, head in enumerate(_heads(logits, act_sizes)):
        logp = torch.log_softmax(head, dim=-1)
        log_prob = log_prob + logp.gather(-1, actions[..., h:h + 1]).squeeze(-1)
        entropy = entropy - (logp.exp() * logp).sum(-1)
    return log_prob, entropy
