"""C reference kernels (libpuffer_kernels.so) against torch fp64 references and autograd.

Every output is poisoned (NaN, or -1 for integers) before the call, so an element the kernel
forgot to write fails the check; inputs are fresh random draws at realistic shapes.
The library is found next to the installed pufferlib package, or at $PUFFER_KERNELS_LIB.
"""
import ctypes
import math
import os
import pathlib

import numpy as np
import pytest
import torch

torch.set_grad_enabled(True)

# ---------------------------------------------------------------------------------------------
# Loading


def _lib_path():
    env = os.environ.get('PUFFER_KERNELS_LIB')
    if env:
        return env
    import pufferlib
    return str(pathlib.Path(pufferlib.__file__).parent / 'libpuffer_kernels.so')


P = ctypes.c_void_p
I = ctypes.c_int
I64 = ctypes.c_int64
U64 = ctypes.c_uint64
F = ctypes.c_float

SIGNATURES = {
    'pk_abi_version': ([], I),
    'pk_gemm_cpu': ([I, I, I, I, I, F, P, P, F, P], None),
    'pk_linear_forward_cpu': ([P, P, P, I, I, I], None),
    'pk_linear_backward_cpu': ([P, P, P, P, P, I, I, I, F, F], None),
    'pk_mingru_step_cpu': ([P, P, P, P, P, I, I], None),
    'pk_mingru_scan_forward_cpu': ([P, P, P, P, P, P, I, I, I], None),
    'pk_mingru_scan_backward_cpu': ([P, P, P, P, P, P, P, P, P, I, I, I], None),
    'pk_philox4x32_cpu': ([P, P, P], None),
    'pk_sample_discrete_cpu': ([P, P, P, P, I, P, I, I, U64, P, I], None),
    'pk_sample_continuous_cpu': ([P, P, P, P, I, P, I, I, U64, P, I], None),
    'pk_advantage_cpu': ([P, P, P, P, P, I, I, F, F, F, F, F], None),
    'pk_prio_weights_cpu': ([P, P, P, I, I, F], None),
    'pk_prio_sample_cpu': ([P, P, P, P, I, I, F, U64, P], None),
    'pk_ppo_loss_discrete_cpu': ([P, P, P, P, P, I, P, P, I, P, P, P, P, I, I, F, F, F, F], None),
    'pk_ppo_loss_continuous_cpu': ([P, P, P, P, P, P, I, P, P, I, P, P, P, P, I, I, F, F, F, F],
                                   None),
    'pk_grad_norm_cpu': ([P, I64], F),
    'pk_clip_grad_norm_cpu': ([P, I64, F], F),
    'pk_muon_workspace_floats_cpu': ([P, P, I], ctypes.c_size_t),
    'pk_muon_cpu': ([P, P, P, P, P, P, I, P, F, F, F, P], F),
    'pk_f32_to_bf16_cpu': ([P, P, I64], None),
    'pk_bf16_to_f32_cpu': ([P, P, I64], None),
}


@pytest.fixture(scope='module')
def lib():
    path = _lib_path()
    assert os.path.exists(path), f'kernel library not found: {path} (build it or set PUFFER_KERNELS_LIB)'
    L = ctypes.CDLL(path)
    for name, (args, res) in SIGNATURES.items():
        fn = getattr(L, name)
        fn.argtypes = args
        fn.restype = res
    assert L.pk_abi_version() == 1
    return L


def ptr(a):
    if a is None:
        return None
    assert a.flags['C_CONTIGUOUS']
    return a.ctypes.data_as(P)


def nan(*shape):
    return np.full(shape, np.nan, np.float32)


def f32(t):
    return np.ascontiguousarray(np.asarray(t, dtype=np.float32))


def t64(a):
    return torch.from_numpy(np.asarray(a, dtype=np.float64).copy())


def check(name, out, ref, tol):
    """Relative error ||out - ref|| / ||ref|| < tol; every element finite."""
    out = np.asarray(out, dtype=np.float64)
    ref = np.asarray(ref.detach().numpy() if torch.is_tensor(ref) else ref, dtype=np.float64)
    assert out.shape == ref.shape, f'{name}: shape {out.shape} vs {ref.shape}'
    bad = ~np.isfinite(out)
    assert not bad.any(), f'{name}: {bad.sum()} non-finite (unwritten?) elements, first at {np.argwhere(bad)[0]}'
    denom = max(np.linalg.norm(ref), 1e-30)
    err = np.linalg.norm(out - ref) / denom
    assert err < tol, f'{name}: relative error {err:.3e} >= {tol:.1e}'
    return err


@pytest.fixture
def rng(request):
    """Fresh inputs every run; the seed is printed on failure (PUFFER_TEST_SEED=N replays it)."""
    seed = int(os.environ.get('PUFFER_TEST_SEED', np.random.SeedSequence().entropy % (2**31)))
    print(f'seed {seed}')
    return np.random.default_rng(seed)


# ---------------------------------------------------------------------------------------------
# The checker itself must be able to fail


