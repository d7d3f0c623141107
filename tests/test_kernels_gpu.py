"""CUDA kernels (libpuffer_kernels_cuda.so) against the C reference (libpuffer_kernels.so).

Fresh random inputs at the trainer's shapes (batch 4096 agents, horizon 64, hidden 128, several
action heads), in fp32 and bf16 storage. Device outputs are poisoned (NaN / -1) before each call.
The C reference runs on exactly the values the GPU sees (bf16 inputs are rounded first).
Tolerances (METHOD.md, ||out - ref|| / ||ref||): outputs stored in fp32 1e-5 (fp32 arithmetic in
a different order: FMA contraction, reduction trees, cuBLAS blocking); outputs stored in bf16
1e-2 (one bf16 rounding of each element, 2^-9, is ~2e-3).
Libraries: next to the installed pufferlib package, or $PUFFER_KERNELS_LIB and
$PUFFER_KERNELS_CUDA_LIB.
"""
import ctypes
import math
import os
import pathlib
import sys

import numpy as np
import pytest
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import test_kernels_cpu as ref  # noqa: E402  (the CPU library loader, signatures and checker)

pytestmark = pytest.mark.gpu

P, I, I64, U64, F = ctypes.c_void_p, ctypes.c_int, ctypes.c_int64, ctypes.c_uint64, ctypes.c_float
SZ = ctypes.c_size_t

CUDA_SIGNATURES = {
    'pk_cuda_last_error': ([], ctypes.c_char_p),
    'pk_cuda_device_count': ([P], I),
    'pk_cuda_thread_init': ([], I),
    'pk_gemm_cuda': ([I, I, I, I, I, F, P, P, F, P, I, P], I),
    'pk_linear_forward_cuda': ([P, P, P, I, I, I, I, P], I),
    'pk_linear_backward_cuda': ([P, P, P, P, P, I, I, I, F, F, I, P], I),
    'pk_mingru_step_cuda': ([P, P, P, P, P, I, I, I, P], I),
    'pk_mingru_scan_forward_cuda': ([P, P, P, P, P, P, I, I, I, I, P], I),
    'pk_mingru_scan_backward_cuda': ([P, P, P, P, P, P, P, P, P, I, I, I, I, P], I),
    'pk_sample_discrete_cuda': ([P, P, P, P, I, P, I, I, U64, P, I, I, P], I),
    'pk_sample_continuous_cuda': ([P, P, P, P, I, P, I, I, U64, P, I, I, P], I),
    'pk_advantage_cuda': ([P, P, P, P, P, I, I, F, F, F, F, F, P], I),
    'pk_prio_weights_cuda': ([P, P, P, I, I, F, P], I),
    'pk_prio_sample_cuda': ([P, P, P, P, I, I, F, U64, P, P], I),
    'pk_ppo_workspace_bytes_cuda': ([I], SZ),
    'pk_ppo_loss_discrete_cuda': ([P, P, P, P, P, I, P, P, I, P, P, P, P, I, I, F, F, F, F, P, I, P], I),
    'pk_ppo_loss_continuous_cuda': ([P, P, P, P, P, P, I, P, P, I, P, P, P, P, I, I, F, F, F, F, P, I, P],
                                    I),
    'pk_norm_workspace_bytes_cuda': ([], SZ),
    'pk_grad_norm_cuda': ([P, P, I64, P, I, P], I),
    'pk_clip_grad_norm_cuda': ([P, I64, F, P, P, I, P], I),
    'pk_muon_workspace_bytes_cuda': ([P, P, I, I], SZ),
    'pk_muon_cuda': ([P, P, P, P, P, P, P, I, P, F, F, F, P, P, I, P], I),
    'pk_muon_set_path_cuda': ([I, I], None),
    'pk_cast_cuda': ([P, I, P, I, I64, P], I),
}

PK = {'fp32': 0, 'bf16': 1}
TORCH = {'fp32': torch.float32, 'bf16': torch.bfloat16}
TOL = {'fp32': 1e-5, 'bf16': 1e-2}
# PPO loss gradients: every element depends on batch-wide reductions (advantage mean and std)
GRAD_TOL = {'fp32': 1e-4, 'bf16': 1e-2}
DTYPES = ['fp32', 'bf16']

B_AGENTS, HORIZON, HIDDEN = 4096, 64, 128
HEADS = [3, 9, 5, 2]


def _cuda_lib_path():
    env = os.environ.get('PUFFER_KERNELS_CUDA_LIB')
    if env:
        return env
    cpu = os.environ.get('PUFFER_KERNELS_LIB')
    if cpu:
        return str(pathlib.Path(cpu).parent / 'libpuffer_kernels_cuda.so')
    import pufferlib
    return str(pathlib.Path(pufferlib.__file__).parent / 'libpuffer_kernels_cuda.so')


@pytest.fixture(scope='module')
def libs():
    if not torch.cuda.is_available():
        pytest.skip('no CUDA device')
    path = ref._lib_path()
    assert os.path.exists(path), f'kernel library not found: {path}'
    cpu = ctypes.CDLL(path)
    for name, (args, res) in ref.SIGNATURES.items():
        fn = getattr(cpu, name)
        fn.argtypes, fn.restype = args, res
    cpath = _cuda_lib_path()
    assert os.path.exists(cpath), f'CUDA kernel library not found: {cpath} (built without CUDA?)'
    gpu = ctypes.CDLL(cpath)
    for name, (args, res) in CUDA_SIGNATURES.items():
        fn = getattr(gpu, name)
        fn.argtypes, fn.restype = args, res
    count = ctypes.c_int(0)
    assert gpu.pk_cuda_device_count(ctypes.byref(count)) == 0 and count.value > 0
    torch.cuda.init()
    ok(gpu, gpu.pk_cuda_thread_init())
    return cpu, gpu


