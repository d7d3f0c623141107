"""The algorithm's pieces against plain loops and direct formulas (reference 6.1-6.4)."""
import math

import pytest
import torch

from pufferlib import ppo
from pufferlib.models import log_prob_entropy


# -- advantage ----------------------------------------------------------------------------------------

def loop_advantage(values, rewards, dones, ratios, gamma, lam, rho_clip, c_clip):
    """Reference 6.2 written with Python floats, one row at a time."""
    N, T = len(values), len(values[0])
    out = [[0.0] * T for _ in range(N)]
    for i in range(N):
        adv = 0.0
        for t in range(T - 2, -1, -1):
            rho = min(ratios[i][t], rho_clip)
            c = min(ratios[i][t], c_clip)
            m = 1.0 - dones[i][t + 1]
            delta = rho * (rewards[i][t + 1] + gamma * values[i][t + 1] * m - values[i][t])
            adv = delta + gamma * lam * c * m * adv
            out[i][t] = adv
    return torch.tensor(out)


@pytest.mark.parametrize('rho_clip, c_clip', [(1.0, 1.0), (0.5, 2.0), (2.1, 1.08), (5.0, 0.1)])
def test_advantage_matches_python_loop(rho_clip, c_clip):
    torch.manual_seed(0)
    N, T = 6, 40
    values = torch.randn(N, T)
    rewards = torch.randn(N, T)
    dones = (torch.rand(N, T) < 0.15).float()
    ratios = torch.exp(torch.randn(N, T) * 0.7)   # spans both sides of every clip
    args = (0.97, 0.9, rho_clip, c_clip)
    adv = ppo.puffer_advantage(values, rewards, dones, ratios, *args)
    ref = loop_advantage(values.tolist(), rewards.tolist(), dones.tolist(), ratios.tolist(), *args)
    torch.testing.assert_close(adv, ref, rtol=1e-5, atol=1e-5)
    assert torch.all(adv[:, -1] == 0)   # last step of each segment: bootstrap only


def test_advantage_with_unit_ratios_is_truncated_gae():
    torch.manual_seed(1)
    N, T, gamma, lam = 3, 25, 0.99, 0.95
    values, rewards = torch.randn(N, T), torch.randn(N, T)
    dones = (torch.rand(N, T) < 0.2).float()
    adv = ppo.puffer_advantage(values, rewards, dones, torch.ones(N, T), gamma, lam, 1.0, 1.0)
    # GAE: A_t = sum_k (gamma lam)^k delta_{t+k}, stopping at a done or the segment's end.
    for i in range(N):
        for t in range(T - 1):
            total, discount = 0.0, 1.0
            for s in range(t, T - 1):
                m = 1 - dones[i, s + 1].item()
                delta = rewards[i, s + 1].item() + gamma * values[i, s + 1].item() * m - values[i, s].item()
                total += discount * delta
                discount *= gamma * lam * m
                if m == 0:
                    break
            assert adv[i, t].item() == pytest.approx(total, abs=1e-4)


def test_terminal_cuts_bootstrap_and_trace():
    # One row: reward 1 arrives with a terminal at slot 3; values after it must not leak back.
    values = torch.tensor([[0.0, 0.0, 0.0, 100.0, 100.0, 100.0]])
    rewards = torch.tensor([[0.0, 0.0, 0.0, 1.0, 0.0, 0.0]])
    dones = torch.tensor([[0.0, 0.0, 0.0, 1.0, 0.0, 0.0]])
    adv = ppo.puffer_advantage(values, rewards, dones, torch.ones(1, 6), 0.5, 1.0, 1.0, 1.0)
    torch.testing.assert_close(adv[0, :3], torch.tensor([0.25, 0.5, 1.0]))


def test_reward_clamp():
    r = torch.tensor([-7.0, -1.0, 0.3, 1.0, 7.0])
    assert ppo.clamp_rewards(r).tolist() == pytest.approx([-1, -1, 0.3, 1, 1])


