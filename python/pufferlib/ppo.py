"""The PPO variant, as plain functions in the order one epoch uses them (reference section 6):

    clamp_rewards -> cosine_schedule -> per minibatch: puffer_advantage -> priorities ->
    sample_segments -> importance_weights -> ppo_loss

Shapes: a batch is (N, T) = one row per agent, one column per step of the horizon. Slot t holds the
observation seen at step t together with the reward and done flag produced by the action before it.
"""
import math

import torch

from .models import log_prob_entropy


def clamp_rewards(rewards):
    """Ocean envs are designed to give rewards in [-1, 1]; the trainer enforces it (pitfalls 2)."""
    return rewards.clamp(-1.0, 1.0)


def cosine_schedule(value, epoch, total_epochs, min_ratio):
    """Cosine anneal from value to min_ratio*value over total_epochs (6.1 step 4)."""
    progress = min(max(epoch / max(total_epochs, 1), 0.0), 1.0)
    low = min_ratio * value
    return low + 0.5 * (value - low) * (1 + math.cos(math.pi * progress))


def puffer_advantage(values, rewards, dones, ratios, gamma, gae_lambda, rho_clip, c_clip):
    """GAE with V-trace clipping (6.2). All (N, T); returns advantages (N, T), float32.

    For t = T-2 .. 0, with m = 1 - dones[:, t+1] and rho, c the clipped importance ratios:
        delta_t = rho_t * (rewards[t+1] + gamma * values[t+1] * m - values[t])
        adv_t   = delta_t + gamma * gae_lambda * c_t * m * adv_{t+1}
    and adv_{T-1} = 0: the last step of every segment only serves as the bootstrap value.
    Every delta_t and trace factor gamma * gae_lambda * c_t * m is computed at once; only the
    recurrence walks t, one fused multiply-add per step written in place.

    TD formula: the reference has two variants (pitfalls 5). We clip the whole TD error,
    rho * (r + gamma V' - V), which is V-trace as published (Espeholt et al. 2018) and what the
    reference's vectorised kernel -- its normal path -- computes. The other variant, rho * r + gamma V' - V,
    weights only the reward by rho, so with rho != 1 its target no longer has V as a fixed point.
    """
    N, T = values.shape
    values, rewards, dones, ratios = (x.float() for x in (values, rewards, dones, ratios))
    rho = ratios[:, :-1].clamp(max=rho_clip)
    c = ratios[:, :-1].clamp(max=c_clip)
    m = 1.0 - dones[:, 1:]
    delta = rho * (rewards[:, 1:] + gamma * values[:, 1:] * m - values[:, :-1])
    trace = gamma * gae_lambda * c * m
    advantages = torch.zeros(N, T, device=values.device)
    for t in range(T - 2, -1, -1):
        torch.addcmul(delta[:, t], trace[:, t], advantages[:, t + 1], out=advantages[:, t])
    return advantages


def priorities(advantages, alpha):
    """Row sampling probabilities P (N,) from summed |advantage| (6.3): ((sum|A|)^alpha + 1e-6)/(sum + 1e-6)."""
    p = advantages.abs().sum(dim=1).pow(alpha)
    p = torch.nan_to_num(p, nan=0.0, posinf=0.0, neginf=0.0)
    return (p + 1e-6) / (p.sum() + 1e-6)


def sample_segments(probs, segments, generator=None):
    """Row indices, i.i.d. with replacement, drawn by inverse CDF: row i covers the stretch of the
    cumulative sum that probs[i] adds. No host synchronisation, so it can run inside a CUDA graph."""
    cdf = probs.cumsum(0)
    u = torch.rand(segments, generator=generator, device=probs.device) * cdf[-1]
    return torch.searchsorted(cdf, u, right=True).clamp_max(probs.shape[0] - 1)


def importance_weights(probs, idx, beta):
    """(N * P_i)^-beta for the sampled rows; no max-normalisation (pitfalls 6). beta: float or tensor."""
    return (probs.shape[0] * probs[idx]).pow(-beta)


def prio_beta(beta0, alpha, epoch, total_epochs):
    """Importance exponent for this epoch (6.1 step 6); reaches 1 only when alpha = 1."""
    return beta0 + (1 - beta0) * alpha * epoch / max(total_epochs, 1)


LOSS_KEYS = ('policy', 'value', 'entropy', 'total', 'old_kl', 'kl', 'clipfrac')


def ppo_loss(logits, new_values, logstd, actions, old_logprobs, old_values, advantages, prio_weights,
             act_sizes, clip_coef, vf_clip_coef, vf_coef, ent_coef):
    """Clipped PPO with clipped value loss and entropy bonus (6.4). ent_coef: float or 0-d tensor.

    logits (S, T, D), new_values (S, T), actions (S, T, num_atns), old_logprobs/old_values/advantages
    (S, T), prio_weights (S,). Returns (loss, logs: (7,) tensor in LOSS_KEYS order, ratio, new_values).
    """
    returns = old_values + advantages
    # Normalise over the whole minibatch (unbiased std), then weight each segment by its priority.
    adv = (advantages - advantages.mean()) / (advantages.std() + 1e-8)
    adv = adv * prio_weights.unsqueeze(1)

    new_logprobs, entropy = log_prob_entropy(logits, logstd, actions, act_sizes)
    logratio = new_logprobs - old_logprobs
    ratio = logratio.exp()

    pg_loss = torch.max(-adv * ratio, -adv * ratio.clamp(1 - clip_coef, 1 + clip_coef)).mean()

    v_clipped = old_values + (new_values - old_values).clamp(-vf_clip_coef, vf_clip_coef)
    v_loss = 0.5 * torch.max((new_values - returns).square(), (v_clipped - returns).square()).mean()

    entropy_loss = entropy.mean()
    loss = pg_loss + vf_coef * v_loss - ent_coef * entropy_loss

    with torch.no_grad():  # kept on the device; the trainer averages and reads them once per epoch
        logs = torch.stack([pg_loss, v_loss, entropy_loss, loss,
                            (-logratio).mean(),
                            ((ratio - 1) - logratio).mean(),
                            ((ratio - 1).abs() > clip_coef).float().mean()]).detach()
    return loss, logs, ratio.detach(), new_values.detach()


def explained_variance(predictions, targets):
    """1 - Var(targets - predictions) / Var(targets), NaN when Var(targets) is 0 or not finite.
    A 0-d tensor (no host synchronisation); the trainer reads it with the epoch's losses."""
    var = targets.var()
    ev = 1 - (targets - predictions).var() / var
    return torch.where(torch.isfinite(var) & (var != 0), ev, torch.full_like(ev, float('nan')))