@pytest.fixture
def rng():
    seed = int(os.environ.get('PUFFER_TEST_SEED', np.random.SeedSequence().entropy % (2**31)))
    print(f'seed {seed}')
    return np.random.default_rng(seed)


def ok(gpu, rc):
    assert rc == 0, f'CUDA kernel failed ({rc}): {gpu.pk_cuda_last_error().decode()}'


def stream():
    return torch.cuda.current_stream().cuda_stream


def dp(t):
    """Device pointer of a torch tensor (None stays NULL)."""
    if t is None:
        return None
    assert t.is_cuda and t.is_contiguous()
    return t.data_ptr()


hp = ref.ptr  # host pointer of a numpy array


def to_dev(a, dtype='fp32'):
    """numpy -> device tensor of dtype; also the fp32 values the device holds (for the reference)."""
    t = torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32)).cuda().to(TORCH[dtype])
    return t, np.ascontiguousarray(t.float().cpu().numpy())


def poison(shape, dtype='fp32'):
    shape = shape if isinstance(shape, tuple) else (shape,)
    return torch.full(shape, float('nan'), dtype=TORCH[dtype], device='cuda')


def host(t):
    torch.cuda.synchronize()
    return t.float().cpu().numpy() if t.is_floating_point() else t.cpu().numpy()


def check(name, out, want, tol):
    return ref.check(name, out, want, tol)


# ---------------------------------------------------------------------------------------------


def test_error_reporting(libs):
    _, gpu = libs
    y = poison((4, 8))
    rc = gpu.pk_mingru_step_cuda(dp(y), None, None, None, None, 4, 8, 7, stream())
    assert rc != 0
    assert 'dtype' in gpu.pk_cuda_last_error().decode()


@pytest.mark.parametrize('dtype', DTYPES)
def test_gemm(libs, rng, dtype):
    cpu, gpu = libs
    M, N, K = 1000, 300, 200
    for ta in (0, 1):
        for tb in (0, 1):
            A, a = to_dev(rng.standard_normal((K, M) if ta else (M, K)), dtype)
            Bm, b = to_dev(rng.standard_normal((N, K) if tb else (K, N)), dtype)
            C0, c0 = to_dev(rng.standard_normal((M, N)), dtype)
            want = c0.copy()
            cpu.pk_gemm_cpu(ta, tb, M, N, K, 0.5, hp(a), hp(b), 0.25, hp(want))
            ok(gpu, gpu.pk_gemm_cuda(ta, tb, M, N, K, 0.5, dp(A), dp(Bm), 0.25, dp(C0), PK[dtype],
                                     stream()))
            check(f'gemm {ta}{tb}', host(C0), want, TOL[dtype])


@pytest.mark.parametrize('dtype', DTYPES)
def test_linear(libs, rng, dtype):
    cpu, gpu = libs
    M, K, N = B_AGENTS * HORIZON, HIDDEN, 3 * HIDDEN
    X, x = to_dev(rng.standard_normal((M, K)), dtype)
    W, w = to_dev(rng.uniform(-1, 1, (N, K)) / math.sqrt(K), dtype)
    DY, dy = to_dev(rng.standard_normal((M, N)), dtype)
    DX0, dx0 = to_dev(rng.standard_normal((M, K)), dtype)

    y = np.full((M, N), np.nan, np.float32)
    cpu.pk_linear_forward_cpu(hp(y), hp(x), hp(w), M, K, N)
    Y = poison((M, N), dtype)
    ok(gpu, gpu.pk_linear_forward_cuda(dp(Y), dp(X), dp(W), M, K, N, PK[dtype], stream()))
    check('y', host(Y), y, TOL[dtype])

    dx, dw = dx0.copy(), np.full((N, K), np.nan, np.float32)
    cpu.pk_linear_backward_cpu(hp(dx), hp(dw), hp(dy), hp(x), hp(w), M, K, N, 1.0, 0.0)
    DW = poison((N, K), dtype)
    ok(gpu, gpu.pk_linear_backward_cuda(dp(DX0), dp(DW), dp(DY), dp(X), dp(W), M, K, N, 1.0, 0.0,
                                        PK[dtype], stream()))
    check('dx (accumulated)', host(DX0), dx, TOL[dtype])
    check('dw', host(DW), dw, TOL[dtype])