def test_checker_catches_errors():
    ref = np.random.default_rng(0).standard_normal(1000)
    check('exact', ref.copy(), ref, 1e-6)
    wrong = ref.copy()
    wrong[17] += 0.5
    with pytest.raises(AssertionError):
        check('one wrong element', wrong, ref, 1e-3)
    unwritten = ref.copy()
    unwritten[3] = np.nan
    with pytest.raises(AssertionError):
        check('one unwritten element', unwritten, ref, 1.0)


# ---------------------------------------------------------------------------------------------
# linear.c


@pytest.mark.parametrize('ta,tb', [(0, 0), (0, 1), (1, 0), (1, 1)])
@pytest.mark.parametrize('beta', [0.0, 0.5])
def test_gemm(lib, rng, ta, tb, beta):
    M, N, K = 257, 131, 190
    A = f32(rng.standard_normal((K, M) if ta else (M, K)))
    B = f32(rng.standard_normal((N, K) if tb else (K, N)))
    C0 = f32(rng.standard_normal((M, N)))
    C = nan(M, N) if beta == 0.0 else C0.copy()
    lib.pk_gemm_cpu(ta, tb, M, N, K, 0.75, ptr(A), ptr(B), beta, ptr(C))
    a, b = t64(A), t64(B)
    ref = 0.75 * (a.T if ta else a) @ (b.T if tb else b) + (beta * t64(C0) if beta else 0)
    check('gemm', C, ref, 1e-5)


@pytest.mark.parametrize('M,K,N', [(512 * 16, 128, 384), (4096, 118, 65), (37, 64, 3)])
def test_linear_forward_backward(lib, rng, M, K, N):
    x = f32(rng.standard_normal((M, K)))
    w = f32(rng.uniform(-1, 1, (N, K)) / math.sqrt(K))
    dy = f32(rng.standard_normal((M, N)))
    dx_prev = f32(rng.standard_normal((M, K)))
    y = nan(M, N)
    lib.pk_linear_forward_cpu(ptr(y), ptr(x), ptr(w), M, K, N)
    xt, wt = t64(x).requires_grad_(), t64(w).requires_grad_()
    yt = xt @ wt.T
    yt.backward(t64(dy))
    check('y', y, yt, 1e-5)

    dx, dw = nan(M, K), nan(N, K)
    lib.pk_linear_backward_cpu(ptr(dx), ptr(dw), ptr(dy), ptr(x), ptr(w), M, K, N, 0.0, 0.0)
    check('dx', dx, xt.grad, 1e-5)
    check('dw', dw, wt.grad, 1e-5)

    # accumulation into dx (the MinGRU highway term arrives first), and dw skipped
    dx2 = dx_prev.copy()
    lib.pk_linear_backward_cpu(ptr(dx2), None, ptr(dy), ptr(x), ptr(w), M, K, N, 1.0, 0.0)
    check('dx accumulated', dx2, xt.grad + t64(dx_prev), 1e-5)


# ---------------------------------------------------------------------------------------------
# mingru.c


def mingru_ref(kzp, x, h0, reset):
    """fp64 torch MinGRU scan with highway and per-episode reset. kzp (B,T,3H), x (B,T,H)."""
    B, T, H = x.shape
    k, z, p = kzp[..., :H], kzp[..., H:2 * H], kzp[..., 2 * H:]
    g = torch.where(k >= 0, k + 0.5, torch.sigmoid(k))
    u = torch.sigmoid(z)
    s = torch.sigmoid(p)
    h = h0 if h0 is not None else torch.zeros(B, H, dtype=x.dtype)
    hs, ys = [], []
    for t in range(T):
        if reset is not None:
            h = h * (1 - reset[:, t:t + 1])
        h = (1 - u[:, t]) * h + u[:, t] * g[:, t]
        hs.append(h)
        ys.append(s[:, t] * h + (1 - s[:, t]) * x[:, t])
    return torch.stack(ys, 1), torch.stack(hs, 1)


def mingru_inputs(rng, B, T, H, reset_p=0.05, with_h0=True, scale=1.5):
    kzp = f32(rng.standard_normal((B, T, 3 * H)) * scale)
    x = f32(rng.standard_normal((B, T, H)))
    h0 = f32(rng.standard_normal((B, H))) if with_h0 else None
    reset = f32(rng.random((B, T)) < reset_p) if reset_p else None
    return kzp, x, h0, reset


