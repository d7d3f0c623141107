"""PufferNet: native parameter layout, the MinGRU scan against the plain recurrence, rollout vs
training forward passes, and the action distributions."""
import math

import pytest
import torch

from pufferlib.models import LogSpaceScan, PufferNet, log_prob_entropy, mingru_sequence, sample_actions


# -- layout ------------------------------------------------------------------------------------------

@pytest.mark.parametrize('obs, acts, H, L, expected', [
    (118, [3], 64, 2, 32384),        # breakout
    (121, [5], 128, 1, 65408),       # squared
    (28, [9, 5], 128, 4, 202112),    # target
    (4, [2], 32, 2, 6368),           # cartpole
])
def test_parameter_counts_match_native(obs, acts, H, L, expected):
    net = PufferNet(obs, acts, H, L)
    assert sum(p.numel() for p in net.parameters()) == expected


def test_registration_order_shapes_and_init_bounds():
    net = PufferNet(121, [1, 1], hidden_size=32, num_layers=3)  # continuous: logstd present
    names = [(n, tuple(p.shape)) for n, p in net.named_parameters()]
    assert names == [('encoder', (32, 121)), ('decoder', (3, 32)), ('logstd', (1, 2)),
                     ('layers.0', (96, 32)), ('layers.1', (96, 32)), ('layers.2', (96, 32))]
    assert net.encoder.abs().max() <= math.sqrt(2) / math.sqrt(121)
    assert net.encoder.abs().max() > 0.9 * math.sqrt(2) / math.sqrt(121)   # uniform over the full range
    assert net.decoder.abs().max() <= 1 / math.sqrt(32)
    for w in net.layers:
        assert w.abs().max() <= 1 / math.sqrt(32)
    assert torch.all(net.logstd == 0)
    assert not any('bias' in n for n, _ in net.named_parameters())
    assert PufferNet(121, [5], 32, 1).logstd is None


def test_same_seed_same_weights_different_seed_different():
    a, b, c = PufferNet(10, [3], 16, 2, seed=5), PufferNet(10, [3], 16, 2, seed=5), PufferNet(10, [3], 16, 2, seed=6)
    for pa, pb, pc in zip(a.parameters(), b.parameters(), c.parameters()):
        assert torch.equal(pa, pb)
        assert not torch.equal(pa, pc)


def test_mixed_heads_rejected():
    with pytest.raises(ValueError, match='mixed'):
        PufferNet(4, [1, 3], 8, 1)


# -- MinGRU ------------------------------------------------------------------------------------------

def reference_mingru(x, h0, weight, resets):
    """The recurrence written out element by element in float64, no torch ops beyond indexing."""
    B, T, H = x.shape
    y = torch.zeros_like(x)
    h_last = torch.zeros(B, H, dtype=x.dtype)
    sig = lambda v: 1 / (1 + math.exp(-v))
    for b in range(B):
        h = [float(v) for v in h0[b]]
        for t in range(T):
            if resets[b, t]:
                h = [0.0] * H
            proj = (weight @ x[b, t]).tolist()
            xs = x[b, t].tolist()
            for j in range(H):
                k, z, p = proj[j], proj[H + j], proj[2 * H + j]
                g = k + 0.5 if k >= 0 else sig(k)
                h[j] = (1 - sig(z)) * h[j] + sig(z) * g
                y[b, t, j] = sig(p) * h[j] + (1 - sig(p)) * xs[j]
        h_last[b] = torch.tensor(h, dtype=x.dtype)
    return y, h_last