@pytest.mark.parametrize('dtype', DTYPES)
@pytest.mark.parametrize('B,T,H', [
    (B_AGENTS, HORIZON, HIDDEN),  # a rollout-sized batch: one thread per sequence (version 1)
    (128, HORIZON, HIDDEN),       # a training minibatch: chunked over T (version 2)
    (37, 50, 96),                 # ragged: H not a multiple of 32, T not of the chunk count
    (1024, 64, 64),               # breakout's minibatch: two h per thread, chunked
    (61, 40, 33),                 # odd H: one h per thread (the scalar fallback), chunked
    (4096, 16, 65),               # odd H, version 1
])
def test_mingru(libs, rng, dtype, B, T, H):
    cpu, gpu = libs
    KZP, kzp = to_dev(rng.standard_normal((B, T, 3 * H)) * 1.5, dtype)
    X, x = to_dev(rng.standard_normal((B, T, H)), dtype)
    DY, dy = to_dev(rng.standard_normal((B, T, H)), dtype)
    H0, h0 = to_dev(rng.standard_normal((B, H)))
    DHL, dhl = to_dev(rng.standard_normal((B, H)))
    RESET, reset = to_dev((rng.random((B, T)) < 0.03).astype(np.float32))

    # training scan, forward
    y, hs = np.full((B, T, H), np.nan, np.float32), np.full((B, T, H), np.nan, np.float32)
    cpu.pk_mingru_scan_forward_cpu(hp(y), hp(hs), hp(kzp), hp(x), hp(h0), hp(reset), B, T, H)
    Y, HS = poison((B, T, H), dtype), poison((B, T, H))
    ok(gpu, gpu.pk_mingru_scan_forward_cuda(dp(Y), dp(HS), dp(KZP), dp(X), dp(H0), dp(RESET), B, T, H,
                                            PK[dtype], stream()))
    check('y', host(Y), y, TOL[dtype])
    check('hs', host(HS), hs, 1e-5)

    # backward
    dkzp, dx = np.full((B, T, 3 * H), np.nan, np.float32), np.full((B, T, H), np.nan, np.float32)
    cpu.pk_mingru_scan_backward_cpu(hp(dkzp), hp(dx), hp(dy), hp(dhl), hp(kzp), hp(x), hp(hs),
                                    hp(h0), hp(reset), B, T, H)
    DKZP, DX = poison((B, T, 3 * H), dtype), poison((B, T, H), dtype)
    ok(gpu, gpu.pk_mingru_scan_backward_cuda(dp(DKZP), dp(DX), dp(DY), dp(DHL), dp(KZP), dp(X), dp(HS),
                                             dp(H0), dp(RESET), B, T, H, PK[dtype], stream()))
    got = host(DKZP)
    check('dk', got[..., :H], dkzp[..., :H], TOL[dtype])
    check('dz', got[..., H:2 * H], dkzp[..., H:2 * H], TOL[dtype])
    check('dp', got[..., 2 * H:], dkzp[..., 2 * H:], TOL[dtype])
    check('dx', host(DX), dx, TOL[dtype])

    # without h0, reset and dh_last
    ok(gpu, gpu.pk_mingru_scan_forward_cuda(dp(Y), dp(HS), dp(KZP), dp(X), None, None, B, T, H,
                                            PK[dtype], stream()))
    cpu.pk_mingru_scan_forward_cpu(hp(y), hp(hs), hp(kzp), hp(x), None, None, B, T, H)
    check('hs (zero state)', host(HS), hs, 1e-5)
    DKZP.fill_(float('nan'))
    ok(gpu, gpu.pk_mingru_scan_backward_cuda(dp(DKZP), dp(DX), dp(DY), None, dp(KZP), dp(X), dp(HS),
                                             None, None, B, T, H, PK[dtype], stream()))
    cpu.pk_mingru_scan_backward_cpu(hp(dkzp), hp(dx), hp(dy), None, hp(kzp), hp(x), hp(hs), None, None,
                                    B, T, H)
    check('dkzp (zero state)', host(DKZP), dkzp, TOL[dtype])

    # one rollout step
    k1, x1, r1 = (np.ascontiguousarray(a[:, 0]) for a in (kzp, x, reset))
    K1, X1, R1 = KZP[:, 0].contiguous(), X[:, 0].contiguous(), RESET[:, 0].contiguous()
    state = h0.copy()
    y1 = np.full((B, H), np.nan, np.float32)
    cpu.pk_mingru_step_cpu(hp(y1), hp(state), hp(k1), hp(x1), hp(r1), B, H)
    STATE, Y1 = H0.clone(), poison((B, H), dtype)
    ok(gpu, gpu.pk_mingru_step_cuda(dp(Y1), dp(STATE), dp(K1), dp(X1), dp(R1), B, H, PK[dtype], stream()))
    check('step y', host(Y1), y1, TOL[dtype])
    check('step state', host(STATE), state, 1e-5)


@pytest.mark.parametrize('dtype', DTYPES)
def test_sample_discrete(libs, rng, dtype):
    cpu, gpu = libs
    B, D = B_AGENTS, sum(HEADS)
    L, logits = to_dev(rng.standard_normal((B, D + 1)) * 2, dtype)
    sizes = np.array(HEADS, np.int32)
    seed, offset, step = 0xDEADBEEF12, 4096, 123
    counter = np.array([step], np.uint64)
    act, logp, val = np.full((B, len(HEADS)), -1, np.int32), np.full(B, np.nan, np.float32), \
        np.full(B, np.nan, np.float32)
    cpu.pk_sample_discrete_cpu(hp(act), hp(logp), hp(val), hp(logits), D + 1, hp(sizes), len(HEADS), B,
                               seed, hp(counter), offset)
    CTR = torch.tensor([step], dtype=torch.int64, device='cuda')
    ACT = torch.full((B, len(HEADS)), -1, dtype=torch.int32, device='cuda')
    LOGP, VAL = poison(B), poison(B)
    ok(gpu, gpu.pk_sample_discrete_cuda(dp(ACT), dp(LOGP), dp(VAL), dp(L), D + 1, hp(sizes), len(HEADS), B,
                                        seed, dp(CTR), offset, PK[dtype], stream()))
    got = host(ACT)
    assert host(CTR)[0] == step + 1
    same = (got == act).all(1)
    assert same.mean() > 0.999, f'{(~same).sum()} agents sampled differently'
    np.testing.assert_array_equal(host(VAL), val)
    check('logprob', host(LOGP)[same], logp[same], 1e-5)


@pytest.mark.parametrize('dtype', DTYPES)
def test_sample_continuous(libs, rng, dtype):
    cpu, gpu = libs
    B, A = B_AGENTS, 4
    M_, mean = to_dev(rng.standard_normal((B, A + 1)), dtype)
    LS, logstd = to_dev(rng.uniform(-1.5, 0.5, A), dtype)
    seed, step = 31337, 9
    counter = np.array([step], np.uint64)
    act, logp, val = (np.full(s, np.nan, np.float32) for s in ((B, A), B, B))
    cpu.pk_sample_continuous_cpu(hp(act), hp(logp), hp(val), hp(mean), A + 1, hp(logstd), A, B, seed,
                                 hp(counter), 0)
    CTR = torch.tensor([step], dtype=torch.int64, device='cuda')
    ACT, LOGP, VAL = poison((B, A)), poison(B), poison(B)
    ok(gpu, gpu.pk_sample_continuous_cuda(dp(ACT), dp(LOGP), dp(VAL), dp(M_), A + 1, dp(LS), A, B, seed,
                                          dp(CTR), 0, PK[dtype], stream()))
    assert host(CTR)[0] == step + 1
    check('actions', host(ACT), act, 1e-5)
    check('logprob', host(LOGP), logp, 1e-5)
    np.testing.assert_array_equal(host(VAL), val)