def test_cosine_schedule():
    assert ppo.cosine_schedule(0.1, 0, 10, 0.0) == pytest.approx(0.1)
    assert ppo.cosine_schedule(0.1, 5, 10, 0.0) == pytest.approx(0.05)
    assert ppo.cosine_schedule(0.1, 10, 10, 0.2) == pytest.approx(0.02)
    assert ppo.cosine_schedule(0.1, 50, 10, 0.2) == pytest.approx(0.02)   # clipped past the end


# -- prioritized replay --------------------------------------------------------------------------------

def test_priorities_formula():
    torch.manual_seed(2)
    adv = torch.randn(5, 8)
    alpha = 0.7
    p = adv.abs().sum(1) ** alpha
    expected = (p + 1e-6) / (p.sum() + 1e-6)
    torch.testing.assert_close(ppo.priorities(adv, alpha), expected)
    # NaN rows get (almost) nothing.
    adv[2, 3] = float('nan')
    P = ppo.priorities(adv, alpha)
    assert torch.isfinite(P).all() and P[2] < 1e-5


def test_alpha_zero_is_uniform_with_unit_weights():
    torch.manual_seed(3)
    adv = torch.randn(16, 8) * torch.arange(16).unsqueeze(1)   # row 0 all zeros
    P = ppo.priorities(adv, 0.0)
    torch.testing.assert_close(P, torch.full((16,), 1 / 16), rtol=1e-5, atol=0)
    idx = torch.arange(16)
    for beta in (0.0, 0.5, 1.0):
        torch.testing.assert_close(ppo.importance_weights(P, idx, beta), torch.ones(16), rtol=1e-5, atol=0)


def test_importance_weights_and_sampling_frequencies():
    P = torch.tensor([0.1, 0.2, 0.3, 0.4])
    idx = torch.tensor([0, 3, 3])
    torch.testing.assert_close(ppo.importance_weights(P, idx, 0.6), (4 * P[idx]) ** -0.6)
    g = torch.Generator().manual_seed(4)
    samples = ppo.sample_segments(P, 200_000, g)
    freq = torch.bincount(samples, minlength=4).float() / 200_000
    torch.testing.assert_close(freq, P, atol=5e-3, rtol=0)


def test_prio_beta_schedule():
    assert ppo.prio_beta(0.2, 0.8, 0, 10) == pytest.approx(0.2)
    assert ppo.prio_beta(0.2, 0.8, 10, 10) == pytest.approx(0.2 + 0.8 * 0.8)
    assert ppo.prio_beta(0.2, 1.0, 10, 10) == pytest.approx(1.0)


# -- PPO loss ----------------------------------------------------------------------------------------------

def make_batch(S=4, T=6, act_sizes=(3, 2), seed=5, continuous=False):
    g = torch.Generator().manual_seed(seed)
    D = len(act_sizes) if continuous else sum(act_sizes)
    logits = torch.randn(S, T, D, generator=g, dtype=torch.float64)
    values = torch.randn(S, T, generator=g, dtype=torch.float64)
    if continuous:
        actions = torch.randn(S, T, D, generator=g, dtype=torch.float64)
        logstd = torch.randn(1, D, generator=g, dtype=torch.float64) * 0.3
    else:
        actions = torch.stack([torch.randint(0, a, (S, T), generator=g) for a in act_sizes], -1)
        logstd = None
    with torch.no_grad():
        lp, _ = log_prob_entropy(logits, logstd, actions, list(act_sizes))
    old_logprobs = lp + torch.randn(S, T, generator=g, dtype=torch.float64) * 0.3   # ratios off 1
    old_values = values + torch.randn(S, T, generator=g, dtype=torch.float64) * 0.3
    advantages = torch.randn(S, T, generator=g, dtype=torch.float64)
    weights = torch.rand(S, generator=g, dtype=torch.float64) + 0.5
    return logits, values, logstd, actions, old_logprobs, old_values, advantages, weights


COEFS = dict(clip_coef=0.2, vf_clip_coef=0.2, vf_coef=2.0, ent_coef=0.01)