@pytest.mark.parametrize('B,T,H,reset_p,with_h0,scale', [
    (512, 16, 64, 0.05, True, 1.5),
    (64, 64, 128, 0.1, False, 1.5),
    (128, 32, 128, 0.0, True, 1.5),
    (8, 64, 96, 0.5, True, 1.5),
    (16, 16, 67, 0.1, True, 40.0),  # saturating gates (exp clamps), H not a multiple of 8
])
def test_mingru_scan_forward_backward(lib, rng, B, T, H, reset_p, with_h0, scale):
    kzp, x, h0, reset = mingru_inputs(rng, B, T, H, reset_p, with_h0, scale)
    dy = f32(rng.standard_normal((B, T, H)))
    dh_last = f32(rng.standard_normal((B, H)))

    y, hs = nan(B, T, H), nan(B, T, H)
    lib.pk_mingru_scan_forward_cpu(ptr(y), ptr(hs), ptr(kzp), ptr(x), ptr(h0), ptr(reset), B, T, H)
    kt, xt = t64(kzp).requires_grad_(), t64(x).requires_grad_()
    yt, hst = mingru_ref(kt, xt, None if h0 is None else t64(h0), None if reset is None else t64(reset))
    check('y', y, yt, 1e-5)
    check('hs', hs, hst, 1e-5)

    ((yt * t64(dy)).sum() + (hst[:, -1] * t64(dh_last)).sum()).backward()
    dkzp, dx = nan(B, T, 3 * H), nan(B, T, H)
    lib.pk_mingru_scan_backward_cpu(ptr(dkzp), ptr(dx), ptr(dy), ptr(dh_last), ptr(kzp), ptr(x),
                                    ptr(hs), ptr(h0), ptr(reset), B, T, H)
    check('dk', dkzp[..., :H], kt.grad[..., :H], 1e-5)
    check('dz', dkzp[..., H:2 * H], kt.grad[..., H:2 * H], 1e-5)
    check('dp', dkzp[..., 2 * H:], kt.grad[..., 2 * H:], 1e-5)
    check('dx (highway)', dx, xt.grad, 1e-5)

    # no upstream gradient on the final state
    kt.grad = None
    xt.grad = None
    yt2, _ = mingru_ref(kt, xt, None if h0 is None else t64(h0), None if reset is None else t64(reset))
    (yt2 * t64(dy)).sum().backward()
    dkzp2 = nan(B, T, 3 * H)
    lib.pk_mingru_scan_backward_cpu(ptr(dkzp2), ptr(dx), ptr(dy), None, ptr(kzp), ptr(x),
                                    ptr(hs), ptr(h0), ptr(reset), B, T, H)
    check('dkzp (no dh_last)', dkzp2, kt.grad, 1e-5)


def test_mingru_step_matches_scan(lib, rng):
    B, T, H = 256, 24, 128
    kzp, x, h0, reset = mingru_inputs(rng, B, T, H, 0.1, True)
    y, hs = nan(B, T, H), nan(B, T, H)
    lib.pk_mingru_scan_forward_cpu(ptr(y), ptr(hs), ptr(kzp), ptr(x), ptr(h0), ptr(reset), B, T, H)
    yref, _ = mingru_ref(t64(kzp), t64(x), t64(h0), t64(reset))
    state = h0.copy()
    for t in range(T):
        yt = nan(B, H)
        lib.pk_mingru_step_cpu(ptr(yt), ptr(state), ptr(np.ascontiguousarray(kzp[:, t])),
                               ptr(np.ascontiguousarray(x[:, t])),
                               ptr(np.ascontiguousarray(reset[:, t])), B, H)
        check(f'step y t={t}', yt, yref[:, t], 1e-5)
        np.testing.assert_array_equal(yt, y[:, t])       # same arithmetic as the scan
        np.testing.assert_array_equal(state, hs[:, t])
    # reset = NULL means no reset
    st = h0.copy()
    y0 = nan(B, H)
    lib.pk_mingru_step_cpu(ptr(y0), ptr(st), ptr(np.ascontiguousarray(kzp[:, 0])),
                           ptr(np.ascontiguousarray(x[:, 0])), None, B, H)
    yr, hr = mingru_ref(t64(kzp[:, :1]), t64(x[:, :1]), t64(h0), None)
    check('step without reset', y0, yr[:, 0], 1e-5)
    check('step state', st, hr[:, 0], 1e-5)


def test_mingru_matches_log_space_form(lib, rng):
    """The direct recurrence computes the reference's log-space (Heinsen) scan (spec 5.3)."""
    B, T, H = 64, 64, 64
    kzp, x, _, _ = mingru_inputs(rng, B, T, H, 0.0, False)
    h0 = f32(rng.uniform(0.1, 2.0, (B, H)))  # log h0 needs h0 > 0
    y, hs = nan(B, T, H), nan(B, T, H)
    lib.pk_mingru_scan_forward_cpu(ptr(y), ptr(hs), ptr(kzp), ptr(x), ptr(h0), None, B, T, H)
    kz = t64(kzp)
    k, z, p = kz[..., :H], kz[..., H:2 * H], kz[..., 2 * H:]
    sp = torch.nn.functional.softplus
    log_a = -sp(z)
    log_g = torch.where(k >= 0, torch.log(torch.clamp(k, min=0) + 0.5), -sp(-k))
    log_b = -sp(-z) + log_g
    A = torch.cumsum(log_a, 1)
    terms = torch.cat([torch.log(t64(h0))[:, None], log_b - A], 1)
    s = torch.logcumsumexp(terms, 1)[:, 1:]
    h = torch.exp(A + s)
    yref = torch.sigmoid(p) * h + (1 - torch.sigmoid(p)) * t64(x)
    check('hs vs log-space', hs, h, 1e-5)
    check('y vs log-space', y, yref, 1e-5)