def test_advantage(libs, rng):
    cpu, gpu = libs
    N, T = B_AGENTS, HORIZON
    (V, v), (R, r), (D, d), (W, w) = (to_dev(a) for a in (
        rng.standard_normal((N, T)), rng.uniform(-2, 2, (N, T)),
        (rng.random((N, T)) < 0.05).astype(np.float32), rng.uniform(0.5, 1.5, (N, T))))
    args = (N, T, 0.995, 0.9, 1.0, 0.9, 1.0)
    adv = np.full((N, T), np.nan, np.float32)
    cpu.pk_advantage_cpu(hp(adv), hp(v), hp(r), hp(d), hp(w), *args)
    ADV = poison((N, T))
    ok(gpu, gpu.pk_advantage_cuda(dp(ADV), dp(V), dp(R), dp(D), dp(W), *args, stream()))
    check('advantage', host(ADV), adv, 1e-5)
    ok(gpu, gpu.pk_advantage_cuda(dp(ADV), dp(V), dp(R), dp(D), None, *args, stream()))
    cpu.pk_advantage_cpu(hp(adv), hp(v), hp(r), hp(d), None, *args)
    check('advantage (no ratios)', host(ADV), adv, 1e-5)


def test_prio(libs, rng):
    cpu, gpu = libs
    N, T, S = B_AGENTS, HORIZON, 8192 // HORIZON
    ADV, adv = to_dev(rng.standard_normal((N, T)) * rng.uniform(0, 2, (N, 1)))
    probs, cdf = np.full(N, np.nan, np.float32), np.full(N, np.nan)
    cpu.pk_prio_weights_cpu(hp(probs), hp(cdf), hp(adv), N, T, 0.8)
    PROBS = poison(N)
    CDF = torch.full((N,), float('nan'), dtype=torch.float64, device='cuda')
    ok(gpu, gpu.pk_prio_weights_cuda(dp(PROBS), dp(CDF), dp(ADV), N, T, 0.8, stream()))
    check('probs', host(PROBS), probs, 1e-5)
    check('cdf', host(CDF), cdf, 1e-6)

    seed, step = 5, 77
    counter = np.array([step], np.uint64)
    idx, wts = np.full(S, -1, np.int32), np.full(S, np.nan, np.float32)
    cpu.pk_prio_sample_cpu(hp(idx), hp(wts), hp(probs), hp(cdf), N, S, 0.4, seed, hp(counter))
    CTR = torch.tensor([step], dtype=torch.int64, device='cuda')
    IDX, WTS = torch.full((S,), -1, dtype=torch.int32, device='cuda'), poison(S)
    ok(gpu, gpu.pk_prio_sample_cuda(dp(IDX), dp(WTS), dp(PROBS), dp(CDF), N, S, 0.4, seed, dp(CTR),
                                    stream()))
    assert host(CTR)[0] == step + 1
    got = host(IDX)
    assert (got != idx).sum() <= 1
    same = got == idx
    check('weights', host(WTS)[same], wts[same], 1e-5)


def away_from_clip_edges(lp, old_logp, value, old_v, adv, clip=0.2, vf_clip=0.2, margin=1e-3):
    """Moves the few elements whose ratio or value change sits within `margin` of a clip edge
    (in float64), in place: there the clipped/unclipped choice may go either way between two fp32
    computations, which flips that element's gradient, not a rounding difference."""
    r = np.exp(np.asarray(lp, np.float64) - old_logp.astype(np.float64))
    near = (np.abs(r - (1 - clip)) < margin) | (np.abs(r - (1 + clip)) < margin)
    old_logp[near] -= np.float32(0.01)
    v = np.asarray(value, np.float64)
    dv = v - old_v.astype(np.float64)
    old_v[np.abs(np.abs(dv) - vf_clip) < margin] += np.float32(0.01)
    # clipped value loss: the larger of the two squared errors; near a tie, move the return
    dv = v - old_v.astype(np.float64)
    R = old_v.astype(np.float64) + adv.astype(np.float64)
    v_clip = old_v + np.clip(dv, -vf_clip, vf_clip)
    lu, lc = (v - R) ** 2, (v_clip - R) ** 2
    adv[(np.abs(dv) > vf_clip) & (np.abs(lu - lc) < margin * (lu + lc + 1e-12))] += np.float32(0.05)


def ppo_inputs(rng, N, T, value_col):
    M = N * T
    old_logp = rng.normal(-3, 0.5, M).astype(np.float32)
    adv = (rng.standard_normal(M) * 2 + 0.3).astype(np.float32)
    old_v = (value_col + rng.normal(0, 0.4, M)).astype(np.float32)
    segw = rng.uniform(0.5, 2.0, N).astype(np.float32)
    return old_logp, adv, old_v, segw