def test_ppo_loss_value_matches_direct_formula():
    logits, values, logstd, actions, old_lp, old_v, adv, w = make_batch()
    loss, logs, ratio, _ = ppo.ppo_loss(logits, values, logstd, actions, old_lp, old_v, adv, w, [3, 2], **COEFS)
    lp, ent = log_prob_entropy(logits, None, actions, [3, 2])
    r = torch.exp(lp - old_lp)
    flat = adv.flatten()
    mean, std = flat.mean(), math.sqrt(((flat - flat.mean()) ** 2).sum().item() / (flat.numel() - 1))
    a = (adv - mean) / (std + 1e-8) * w.unsqueeze(1)
    pg = torch.maximum(-a * r, -a * r.clamp(0.8, 1.2)).mean()
    R = old_v + adv
    vc = old_v + (values - old_v).clamp(-0.2, 0.2)
    vl = 0.5 * torch.maximum((values - R) ** 2, (vc - R) ** 2).mean()
    total = pg + 2.0 * vl - 0.01 * ent.mean()
    assert loss.item() == pytest.approx(total.item(), rel=1e-12)
    log = dict(zip(ppo.LOSS_KEYS, logs.tolist()))
    assert log['policy'] == pytest.approx(pg.item()) and log['value'] == pytest.approx(vl.item())
    assert log['clipfrac'] == pytest.approx(((r - 1).abs() > 0.2).double().mean().item())
    assert log['old_kl'] == pytest.approx((old_lp - lp).mean().item())
    assert log['kl'] == pytest.approx(((r - 1) - (lp - old_lp)).mean().item())
    torch.testing.assert_close(ratio, r)


def test_ppo_loss_gradients_match_analytic_kernel_formulas():
    """The gradient formulas of the native fused kernel (reference 6.4), discrete heads."""
    S, T, act_sizes = 4, 6, [3, 2]
    logits, values, _, actions, old_lp, old_v, adv, w = make_batch(S, T, act_sizes)
    logits.requires_grad_(True), values.requires_grad_(True)
    loss, _, _, _ = ppo.ppo_loss(logits, values, None, actions, old_lp, old_v, adv, w, act_sizes, **COEFS)
    g_logits, g_values = torch.autograd.grad(loss, (logits, values))

    n, eps, ent_coef, vf_coef = S * T, 0.2, 0.01, 2.0
    with torch.no_grad():
        lp, _ = log_prob_entropy(logits, None, actions, act_sizes)
        ratio = torch.exp(lp - old_lp)
        a = (adv - adv.mean()) / (adv.std() + 1e-8) * w.unsqueeze(1)
        clipped_active = torch.where(a > 0, ratio > 1 + eps, ratio < 1 - eps)
        g = torch.where(clipped_active, torch.zeros_like(ratio), -a / n) * ratio
        expected = torch.zeros_like(logits)
        start = 0
        for h, size in enumerate(act_sizes):
            p = torch.softmax(logits[..., start:start + size], -1)
            logp = torch.log(p)
            H = -(p * logp).sum(-1, keepdim=True)
            onehot = torch.nn.functional.one_hot(actions[..., h], size).double()
            expected[..., start:start + size] = g.unsqueeze(-1) * (onehot - p) + (-ent_coef / n) * p * (-H - logp)
            start += size
        R = old_v + adv
        vc = old_v + (values - old_v).clamp(-eps, eps)
        unclipped_max = (values - R) ** 2 >= (vc - R) ** 2
        inside = (values - old_v).abs() <= eps
        expected_v = torch.where(unclipped_max, vf_coef / n * (values - R),
                                 torch.where(inside, vf_coef / n * (vc - R), torch.zeros_like(values)))
    torch.testing.assert_close(g_logits, expected, rtol=1e-9, atol=1e-12)
    torch.testing.assert_close(g_values, expected_v, rtol=1e-9, atol=1e-12)


def test_ppo_loss_continuous_gradients_match_finite_differences():
    logits, values, logstd, actions, old_lp, old_v, adv, w = make_batch(continuous=True, act_sizes=(1, 1, 1))
    logits.requires_grad_(True), values.requires_grad_(True), logstd.requires_grad_(True)
    inputs = (logits, values, logstd)

    def f(lg, v, ls):
        return ppo.ppo_loss(lg, v, ls, actions, old_lp, old_v, adv, w, [1, 1, 1], **COEFS)[0]

    assert torch.autograd.gradcheck(f, inputs, eps=1e-6, atol=1e-6)