# ---------------------------------------------------------------------------------------------
# sample.c


def test_philox_known_answers(lib):
    """Random123's known-answer vectors for philox4x32_10."""
    cases = [
        ([0, 0, 0, 0], [0, 0], [0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8]),
        ([0xffffffff] * 4, [0xffffffff] * 2, [0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd]),
        ([0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344], [0xa4093822, 0x299f31d0],
         [0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1]),
    ]
    for ctr, key, want in cases:
        out = np.zeros(4, np.uint32)
        lib.pk_philox4x32_cpu(ptr(out), ptr(np.array(ctr, np.uint32)), ptr(np.array(key, np.uint32)))
        assert [int(v) for v in out] == want


def philox_words(lib, seed, draw, stream, step):
    out = np.zeros(4, np.uint32)
    ctr = np.array([draw, stream, step & 0xffffffff, step >> 32], np.uint32)
    key = np.array([seed & 0xffffffff, seed >> 32], np.uint32)
    lib.pk_philox4x32_cpu(ptr(out), ptr(ctr), ptr(key))
    return out


def uniform(word):
    return ((int(word) >> 8) + 1) / 16777216.0


def test_sample_discrete(lib, rng):
    B, heads = 512, [3, 9, 5, 2]
    D = sum(heads)
    ld = D + 1
    logits = f32(rng.standard_normal((B, ld)) * 2)
    sizes = np.array(heads, np.int32)
    seed, agent_offset, step = 0x1234_5678_9abc, 1000, 7
    counter = np.array([step], np.uint64)
    actions = np.full((B, len(heads)), -1, np.int32)
    logprob, value = nan(B), nan(B)
    lib.pk_sample_discrete_cpu(ptr(actions), ptr(logprob), ptr(value), ptr(logits), ld, ptr(sizes),
                               len(heads), B, seed, ptr(counter), agent_offset)
    assert counter[0] == step + 1
    np.testing.assert_array_equal(value, logits[:, D])
    # each action is the inverse-CDF pick of the Philox uniform (recomputed here in fp64)
    lt = t64(logits)
    mismatch, off = 0, 0
    ref_logp = torch.zeros(B, dtype=torch.float64)
    for h, A in enumerate(heads):
        logp = torch.log_softmax(lt[:, off:off + A], 1)
        probs = logp.exp().numpy()
        for b in range(B):
            u = uniform(philox_words(lib, seed, h, agent_offset + b, step)[0])
            cdf = np.cumsum(probs[b])
            want = min(int(np.searchsorted(cdf, u * cdf[-1])), A - 1)
            if actions[b, h] != want:
                mismatch += 1
                assert np.min(np.abs(cdf / cdf[-1] - u)) < 1e-5, (b, h, actions[b, h], want)
        assert ((actions[:, h] >= 0) & (actions[:, h] < A)).all()
        ref_logp += logp.gather(1, torch.from_numpy(actions[:, h:h + 1].astype(np.int64)))[:, 0]
        off += A
    assert mismatch <= 2
    check('logprob', logprob, ref_logp, 1e-5)


def test_sample_discrete_distribution(lib, rng):
    """Many agents with the same logits: empirical frequencies match the softmax."""
    B, heads = 65536, [4, 7]
    D = sum(heads)
    row = rng.standard_normal(D + 1) * 1.5
    logits = f32(np.tile(row, (B, 1)))
    sizes = np.array(heads, np.int32)
    counter = np.array([3], np.uint64)
    actions = np.full((B, 2), -1, np.int32)
    logprob, value = nan(B), nan(B)
    lib.pk_sample_discrete_cpu(ptr(actions), ptr(logprob), ptr(value), ptr(logits), D + 1,
                               ptr(sizes), 2, B, 99, ptr(counter), 0)
    off = 0
    for h, A in enumerate(heads):
        p = torch.softmax(t64(row[off:off + A]), 0).numpy()
        freq = np.bincount(actions[:, h], minlength=A) / B
        sigma = np.sqrt(p * (1 - p) / B)
        assert np.all(np.abs(freq - p) < 5 * sigma + 1e-4), (freq, p)
        off += A