@pytest.mark.parametrize('N', [B_AGENTS, 128])   # 128: a default-config minibatch (8192 rows)
@pytest.mark.parametrize('dtype', DTYPES)
def test_ppo_discrete(libs, rng, dtype, N):
    cpu, gpu = libs
    T, D = HORIZON, sum(HEADS)
    M, ld = N * T, D + 1
    L, logits = to_dev(rng.standard_normal((M, ld)) * 1.5, dtype)
    actions = np.stack([rng.integers(0, a, M) for a in HEADS], 1).astype(np.int32)
    # old log-probs near the new ones so ratios straddle the clip band
    lt = torch.from_numpy(logits).double()
    lp, off = torch.zeros(M, dtype=torch.float64), 0
    for h, a in enumerate(HEADS):
        lp += torch.log_softmax(lt[:, off:off + a], 1)[torch.arange(M), actions[:, h]]
        off += a
    _, adv, old_v, segw = ppo_inputs(rng, N, T, logits[:, D])
    old_logp = (lp.numpy() + rng.normal(0, 0.3, M)).astype(np.float32)
    away_from_clip_edges(lp.numpy(), old_logp, logits[:, D], old_v, adv)
    sizes = np.array(HEADS, np.int32)
    cfg = (0.2, 0.2, 2.0, 0.01)

    dl, ratio, newv = np.full((M, ld), np.nan, np.float32), np.full(M, np.nan, np.float32), \
        np.full(M, np.nan, np.float32)
    logs = np.zeros(8, np.float32)
    cpu.pk_ppo_loss_discrete_cpu(hp(dl), hp(ratio), hp(newv), hp(logs), hp(logits), ld, hp(actions),
                                 hp(sizes), len(HEADS), hp(old_logp), hp(adv), hp(old_v), hp(segw), N, T,
                                 *cfg)
    DL, RATIO, NEWV = poison((M, ld), dtype), poison(M), poison(M)
    LOGS = torch.zeros(8, device='cuda')
    ACT = torch.from_numpy(actions).cuda()
    OLDP, ADV, OLDV, SEGW = (to_dev(a)[0] for a in (old_logp, adv, old_v, segw))
    WS = torch.empty(gpu.pk_ppo_workspace_bytes_cuda(0), dtype=torch.uint8, device='cuda')
    for _ in range(2):  # logs accumulate over calls
        ok(gpu, gpu.pk_ppo_loss_discrete_cuda(dp(DL), dp(RATIO), dp(NEWV), dp(LOGS), dp(L), ld, dp(ACT),
                                              hp(sizes), len(HEADS), dp(OLDP), dp(ADV), dp(OLDV), dp(SEGW),
                                              N, T, *cfg, dp(WS), PK[dtype], stream()))
    check('dlogits', host(DL), dl, GRAD_TOL[dtype])   # see test_ppo_continuous
    check('ratio', host(RATIO), ratio, 1e-5)
    np.testing.assert_array_equal(host(NEWV), newv)
    got = host(LOGS)
    assert got[7] == 2
    for i in range(7):
        assert abs(got[i] / 2 - logs[i]) <= 1e-4 * max(1.0, abs(logs[i])), (i, got[i] / 2, logs[i])


@pytest.mark.parametrize('N', [B_AGENTS, 128])
@pytest.mark.parametrize('dtype', DTYPES)
def test_ppo_continuous(libs, rng, dtype, N):
    cpu, gpu = libs
    T, A = HORIZON, 4
    M, ld = N * T, A + 1
    MU, mean = to_dev(rng.standard_normal((M, ld)), dtype)
    LS, logstd = to_dev(np.array([-0.5, 0.3, 2.5, -1.0]), dtype)  # 2.5: clamped to 2, no gradient
    sigma = np.exp(np.clip(logstd, -20, 2))
    actions = (mean[:, :A] + sigma * rng.standard_normal((M, A))).astype(np.float32)
    _, adv, old_v, segw = ppo_inputs(rng, N, T, mean[:, A])
    lp = (-0.5 * ((actions - mean[:, :A]) / sigma) ** 2 - 0.5 * math.log(2 * math.pi)
          - np.log(sigma)).sum(1)
    old_logp = (lp + rng.normal(0, 0.3, M)).astype(np.float32)
    away_from_clip_edges(lp, old_logp, mean[:, A], old_v, adv)
    cfg = (0.2, 0.2, 2.0, 0.01)

    dm, dls = np.full((M, ld), np.nan, np.float32), np.full(A, np.nan, np.float32)
    ratio, newv, logs = np.full(M, np.nan, np.float32), np.full(M, np.nan, np.float32), np.zeros(8, np.float32)
    cpu.pk_ppo_loss_continuous_cpu(hp(dm), hp(dls), hp(ratio), hp(newv), hp(logs), hp(mean), ld, hp(logstd),
                                   hp(actions), A, hp(old_logp), hp(adv), hp(old_v), hp(segw), N, T, *cfg)
    DM, DLS, RATIO, NEWV = poison((M, ld), dtype), poison(A, dtype), poison(M), poison(M)
    LOGS = torch.zeros(8, device='cuda')
    ACTS, OLDP, ADV, OLDV, SEGW = (to_dev(a)[0] for a in (actions, old_logp, adv, old_v, segw))
    WS = torch.empty(gpu.pk_ppo_workspace_bytes_cuda(A), dtype=torch.uint8, device='cuda')
    ok(gpu, gpu.pk_ppo_loss_continuous_cuda(dp(DM), dp(DLS), dp(RATIO), dp(NEWV), dp(LOGS), dp(MU), ld,
                                            dp(LS), dp(ACTS), A, dp(OLDP), dp(ADV), dp(OLDV), dp(SEGW), N, T,
                                            *cfg, dp(WS), PK[dtype], stream()))
    # Every gradient carries the batch-wide advantage mean and std (two reductions over 262 K
    # elements, summed in a different order than the C reference): fp32 agrees to ~1e-5..1e-4.
    check('dmean', host(DM), dm, GRAD_TOL[dtype])
    check('dlogstd', host(DLS), dls, 1e-4 if dtype == 'fp32' else TOL[dtype])
    assert host(DLS)[2] == 0
    check('ratio', host(RATIO), ratio, 1e-5)
    np.testing.assert_array_equal(host(NEWV), newv)
    got = host(LOGS)
    assert got[7] == 1
    for i in range(7):
        assert abs(got[i] - logs[i]) <= 1e-4 * max(1.0, abs(logs[i])), (i, got[i], logs[i])