def test_mingru_scan_equals_recurrence_fp64_with_resets():
    torch.manual_seed(0)
    B, T, H = 4, 37, 6
    x = torch.randn(B, T, H, dtype=torch.float64) * 2
    weight = torch.randn(3 * H, H, dtype=torch.float64)
    h0 = torch.rand(B, H, dtype=torch.float64)
    resets = torch.zeros(B, T, dtype=torch.bool)
    resets[0, 5] = resets[0, 6] = resets[0, 30] = True   # back-to-back resets
    resets[1, 0] = True                                  # drops h0 entirely
    resets[2, T - 1] = True                              # last step
    y, h_last = mingru_sequence(x, h0, weight, resets)
    y_ref, h_ref = reference_mingru(x, h0, weight, resets)
    torch.testing.assert_close(y, y_ref, rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(h_last, h_ref, rtol=1e-10, atol=1e-10)


def test_mingru_scan_gradients_equal_recurrence_gradients():
    torch.manual_seed(1)
    B, T, H = 3, 16, 5
    x = torch.randn(B, T, H, dtype=torch.float64, requires_grad=True)
    weight = torch.randn(3 * H, H, dtype=torch.float64, requires_grad=True)
    h0 = torch.zeros(B, H, dtype=torch.float64)
    resets = torch.rand(B, T) < 0.2
    resets[:, 0] = True
    up = torch.randn(B, T, H, dtype=torch.float64)

    y, _ = mingru_sequence(x, h0, weight, resets)
    gx, gw = torch.autograd.grad((y * up).sum(), (x, weight))

    # Same recurrence written step by step with autograd.
    h, ys = h0, []
    for t in range(T):
        h = h * (~resets[:, t]).double().unsqueeze(-1)
        k, z, p = (x[:, t] @ weight.T).chunk(3, -1)
        g = torch.where(k >= 0, k + 0.5, torch.sigmoid(k))
        h = (1 - torch.sigmoid(z)) * h + torch.sigmoid(z) * g
        ys.append(torch.sigmoid(p) * h + (1 - torch.sigmoid(p)) * x[:, t])
    rx, rw = torch.autograd.grad((torch.stack(ys, 1) * up).sum(), (x, weight))
    assert torch.isfinite(gx).all() and torch.isfinite(gw).all()
    torch.testing.assert_close(gx, rx, rtol=1e-9, atol=1e-9)
    torch.testing.assert_close(gw, rw, rtol=1e-9, atol=1e-9)


def test_log_space_scan_gradcheck_with_resets_and_initial_state():
    torch.manual_seed(8)
    B, T, H = 2, 7, 3
    log_a = (-torch.rand(B, T, H, dtype=torch.float64) * 2)
    log_a[0, 3] = -math.inf                     # a reset in the middle
    log_a = log_a.requires_grad_(True)
    log_b = torch.randn(B, T, H, dtype=torch.float64, requires_grad=True)
    log_h0 = torch.randn(B, H, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(LogSpaceScan.apply, (log_a, log_b, log_h0))
    # Forward: the linear recurrence, cut at the reset.
    a, b, h = log_a.detach().exp(), log_b.detach().exp(), log_h0.detach().exp()
    for t in range(T):
        h = a[:, t] * h + b[:, t]
        torch.testing.assert_close(LogSpaceScan.apply(log_a, log_b, log_h0)[:, t].exp(), h)


def test_mingru_scan_float32_long_horizon_stays_finite():
    torch.manual_seed(2)
    B, T, H = 8, 256, 16
    x = torch.randn(B, T, H) * 5
    weight = torch.randn(3 * H, H)
    resets = torch.rand(B, T) < 0.05
    x.requires_grad_(True)
    y, _ = mingru_sequence(x, torch.zeros(B, H), weight, resets)
    y.sum().backward()
    assert torch.isfinite(y).all() and torch.isfinite(x.grad).all()
    y64, _ = mingru_sequence(x.detach().double(), torch.zeros(B, H, dtype=torch.float64), weight.double(), resets)
    torch.testing.assert_close(y.detach().double(), y64, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize('network', ['MinGRU', 'MLP', 'LSTM'])
@pytest.mark.parametrize('acts', [[3], [4, 2], [1, 1]])
def test_forward_step_chain_equals_forward_sequence(network, acts):
    torch.manual_seed(3)
    net = PufferNet(7, acts, hidden_size=16, num_layers=2, network=network).double()
    B, T = 5, 21
    obs = torch.randn(B, T, 7, dtype=torch.float64)
    resets = torch.rand(B, T) < 0.15
    state0 = net.initial_state(B).uniform_(0, 1)
    logits_seq, values_seq = net.forward_sequence(obs, state0, resets)
    state, logits_steps, values_steps = state0, [], []
    for t in range(T):
        state = state * (~resets[:, t]).double().view(1, -1, 1)   # what the rollout does
        logits, value, state = net.forward_step(obs[:, t], state)
        logits_steps.append(logits), values_steps.append(value)
    torch.testing.assert_close(torch.stack(logits_steps, 1), logits_seq, rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(torch.stack(values_steps, 1), values_seq, rtol=1e-10, atol=1e-10)
    assert logits_seq.shape == (B, T, sum(acts)) and values_seq.shape == (B, T)


def test_uint8_observations_are_raw_values():
    net = PufferNet(5, [2], 8, 1)
    obs = torch.tensor([[0, 1, 2, 255, 7]], dtype=torch.uint8)
    logits, value, _ = net.forward_step(obs, net.initial_state(1))
    ref, ref_v, _ = net.forward_step(obs.float(), net.initial_state(1))
    assert torch.equal(logits, ref) and torch.equal(value, ref_v)


# -- action distributions ------------------------------------------------------------------------------

def test_discrete_log_prob_and_entropy_match_torch_distributions():
    torch.manual_seed(4)
    act_sizes = [3, 5, 2]
    logits = torch.randn(64, 10)
    actions = torch.stack([torch.randint(0, a, (64,)) for a in act_sizes], -1)
    lp, ent = log_prob_entropy(logits, None, actions, act_sizes)
    ref_lp, ref_ent = 0, 0
    for h, head in enumerate(torch.split(logits, act_sizes, -1)):
        d = torch.distributions.Categorical(logits=head)
        ref_lp = ref_lp + d.log_prob(actions[:, h])
        ref_ent = ref_ent + d.entropy()
    torch.testing.assert_close(lp, ref_lp)
    torch.testing.assert_close(ent, ref_ent)


def test_continuous_log_prob_and_entropy_match_normal():
    torch.manual_seed(5)
    mu = torch.randn(32, 3)
    logstd = torch.randn(1, 3) * 0.5
    actions = torch.randn(32, 3) * 2
    lp, ent = log_prob_entropy(mu, logstd, actions, [1, 1, 1])
    d = torch.distributions.Normal(mu, logstd.exp().expand_as(mu))
    torch.testing.assert_close(lp, d.log_prob(actions).sum(-1))
    torch.testing.assert_close(ent, d.entropy().sum(-1))


def test_discrete_sampling_follows_softmax_and_logprob_is_consistent():
    g = torch.Generator().manual_seed(6)
    act_sizes = [4, 3]
    head_logits = torch.tensor([[2.0, 0.0, -1.0, 0.5, -3.0, 1.0, 0.0]])
    logits = head_logits.expand(200_000, -1)
    actions, logprob = sample_actions(logits, None, act_sizes, g)
    assert actions.dtype == torch.int64 and actions.shape == (200_000, 2)
    for h, head in enumerate(torch.split(head_logits[0], act_sizes)):
        freq = torch.bincount(actions[:, h], minlength=len(head)).double() / len(actions)
        torch.testing.assert_close(freq, torch.softmax(head.double(), 0), atol=4e-3, rtol=0)
    torch.testing.assert_close(logprob, log_prob_entropy(logits, None, actions, act_sizes)[0])


def test_continuous_sampling_is_unsquashed_gaussian():
    g = torch.Generator().manual_seed(7)
    mu = torch.full((100_000, 2), 3.0)
    logstd = torch.tensor([[0.0, math.log(2.0)]])
    actions, logprob = sample_actions(mu, logstd, [1, 1], g)
    torch.testing.assert_close(actions.mean(0), torch.tensor([3.0, 3.0]), atol=0.03, rtol=0)
    torch.testing.assert_close(actions.std(0), torch.tensor([1.0, 2.0]), atol=0.03, rtol=0)
    assert actions.max() > 5   # not clipped to [-1, 1]
    torch.testing.assert_close(logprob, log_prob_entropy(mu, logstd, actions, [1, 1])[0], rtol=1e-5, atol=1e-5)


def test_flat_weights_round_trip_in_native_order():
    a, b = PufferNet(28, [9, 5], 32, 2, seed=1), PufferNet(28, [9, 5], 32, 2, seed=2)
    flat = a.flat_weights()
    assert flat.dtype == torch.float32 and flat.numel() == sum(p.numel() for p in a.parameters())
    torch.testing.assert_close(flat[:32 * 28], a.encoder.flatten())            # encoder first
    torch.testing.assert_close(flat[32 * 28:32 * 28 + 15 * 32], a.decoder.flatten())  # then decoder
    b.load_flat_weights(flat.numpy())
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))
    with pytest.raises(ValueError, match='checkpoint holds'):
        b.load_flat_weights(flat[:-1])