def test_sample_continuous(lib, rng):
    B, A = 512, 6
    ld = A + 1
    mean = f32(rng.standard_normal((B, ld)))
    logstd = f32(rng.uniform(-1.5, 0.5, A))
    logstd[0] = -30.0  # clamped to -20
    seed, agent_offset, step = 42, 17, (1 << 33) + 5
    counter = np.array([step], np.uint64)
    actions, logprob, value = nan(B, A), nan(B), nan(B)
    lib.pk_sample_continuous_cpu(ptr(actions), ptr(logprob), ptr(value), ptr(mean), ld, ptr(logstd),
                                 A, B, seed, ptr(counter), agent_offset)
    assert counter[0] == step + 1
    np.testing.assert_array_equal(value, mean[:, A])
    eps = np.zeros((B, A))
    for b in range(B):
        for d in range(A):
            w = philox_words(lib, seed, d, agent_offset + b, step)
            eps[b, d] = math.sqrt(-2 * math.log(uniform(w[0]))) * math.cos(2 * math.pi * uniform(w[1]))
    ls = torch.clamp(t64(logstd), -20, 2)
    ref_actions = t64(mean[:, :A]) + torch.exp(ls) * t64(eps)
    check('actions', actions, ref_actions, 1e-5)
    ref_logp = torch.distributions.Normal(t64(mean[:, :A]), torch.exp(ls)).log_prob(ref_actions).sum(1)
    check('logprob', logprob, -0.5 * (t64(eps) ** 2).sum(1) - A * 0.5 * math.log(2 * math.pi) - ls.sum(), 1e-5)
    # the closed form equals torch's Normal log-prob of the drawn action (up to the action's rounding)
    check('logprob vs Normal', logprob[:, None], ref_logp[:, None], 1e-3)
    # and eps is standard normal
    e = (actions[:, 1:] - mean[:, 1:A]) / np.exp(logstd[1:])
    assert abs(e.mean()) < 0.1 and abs(e.std() - 1) < 0.1


# ---------------------------------------------------------------------------------------------
# advantage.c


def advantage_ref(values, rewards, dones, ratios, gamma, lam, rho_clip, c_clip, reward_clip):
    N, T = values.shape
    V, r, d = values.astype(np.float64), rewards.astype(np.float64), dones.astype(np.float64)
    w = np.ones_like(V) if ratios is None else ratios.astype(np.float64)
    if reward_clip > 0:
        r = np.clip(r, -reward_clip, reward_clip)
    A = np.zeros((N, T))
    for t in range(T - 2, -1, -1):
        rho, c, m = np.minimum(w[:, t], rho_clip), np.minimum(w[:, t], c_clip), 1 - d[:, t + 1]
        delta = rho * (r[:, t + 1] + gamma * V[:, t + 1] * m - V[:, t])
        A[:, t] = delta + gamma * lam * c * m * A[:, t + 1]
    return A


@pytest.mark.parametrize('N,T', [(4096, 64), (512, 16), (33, 7)])
def test_advantage(lib, rng, N, T):
    values = f32(rng.standard_normal((N, T)))
    rewards = f32(rng.uniform(-2, 2, (N, T)))
    dones = f32(rng.random((N, T)) < 0.05)
    ratios = f32(rng.uniform(0.5, 1.5, (N, T)))
    adv = nan(N, T)
    lib.pk_advantage_cpu(ptr(adv), ptr(values), ptr(rewards), ptr(dones), ptr(ratios), N, T,
                         0.995, 0.9, 1.0, 0.9, 1.0)
    check('adv', adv, advantage_ref(values, rewards, dones, ratios, 0.995, 0.9, 1.0, 0.9, 1.0), 1e-5)

    # ratios NULL and no clamp: plain truncated GAE
    adv = nan(N, T)
    lib.pk_advantage_cpu(ptr(adv), ptr(values), ptr(rewards), ptr(dones), None, N, T,
                         0.99, 0.95, 1.0, 1.0, 0.0)
    V, r, m = values.astype(np.float64), rewards.astype(np.float64), 1 - dones.astype(np.float64)
    gae = np.zeros((N, T))
    for t in range(T - 2, -1, -1):
        delta = r[:, t + 1] + 0.99 * V[:, t + 1] * m[:, t + 1] - V[:, t]
        gae[:, t] = delta + 0.99 * 0.95 * m[:, t + 1] * gae[:, t + 1]
    check('gae', adv, gae, 1e-5)
    assert (adv[:, -1] == 0).all()


# ---------------------------------------------------------------------------------------------
# prio.c


@pytest.mark.parametrize('alpha', [0.8, 0.0])
def test_prio(lib, rng, alpha):
    N, T, S = 4096, 64, 128
    adv = f32(rng.standard_normal((N, T)) * rng.uniform(0, 2, (N, 1)))
    adv[5] = 0.0
    adv[7, 3] = np.nan  # a NaN row gets priority 0 (eps only)
    probs, cdf = nan(N), np.full(N, np.nan)
    lib.pk_prio_weights_cpu(ptr(probs), ptr(cdf), ptr(adv), N, T, alpha)
    p = np.abs(adv.astype(np.float64)).sum(1) ** alpha
    p[~np.isfinite(p)] = 0
    P = (p + 1e-6) / (p + 1e-6).sum()
    check('probs', probs, P, 1e-5)
    check('cdf', cdf, np.cumsum(p + 1e-6), 1e-6)
    assert abs(probs.sum() - 1) < 1e-4

    seed, step = 777, 11
    counter = np.array([step], np.uint64)
    idx, weights = np.full(S, -1, np.int32), nan(S)
    beta = 0.4
    lib.pk_prio_sample_cpu(ptr(idx), ptr(weights), ptr(probs), ptr(cdf), N, S, beta, seed, ptr(counter))
    assert counter[0] == step + 1
    for s in range(S):
        u = uniform(philox_words(lib, seed, s, 0x7072696F, step)[0])
        assert idx[s] == np.searchsorted(cdf, u * cdf[-1])
    check('weights', weights, (N * P[idx]) ** -beta, 1e-5)
    if alpha == 0.0:
        check('uniform weights', weights, np.ones(S), 1e-5)