def arena(specs):
    offsets, rows, cols, off = [], [], [], 0
    for R, C in specs:
        n = R * C if R else C
        offsets.append(off)
        rows.append(R)
        cols.append(C)
        off += (n + 7) // 8 * 8
    return (np.array(offsets, np.int64), np.array(rows, np.int32), np.array(cols, np.int32), off)


@pytest.mark.parametrize('dtype', DTYPES)
def test_grad_norm_clip(libs, rng, dtype):
    cpu, gpu = libs
    n = 202_112
    G, g = to_dev(rng.standard_normal(n) * 0.01, dtype)
    WS = torch.empty(gpu.pk_norm_workspace_bytes_cuda(), dtype=torch.uint8, device='cuda')
    NORM = poison(1)
    ok(gpu, gpu.pk_grad_norm_cuda(dp(NORM), dp(G), n, dp(WS), PK[dtype], stream()))
    want = cpu.pk_grad_norm_cpu(hp(g), n)
    assert abs(host(NORM)[0] - want) < 1e-5 * want
    NORM.fill_(float('nan'))
    ok(gpu, gpu.pk_clip_grad_norm_cuda(dp(G), n, 0.5 * want, dp(NORM), dp(WS), PK[dtype], stream()))
    cpu.pk_clip_grad_norm_cpu(hp(g), n, 0.5 * want)
    assert abs(host(NORM)[0] - want) < 1e-5 * want
    check('clipped', host(G), g, TOL[dtype])


@pytest.mark.parametrize('dtype', DTYPES)
def test_muon(libs, rng, dtype):
    cpu, gpu = libs
    # the default policy of target (obs 28, heads 9 + 5, H 128, 4 layers), a 1 x 4 logstd row, a bias
    specs = [(128, 28), (15, 128)] + [(384, 128)] * 4 + [(1, 4), (0, 16)]
    offsets, rows, cols, total = arena(specs)
    nt = len(specs)
    master = rng.uniform(-0.1, 0.1, total).astype(np.float32)
    pad = np.ones(total, bool)
    for o, R, C in zip(offsets, rows, cols):
        pad[o:o + (R * C if R else C)] = False
    master[pad] = 0
    mom = np.zeros(total, np.float32)
    MASTER, MOM = torch.from_numpy(master.copy()).cuda(), torch.zeros(total, device='cuda')
    PARAMS = poison(total, dtype) if dtype == 'bf16' else None
    ws = np.full(cpu.pk_muon_workspace_floats_cpu(hp(rows), hp(cols), nt), np.nan, np.float32)
    WS = torch.full((gpu.pk_muon_workspace_bytes_cuda(hp(rows), hp(cols), nt, PK[dtype]),), 255,
                    dtype=torch.uint8, device='cuda')
    lr = np.array([0.015], np.float32)
    LR = torch.from_numpy(lr).cuda()
    NORM = poison(1)
    for step, max_norm in enumerate([1.5, 0.0, 1e3]):
        g0 = rng.standard_normal(total) * 0.05
        g0[pad] = 0
        G, g = to_dev(g0, dtype)
        want = cpu.pk_muon_cpu(hp(master), hp(g), hp(mom), hp(offsets), hp(rows), hp(cols), nt, hp(lr),
                               0.95, max_norm, 0.01, hp(ws))
        ok(gpu, gpu.pk_muon_cuda(dp(MASTER), dp(PARAMS), dp(G), dp(MOM), hp(offsets), hp(rows), hp(cols),
                                 nt, dp(LR), 0.95, max_norm, 0.01, dp(NORM), dp(WS), PK[dtype], stream()))
        assert abs(host(NORM)[0] - want) < 1e-5 * want
        got_w, got_m = host(MASTER), host(MOM)
        check(f'step {step} momentum', got_m, mom, 1e-5)
        check(f'step {step} master', got_w[~pad], master[~pad], 1e-5)
        if PARAMS is not None:
            # params are exactly the bf16 rounding of the fp32 master weights
            par = PARAMS.float().cpu().numpy()
            want_par = torch.from_numpy(got_w).to(torch.bfloat16).float().numpy()
            np.testing.assert_array_equal(par[~pad], want_par[~pad])


@pytest.mark.parametrize('dtype', DTYPES)
def test_muon_update_direction(libs, rng, dtype):
    """The per-step change of the weights (not swamped by the weights themselves) matches."""
    cpu, gpu = libs
    specs = [(64, 118), (4, 64), (192, 64), (192, 64), (1, 3)]
    offsets, rows, cols, total = arena(specs)
    nt = len(specs)
    w0 = rng.uniform(-0.1, 0.1, total).astype(np.float32)
    g0 = (rng.standard_normal(total) * 0.05).astype(np.float32)
    for o, R, C in zip(offsets, rows, cols):  # zero the padding
        n = R * C
        end = o + (n + 7) // 8 * 8
        w0[o + n:end] = 0
        g0[o + n:end] = 0
    G, g = to_dev(g0, dtype)
    master, mom = w0.copy(), np.zeros(total, np.float32)
    ws = np.full(cpu.pk_muon_workspace_floats_cpu(hp(rows), hp(cols), nt), np.nan, np.float32)
    lr = np.array([0.02], np.float32)
    cpu.pk_muon_cpu(hp(master), hp(g), hp(mom), hp(offsets), hp(rows), hp(cols), nt, hp(lr), 0.9, 1.5, 0.0,
                    hp(ws))
    MASTER, MOM = torch.from_numpy(w0.copy()).cuda(), torch.zeros(total, device='cuda')
    WS = torch.empty(gpu.pk_muon_workspace_bytes_cuda(hp(rows), hp(cols), nt, PK[dtype]), dtype=torch.uint8,
                     device='cuda')
    ok(gpu, gpu.pk_muon_cuda(dp(MASTER), None, dp(G), dp(MOM), hp(offsets), hp(rows), hp(cols), nt,
                             dp(torch.from_numpy(lr).cuda()), 0.9, 1.5, 0.0, None, dp(WS), PK[dtype], stream()))
    got = host(MASTER)
    for o, R, C in zip(offsets, rows, cols):
        n = R * C
        check(f'update {R}x{C}', got[o:o + n] - w0[o:o + n], master[o:o + n] - w0[o:o + n], 1e-4)