def test_prio_sampling_distribution(lib, rng):
    N, T = 16, 8
    adv = f32(rng.uniform(0, 1, (N, T)) * np.arange(1, N + 1)[:, None])
    probs, cdf = nan(N), np.full(N, np.nan)
    lib.pk_prio_weights_cpu(ptr(probs), ptr(cdf), ptr(adv), N, T, 1.0)
    S = 50000
    idx, weights = np.full(S, -1, np.int32), nan(S)
    lib.pk_prio_sample_cpu(ptr(idx), ptr(weights), ptr(probs), ptr(cdf), N, S, 0.5, 5,
                           ptr(np.array([0], np.uint64)))
    freq = np.bincount(idx, minlength=N) / S
    sigma = np.sqrt(probs * (1 - probs) / S)
    assert np.all(np.abs(freq - probs) < 5 * sigma), (freq, probs)


# ---------------------------------------------------------------------------------------------
# ppo.c


def ppo_ref(logits_or_mean, logstd, actions, heads, old_logp, adv, old_v, segw, T, cfg, continuous):
    clip, vclip, vf, ent_c = cfg
    M = adv.shape[0]
    advt = t64(adv)
    an = (advt - advt.mean()) / (advt.std() + 1e-8) * t64(segw).repeat_interleave(T)
    if continuous:
        A = len(heads)
        mu = logits_or_mean[:, :A]
        v = logits_or_mean[:, A]
        ls = torch.clamp(logstd, -20, 2)
        dist = torch.distributions.Normal(mu, torch.exp(ls))
        logp = dist.log_prob(t64(actions)).sum(1)
        ent = (0.5 + 0.5 * math.log(2 * math.pi) + ls).sum().expand(M)
    else:
        D = sum(heads)
        v = logits_or_mean[:, D]
        logp = torch.zeros(M, dtype=torch.float64)
        ent = torch.zeros(M, dtype=torch.float64)
        off = 0
        for h, A in enumerate(heads):
            lp = torch.log_softmax(logits_or_mean[:, off:off + A], 1)
            logp = logp + lp.gather(1, torch.from_numpy(actions[:, h:h + 1].astype(np.int64)))[:, 0]
            ent = ent - (lp.exp() * lp).sum(1)
            off += A
    logratio = logp - t64(old_logp)
    ratio = logratio.exp()
    pg = torch.max(-an * ratio, -an * torch.clamp(ratio, 1 - clip, 1 + clip))
    R = t64(old_v) + advt
    v_clip = t64(old_v) + torch.clamp(v - t64(old_v), -vclip, vclip)
    lv = 0.5 * torch.max((v - R) ** 2, (v_clip - R) ** 2)
    total = pg.mean() + vf * lv.mean() - ent_c * ent.mean()
    logs = [pg.mean(), lv.mean(), ent.mean(), total, (-logratio).mean(),
            ((ratio - 1) - logratio).mean(), ((ratio - 1).abs() > clip).double().mean()]
    return total, torch.stack([l.detach() for l in logs]), ratio.detach(), v.detach()


PPO_CFG = (0.2, 0.2, 2.0, 0.01)


@pytest.mark.parametrize('N,T,heads,pad', [(64, 64, [3, 9, 5], 0), (128, 16, [4], 3), (8, 32, [2] * 12, 0)])
def test_ppo_loss_discrete(lib, rng, N, T, heads, pad):
    M, D = N * T, sum(heads)
    ld = D + 1 + pad
    logits = f32(rng.standard_normal((M, ld)) * 1.5)
    actions = np.stack([rng.integers(0, A, M) for A in heads], 1).astype(np.int32)
    lt = t64(logits)
    logp_now = torch.zeros(M, dtype=torch.float64)
    off = 0
    for h, A in enumerate(heads):
        logp_now += torch.log_softmax(lt[:, off:off + A], 1)[torch.arange(M), actions[:, h]]
        off += A
    old_logp = f32(logp_now.numpy() + rng.normal(0, 0.3, M))  # ratios on both sides of the band
    adv = f32(rng.standard_normal(M) * 2 + 0.3)
    old_v = f32(logits[:, D] + rng.normal(0, 0.4, M))           # value clipping engaged
    segw = f32(rng.uniform(0.5, 2.0, N))
    sizes = np.array(heads, np.int32)

    dlogits, ratio, newv = nan(M, ld), nan(M), nan(M)
    logs = np.zeros(8, np.float32)
    logs[:] = [1, 2, 3, 4, 5, 6, 7, 1]  # accumulates
    lib.pk_ppo_loss_discrete_cpu(ptr(dlogits), ptr(ratio), ptr(newv), ptr(logs), ptr(logits), ld,
                                 ptr(actions), ptr(sizes), len(heads), ptr(old_logp), ptr(adv),
                                 ptr(old_v), ptr(segw), N, T, *PPO_CFG)
    x = t64(logits).requires_grad_()
    total, ref_logs, ref_ratio, ref_v = ppo_ref(x, None, actions, heads, old_logp, adv, old_v, segw,
                                                 T, PPO_CFG, False)
    total.backward()
    check('dlogits', dlogits[:, :D + 1], x.grad[:, :D + 1], 1e-5)
    assert (dlogits[:, D + 1:] == 0).all()
    check('ratio', ratio, ref_ratio, 1e-5)
    np.testing.assert_array_equal(newv, logits[:, D])
    got = logs - np.array([1, 2, 3, 4, 5, 6, 7, 1], np.float32)
    assert got[7] == 1
    for i, name in enumerate(['policy', 'value', 'entropy', 'total', 'old_kl', 'kl', 'clipfrac']):
        assert abs(got[i] - ref_logs[i].item()) < 1e-4 * max(1, abs(ref_logs[i].item())), name
    assert 0.05 < ref_logs[6] < 0.95  # clipping really engaged