# The trainer's Muon tensors (obs 118, one discrete head: decoder (4, H); layers (3H, H)) at
# breakout's shapes (hidden 64, 2 layers) and the default ones (hidden 128, 4 layers), plus a
# 1 x 3 logstd row and a 1-D tensor of 16.
MUON_SHAPES = {
    'breakout': [(64, 118), (4, 64), (192, 64), (192, 64), (1, 3), (0, 16)],
    'default': [(128, 118), (4, 128)] + [(384, 128)] * 4 + [(1, 3), (0, 16)],
}
# (path, blocks per tensor) of pk_muon_set_path_cuda: cuBLAS, automatic fused, forced fused.
MUON_VARIANTS = [(1, 0), (2, 0), (2, 1), (2, 2), (2, 4), (2, 8), (2, 16)]


@pytest.fixture
def muon_path(libs):
    _, gpu = libs
    yield gpu.pk_muon_set_path_cuda
    gpu.pk_muon_set_path_cuda(0, 0)


@pytest.mark.parametrize('config', ['breakout', 'default'])
@pytest.mark.parametrize('dtype', DTYPES)
def test_muon_paths(libs, rng, muon_path, dtype, config):
    """The fused one-launch Muon (each blocks-per-tensor variant that fits this GPU) and the cuBLAS
    path both match the C reference over two steps (clipped, then unclipped) and each other; the
    fused kernel is bit-reproducible."""
    cpu, gpu = libs
    specs = MUON_SHAPES[config]
    offsets, rows, cols, total = arena(specs)
    nt = len(specs)
    pad = np.ones(total, bool)
    for o, R, C in zip(offsets, rows, cols):
        pad[o:o + (R * C if R else C)] = False
    w0 = rng.uniform(-0.1, 0.1, total).astype(np.float32)
    m0 = (rng.standard_normal(total) * 0.01).astype(np.float32)
    w0[pad] = 0
    m0[pad] = 0
    grads = []
    for _ in range(2):
        g0 = rng.standard_normal(total) * 0.05
        g0[pad] = 0
        grads.append(to_dev(g0, dtype))
    steps = [1.5, 0.0]  # max_grad_norm: clip, then none
    lr = np.array([0.02], np.float32)
    LR = torch.from_numpy(lr).cuda()
    mu, wd = 0.95, 0.01

    # C reference, step by step
    master, mom = w0.copy(), m0.copy()
    ws = np.full(cpu.pk_muon_workspace_floats_cpu(hp(rows), hp(cols), nt), np.nan, np.float32)
    want = []
    for (_, g), max_norm in zip(grads, steps):
        prev = master.copy()
        norm = cpu.pk_muon_cpu(hp(master), hp(g), hp(mom), hp(offsets), hp(rows), hp(cols), nt, hp(lr), mu,
                               max_norm, wd, hp(ws))
        want.append((norm, prev, master.copy(), mom.copy()))

    WS = torch.empty(gpu.pk_muon_workspace_bytes_cuda(hp(rows), hp(cols), nt, PK[dtype]), dtype=torch.uint8,
                     device='cuda')

    def run(path, blocks):
        """Two steps from (w0, m0); None when this fused variant cannot run these shapes here."""
        muon_path(path, blocks)
        MASTER, MOM = torch.from_numpy(w0.copy()).cuda(), torch.from_numpy(m0.copy()).cuda()
        PARAMS = poison(total, dtype) if dtype == 'bf16' else None
        out = []
        for (G, _), max_norm in zip(grads, steps):
            NORM = poison(1)
            rc = gpu.pk_muon_cuda(dp(MASTER), dp(PARAMS), dp(G), dp(MOM), hp(offsets), hp(rows), hp(cols), nt,
                                  dp(LR), mu, max_norm, wd, dp(NORM), dp(WS), PK[dtype], stream())
            if rc != 0 and path == 2 and blocks != 0 and 'fused path cannot run' in gpu.pk_cuda_last_error().decode():
                return None
            ok(gpu, rc)
            out.append((host(NORM)[0], host(MASTER), host(MOM),
                        None if PARAMS is None else PARAMS.float().cpu().numpy()))
        return out

    results = {}
    for path, blocks in MUON_VARIANTS:
        got = run(path, blocks)
        if got is None:
            print(f'{config}: fused with {blocks} blocks per tensor does not fit this GPU')
            continue
        results[(path, blocks)] = got
        for step, ((norm, w, m, par), (norm_ref, prev, w_ref, m_ref)) in enumerate(zip(got, want)):
            tag = f'path {path} blocks {blocks} step {step}'
            assert abs(norm - norm_ref) < 1e-5 * norm_ref, (tag, norm, norm_ref)
            check(f'{tag} momentum', m[~pad], m_ref[~pad], 1e-5)
            check(f'{tag} master', w[~pad], w_ref[~pad], 1e-5)
            assert np.all(w[pad] == 0) and np.all(m[pad] == 0), f'{tag}: padding written'
            w_prev = w0 if step == 0 else got[step - 1][1]
            for o, R, C in zip(offsets, rows, cols):
                n = R * C if R else C
                check(f'{tag} update {R}x{C}', w[o:o + n] - w_prev[o:o + n], w_ref[o:o + n] - prev[o:o + n], 1e-4)
            if par is not None:
                want_par = torch.from_numpy(w).to(torch.bfloat16).float().numpy()
                np.testing.assert_array_equal(par[~pad], want_par[~pad], err_msg=f'{tag} params')
                assert np.isnan(par[pad]).all(), f'{tag}: params padding written'
    assert (2, 0) in results, 'the automatic fused variant must run these shapes'
    if config == 'breakout':
        assert (2, 1) in results, 'one block per tensor must fit breakout'
    if torch.cuda.get_device_capability()[0] >= 9:
        assert (2, 8) in results, 'clusters of 8 must run on sm_90'
    # fused vs cuBLAS: the per-step change of the weights agrees
    ref_w = [w for _, w, _, _ in results[(1, 0)]]
    for key, got in results.items():
        for step, (_, w, _, _) in enumerate(got):
            prev_f = w0 if step == 0 else got[step - 1][1]
            prev_c = w0 if step == 0 else ref_w[step - 1]
            check(f'{key} vs cuBLAS step {step}', (w - prev_f)[~pad], (ref_w[step] - prev_c)[~pad], 1e-4)
    # fused runs are bit-reproducible (fixed reduction order)
    again = run(2, 0)
    for a, b in zip(results[(2, 0)], again):
        assert a[0] == b[0]
        for x, y in zip(a[1:], b[1:]):
            if x is not None:
                np.testing.assert_array_equal(x, y)