@pytest.mark.parametrize('N,T,A', [(64, 64, 4), (16, 32, 1)])
def test_ppo_loss_continuous(lib, rng, N, T, A):
    M, ld = N * T, A + 1
    mean = f32(rng.standard_normal((M, ld)))
    logstd = f32(rng.uniform(-1, 0.5, A))
    if A > 1:
        logstd[1] = 2.5  # above the clamp [-20, 2]: used as 2, no gradient
    sigma = np.exp(np.clip(logstd, -20, 2))
    actions = f32(mean[:, :A] + sigma * rng.standard_normal((M, A)))
    logp_now = torch.distributions.Normal(t64(mean[:, :A]), t64(sigma)).log_prob(t64(actions)).sum(1)
    old_logp = f32(logp_now.numpy() + rng.normal(0, 0.3, M))
    adv = f32(rng.standard_normal(M))
    old_v = f32(mean[:, A] + rng.normal(0, 0.4, M))
    segw = f32(rng.uniform(0.5, 2.0, N))

    dmean, dlogstd, ratio, newv = nan(M, ld), nan(A), nan(M), nan(M)
    logs = np.zeros(8, np.float32)
    lib.pk_ppo_loss_continuous_cpu(ptr(dmean), ptr(dlogstd), ptr(ratio), ptr(newv), ptr(logs),
                                   ptr(mean), ld, ptr(logstd), ptr(actions), A, ptr(old_logp),
                                   ptr(adv), ptr(old_v), ptr(segw), N, T, *PPO_CFG)
    x = t64(mean).requires_grad_()
    ls = t64(logstd).requires_grad_()
    total, ref_logs, ref_ratio, _ = ppo_ref(x, ls, actions, list(range(A)), old_logp, adv, old_v,
                                            segw, T, PPO_CFG, True)
    total.backward()
    check('dmean', dmean, x.grad, 1e-5)
    check('dlogstd', dlogstd, ls.grad, 1e-4)
    if A > 1:
        assert dlogstd[1] == 0
    check('ratio', ratio, ref_ratio, 1e-5)
    np.testing.assert_array_equal(newv, mean[:, A])
    assert logs[7] == 1
    for i in range(7):
        assert abs(logs[i] - ref_logs[i].item()) < 1e-4 * max(1, abs(ref_logs[i].item())), i


# ---------------------------------------------------------------------------------------------
# optim.c


def test_grad_norm_and_clip(lib, rng):
    n = 202_112
    g = f32(rng.standard_normal(n) * 0.01)
    norm = lib.pk_grad_norm_cpu(ptr(g), n)
    ref = np.linalg.norm(g.astype(np.float64))
    assert abs(norm - ref) < 1e-5 * ref
    for max_norm in [0.5 * ref, 2 * ref]:
        gc = g.copy()
        got = lib.pk_clip_grad_norm_cpu(ptr(gc), n, max_norm)
        assert abs(got - ref) < 1e-5 * ref
        t = t64(g).requires_grad_()
        t.grad = t64(g)
        torch.nn.utils.clip_grad_norm_([t], max_norm)  # same formula: max / (norm + 1e-6), capped at 1
        check('clipped', gc, t.grad, 1e-5)


NS_COEFS = [(4.0848, -6.8946, 2.9270), (3.9505, -6.3029, 2.6377), (3.7418, -5.5913, 2.3037),
            (2.8769, -3.1427, 1.2046), (2.8366, -3.0525, 1.2012)]