def test_cast(libs, rng):
    cpu, gpu = libs
    n = 1 << 20
    x = (rng.standard_normal(n) * 10.0 ** rng.integers(-20, 20, n)).astype(np.float32)
    X = torch.from_numpy(x).cuda()
    Bt = torch.full((n,), float('nan'), dtype=torch.bfloat16, device='cuda')
    ok(gpu, gpu.pk_cast_cuda(dp(Bt), 1, dp(X), 0, n, stream()))
    want = np.zeros(n, np.uint16)
    cpu.pk_f32_to_bf16_cpu(hp(want), hp(x), n)
    torch.cuda.synchronize()
    np.testing.assert_array_equal(Bt.view(torch.int16).cpu().numpy().view(np.uint16), want)
    Y = poison(n)
    ok(gpu, gpu.pk_cast_cuda(dp(Y), 0, dp(Bt), 1, n, stream()))
    np.testing.assert_array_equal(host(Y), Bt.float().cpu().numpy())
    Z = poison(n)
    ok(gpu, gpu.pk_cast_cuda(dp(Z), 0, dp(X), 0, n, stream()))
    np.testing.assert_array_equal(host(Z), x)


def test_graph_replay_matches_eager(libs, rng):
    """Sampling (device step counter) + MinGRU step + Muon captured in a CUDA graph give the same
    results as eager calls: nothing in them allocates, synchronizes or bakes in a changing scalar."""
    cpu, gpu = libs
    B, H, D = 1024, HIDDEN, sum(HEADS)
    KZP, _ = to_dev(rng.standard_normal((B, 3 * H)), 'bf16')
    X, _ = to_dev(rng.standard_normal((B, H)), 'bf16')
    L, _ = to_dev(rng.standard_normal((B, D + 1)), 'bf16')
    sizes = np.array(HEADS, np.int32)
    specs = [(64, 118), (192, 64), (1, 3)]
    offsets, rows, cols, total = arena(specs)
    G = to_dev(rng.standard_normal(total) * 0.05, 'bf16')[0]
    WS = torch.empty(gpu.pk_muon_workspace_bytes_cuda(hp(rows), hp(cols), 3, 1), dtype=torch.uint8,
                     device='cuda')
    LR = torch.tensor([0.01], device='cuda')
    state0 = to_dev(rng.standard_normal((B, H)))[0]
    master0 = to_dev(rng.uniform(-0.1, 0.1, total))[0]

    def make():
        return dict(ctr=torch.tensor([5], dtype=torch.int64, device='cuda'), state=state0.clone(),
                    y=poison((B, H), 'bf16'), act=torch.full((B, len(HEADS)), -1, dtype=torch.int32, device='cuda'),
                    logp=poison(B), val=poison(B), master=master0.clone(), mom=torch.zeros(total, device='cuda'),
                    params=poison(total, 'bf16'))

    def body(s):
        ok(gpu, gpu.pk_mingru_step_cuda(dp(s['y']), dp(s['state']), dp(KZP), dp(X), None, B, H, 1, stream()))
        ok(gpu, gpu.pk_sample_discrete_cuda(dp(s['act']), dp(s['logp']), dp(s['val']), dp(L), D + 1, hp(sizes),
                                            len(HEADS), B, 99, dp(s['ctr']), 0, 1, stream()))
        ok(gpu, gpu.pk_muon_cuda(dp(s['master']), dp(s['params']), dp(G), dp(s['mom']), hp(offsets), hp(rows),
                                 hp(cols), 3, dp(LR), 0.95, 1.5, 0.0, None, dp(WS), 1, stream()))

    eager = make()
    for _ in range(3):
        body(eager)
    graphed = make()
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        body(make())  # warm-up on a side stream, as torch recommends before capture
    torch.cuda.current_stream().wait_stream(side)
    torch.cuda.synchronize()
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        body(graphed)
    # capture does not run the body: replay three times
    for _ in range(3):
        graph.replay()
    torch.cuda.synchronize()
    assert graphed['ctr'].item() == eager['ctr'].item() == 8
    for k in ['state', 'y', 'act', 'logp', 'val', 'master', 'mom', 'params']:
        # bit-identical (params padding stays NaN in both: equal_nan)
        torch.testing.assert_close(graphed[k], eager[k], rtol=0, atol=0, equal_nan=True, msg=k)