def muon_ref(W, G, Mom, shapes, lr, mu, max_norm, wd):
    """fp64 Muon on a flat vector (torch, per tensor), as spec 6.5 describes it."""
    norm = torch.sqrt(sum((G[o:o + n] ** 2).sum() for o, n, _ in shapes))
    scale = min(max_norm / (norm.item() + 1e-6), 1.0) if max_norm > 0 else 1.0
    W, Mom = W.clone(), Mom.clone()
    for o, n, shape in shapes:
        g = G[o:o + n] * scale
        Mom[o:o + n] = mu * Mom[o:o + n] + g
        u = g + mu * Mom[o:o + n]
        if shape is None:
            upd = u
        else:
            R, C = shape
            X = u.reshape(R, C)
            X = X / max(torch.linalg.norm(X).item(), 1e-7)
            tall = R > C
            if tall:
                X = X.T
            for a, b, c in NS_COEFS:
                S = X @ X.T
                X = a * X + (b * S + c * S @ S) @ X
            if tall:
                X = X.T
            upd = X.reshape(-1) * math.sqrt(max(1.0, R / C))
        W[o:o + n] = W[o:o + n] * (1 - lr * wd) - lr * upd
    return W, Mom, norm.item()


def test_muon(lib, rng):
    # breakout-like: encoder (64 x 118), decoder (4 x 64), two MinGRU layers (192 x 64), a logstd
    # row (1 x 3) and a 1-D bias (16); offsets padded to 8 floats like the arena
    specs = [(64, 118), (4, 64), (192, 64), (192, 64), (1, 3), (0, 16)]
    offsets, rows, cols, shapes, off = [], [], [], [], 0
    for R, C in specs:
        n = R * C if R else C
        offsets.append(off)
        rows.append(R)
        cols.append(C)
        shapes.append((off, n, (R, C) if R else None))
        off += (n + 7) // 8 * 8
    total = off
    offsets = np.array(offsets, np.int64)
    rows, cols = np.array(rows, np.int32), np.array(cols, np.int32)
    W = f32(rng.uniform(-0.1, 0.1, total))
    Mom = np.zeros(total, np.float32)
    ws = np.full(lib.pk_muon_workspace_floats_cpu(ptr(rows), ptr(cols), len(specs)), np.nan, np.float32)
    Wt, Mt = t64(W), t64(Mom)
    lr = np.array([0.015], np.float32)
    pad = np.ones(total, bool)
    for o, n, _ in shapes:
        pad[o:o + n] = False
    for step, max_norm in enumerate([1.5, 0.0, 1000.0]):
        G = f32(rng.standard_normal(total) * 0.05)
        G[pad] = 0.0  # arena padding is zero (the norm runs over the whole span)
        grad_copy = G.copy()
        norm = lib.pk_muon_cpu(ptr(W), ptr(G), ptr(Mom), ptr(offsets), ptr(rows), ptr(cols),
                               len(specs), ptr(lr), 0.95, max_norm, 0.01, ptr(ws))
        np.testing.assert_array_equal(G, grad_copy)  # grad is read only
        Wt, Mt, ref_norm = muon_ref(Wt, t64(G), Mt, shapes, 0.015, 0.95, max_norm, 0.01)
        assert abs(norm - ref_norm) < 1e-5 * ref_norm
        for o, n, shape in shapes:
            check(f'step {step} W {shape}', W[o:o + n], Wt[o:o + n], 1e-5)
            check(f'step {step} momentum {shape}', Mom[o:o + n], Mt[o:o + n], 1e-5)
    # the update of a 2-D tensor is (nearly) orthogonal: singular values of X near 1 (NS leaves
    # them in roughly [0.7, 1.2])
    o, n, (R, C) = shapes[0]
    W0 = W[o:o + n].copy()
    G = f32(rng.standard_normal(total))
    lib.pk_muon_cpu(ptr(W), ptr(G), ptr(Mom), ptr(offsets), ptr(rows), ptr(cols), len(specs), ptr(lr),
                    0.0, 0.0, 0.0, ptr(ws))
    X = (W0 - W[o:o + n]).reshape(R, C) / 0.015
    sv = np.linalg.svd(X, compute_uv=False)
    assert sv.min() > 0.5 and sv.max() < 1.3, sv


# ---------------------------------------------------------------------------------------------
# cast.c


def test_casts(lib, rng):
    x = f32(np.concatenate([rng.standard_normal(100_000) * 10.0 ** rng.integers(-30, 30, 100_000),
                            [0.0, -0.0, np.inf, -np.inf, 3.4e38, -3.4e38, 1e-40, 1.00390625, 1.01171875]]))
    b = np.full(x.shape, 0xFFFF, np.uint16)
    lib.pk_f32_to_bf16_cpu(ptr(b), ptr(x), x.size)
    ref = torch.from_numpy(x).to(torch.bfloat16).view(torch.int16).numpy().view(np.uint16)
    np.testing.assert_array_equal(b, ref)
    back = nan(x.size)
    lib.pk_bf16_to_f32_cpu(ptr(back), ptr(b), x.size)
    np.testing.assert_array_equal(back, torch.from_numpy(ref.view(np.int16)).view(torch.bfloat16).float().numpy())
    nanin = f32([np.nan, -np.nan])
    nb = np.zeros(2, np.uint16)
    lib.pk_f32_to_bf16_cpu(ptr(nb), ptr(nanin), 2)
    back = nan(2)
    back[:] = 0
    lib.pk_bf16_to_f32_cpu(ptr(back), ptr(nb), 2)
    assert np.isnan(back).all()
