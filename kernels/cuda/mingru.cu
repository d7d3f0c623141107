// mingru.cu: MinGRU rollout step and training scan (forward + backward), CUDA. Same math as
// cpu/mingru.c (read its header for the equations and why the scan runs the direct recurrence
// rather than the log-space form).
//
// Layout: kzp (B, T, 3H) rows [k | z | p]; x, y, dy, dx (B, T, H); hs (B, T, H) fp32; h0, state
// (B, H) fp32; reset (B, T) fp32. S = storage type of kzp / x / y / dy / dkzp / dx (fp32 or bf16).
//
// Version 1: one thread per (b, h) walks t; the loads of step t do not depend on the carried
// state, so the unrolled loop keeps several steps' loads in flight. Threads of a warp hold
// consecutive h: every access is coalesced. Right when B*H fills the GPU (rollout-sized batches).
// Version 2: a training minibatch has only B*H = 128 x 128 = 16 K sequences, an eighth of what an
// H100 holds in flight, and v1 runs at ~360 GB/s there. v2 also splits T into C chunks, one warp
// per chunk (32 consecutive h), C warps per block. The step h_t = alpha_t h_{t-1} + b_t is affine
// in h_{t-1} (alpha = 1 - u, or 0 at a reset), so (1) each warp folds its chunk into one affine
// map (A, B), (2) through shared memory each warp composes the maps of the chunks before it into
// its starting state, (3) each warp re-walks its chunk from that state and writes the outputs
// (the second read of the chunk hits L1/L2). The backward pass does the same on the reverse
// recurrence of the state gradient, carry_{t-1} = c_t (dy_t s_t + carry_t), c_t = 1 - u_t or 0.
// The launcher picks v2 with C = 8 or 16 when B*H is small (see pick_chunks).
//
// Napkin math (H100: ~3.0 TB/s measured copy bandwidth). Forward, bf16, per element and step:
// read k, z, p, x (8 B) + reset (amortised), write y (2 B) + hs (4 B) = 14 B. Training scan of a
// 8192-row minibatch (128 segments x 64 steps), H = 128: 1.05 M elements -> 14.7 MB -> ~5 us.
// The GPU test shape (4096 x 64 x 128, 33.5 M elements): 470 MB -> ~0.16 ms. Backward reads
// kzp, x, dy (10 B), hs twice (t and t-1, the second from cache: 4 B), writes dkzp, dx (8 B):
// 22 B -> 0.25 ms at the test shape. bench_mingru.cu measures both.
//
// Measured (H100 80GB HBM3, bench_mingru, median of 50; GB/s counts the bytes above):
//   shape (B x T x H)        version      forward            backward
//   4096 x 64 x 128 bf16     v1           0.321 ms 1466 GB/s  0.607 ms 1218 GB/s
//   4096 x 64 x 128 fp32     v1           0.355 ms 2271 GB/s  0.586 ms 2292 GB/s
//   128 x 64 x 128 bf16      v1           41.2 us   357 GB/s  44.0 us   525 GB/s
//                            v2, C = 8    17.9 us   824 GB/s  21.8 us  1060 GB/s
//                            v2, C = 16   18.7 us   786 GB/s  23.2 us   997 GB/s
//   128 x 64 x 64 bf16       v1           42.4 us   174 GB/s  46.6 us   248 GB/s
//                            v2, C = 16   13.5 us   547 GB/s  16.8 us   689 GB/s
// The minibatch shapes are now latency-bound (a 4-8 step chain per thread plus the launch); the
// rollout-sized bf16 case leaves bandwidth on the table with 2-byte loads (two h per thread and
// 4-byte loads would be the next step).
#include "common.cuh"

#define MINGRU_THREADS 128

template <typename S>
__global__ void __launch_bounds__(MINGRU_THREADS)
mingru_step_kernel(S* __restrict__ y, float* __restrict__ state, const S* __restrict__ kzp,
                   const S* __restrict__ x, const float* __restrict__ reset, int B, int H) {
    int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= (int64_t)B * H) return;
    int b = (int)(i / H), j = (int)(i % H);
    const S* r = kzp + (int64_t)b * 3 * H;
    float k = ldf(r + j), z = ldf(r + H + j), p = ldf(r + 2 * H + j);
    float xv = ldf(x + i);
    float hp = (reset != nullptr && reset[b] != 0.0f) ? 0.0f : state[i];
    float u = pk_sigmoid(z);
    float h = hp + u * (pk_gk(k) - hp);
    float s = pk_sigmoid(p);
    state[i] = h;
    stf(y + i, xv + s * (h - xv));
}

template <typename S>
__global__ void __launch_bounds__(MINGRU_THREADS)
mingru_scan_forward_kernel(S* __restrict__ y, float* __restrict__ hs, const S* __restrict__ kzp,
                           const S* __restrict__ x, const float* __restrict__ h0,
                           const float* __restrict__ reset, int B, int T, int H) {
    int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= (int64_t)B * H) return;
    int b = (int)(i / H), j = (int)(i % H);
    float h = h0 != nullptr ? h0[i] : 0.0f;
    #pragma unroll 4
    for (int t = 0; t < T; t++) {
        int64_t row = (int64_t)b * T + t;
        const S* r = kzp + row * 3 * H;
        float k = ldf(r + j), z = ldf(r + H + j), p = ldf(r + 2 * H + j);
        float xv = ldf(x + row * H + j);
        if (reset != nullptr && reset[row] != 0.0f) h = 0.0f;
        float u = pk_sigmoid(z);
        h = h + u * (pk_gk(k) - h);
        float s = pk_sigmoid(p);
        hs[row * H + j] = h;
        stf(y + row * H + j, xv + s * (h - xv));
    }
}

template <typename S>
__global__ void __launch_bounds__(MINGRU_THREADS)
mingru_scan_backward_kernel(S* __restrict__ dkzp, S* __restrict__ dx, const S* __restrict__ dy,
                            const float* __restrict__ dh_last, const S* __restrict__ kzp,
                            const S* __restrict__ x, const float* __restrict__ hs,
                            const float* __restrict__ h0, const float* __restrict__ reset, int B,
                            int T, int H) {
    int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= (int64_t)B * H) return;
    int b = (int)(i / H), j = (int)(i % H);
    float dh = dh_last != nullptr ? dh_last[i] : 0.0f;
    #pragma unroll 4
    for (int t = T - 1; t >= 0; t--) {
        int64_t row = (int64_t)b * T + t;
        int64_t e = row * H + j;
        const S* r = kzp + row * 3 * H;
        float k = ldf(r + j), z = ldf(r + H + j), p = ldf(r + 2 * H + j);
        float xv = ldf(x + e), g = ldf(dy + e), h = hs[e];
        bool cut = reset != nullptr && reset[row] != 0.0f;
        float hp = 0.0f;
        if (!cut) {
            if (t > 0) hp = hs[e - H];
            else if (h0 != nullptr) hp = h0[i];
        }
        float s = pk_sigmoid(p);
        float d = dh + g * s;
        float u = pk_sigmoid(z);
        S* dr = dkzp + row * 3 * H;
        stf(dx + e, g * (1.0f - s));
        stf(dr + 2 * H + j, g * (h - xv) * s * (1.0f - s));
        stf(dr + j, d * u * pk_dgk(k));
        stf(dr + H + j, d * (pk_gk(k) - hp) * u * (1.0f - u));
        dh = cut ? 0.0f : d * (1.0f - u);
    }
}


// ---- version 2: chunked over T ------------------------------------------------------------------
#define MINGRU_MAX_CHUNKS 16

template <typename S>
__global__ void __launch_bounds__(32 * MINGRU_MAX_CHUNKS)
mingru_scan_forward_chunked(S* __restrict__ y, float* __restrict__ hs, const S* __restrict__ kzp,
                            const S* __restrict__ x, const float* __restrict__ h0,
                            const float* __restrict__ reset, int B, int T, int H) {
    __shared__ float smA[MINGRU_MAX_CHUNKS][32], smB[MINGRU_MAX_CHUNKS][32];
    int lane = threadIdx.x & 31, c = threadIdx.x >> 5, C = blockDim.x >> 5;
    int j = blockIdx.x * 32 + lane, b = blockIdx.y;
    bool active = j < H;
    int L = (T + C - 1) / C;
    int t0 = min(T, c * L), t1 = min(T, t0 + L);
    // (1) this chunk as an affine map h_end = A h_start + Bv
    float A = 1.0f, Bv = 0.0f;
    if (active) {
        for (int t = t0; t < t1; t++) {
            int64_t row = (int64_t)b * T + t;
            const S* r = kzp + row * 3 * H;
            float u = pk_sigmoid(ldf(r + H + j));
            float g = pk_gk(ldf(r + j));
            float alpha = (reset != nullptr && reset[row] != 0.0f) ? 0.0f : 1.0f - u;
            A *= alpha;
            Bv = alpha * Bv + u * g;
        }
    }
    smA[c][lane] = A;
    smB[c][lane] = Bv;
    __syncthreads();
    if (!active) return;
    // (2) starting state of this chunk
    float h = h0 != nullptr ? h0[(int64_t)b * H + j] : 0.0f;
    for (int k = 0; k < c; k++) h = smA[k][lane] * h + smB[k][lane];
    // (3) the chunk again, as version 1
    for (int t = t0; t < t1; t++) {
        int64_t row = (int64_t)b * T + t;
        const S* r = kzp + row * 3 * H;
        float k = ldf(r + j), z = ldf(r + H + j), p = ldf(r + 2 * H + j);
        float xv = ldf(x + row * H + j);
        if (reset != nullptr && reset[row] != 0.0f) h = 0.0f;
        float u = pk_sigmoid(z);
        h = h + u * (pk_gk(k) - h);
        float s = pk_sigmoid(p);
        hs[row * H + j] = h;
        stf(y + row * H + j, xv + s * (h - xv));
    }
}

template <typename S>
__global__ void __launch_bounds__(32 * MINGRU_MAX_CHUNKS)
mingru_scan_backward_chunked(S* __restrict__ dkzp, S* __restrict__ dx, const S* __restrict__ dy,
                             const float* __restrict__ dh_last, const S* __restrict__ kzp,
                             const S* __restrict__ x, const float* __restrict__ hs,
                             const float* __restrict__ h0, const float* __restrict__ reset, int B,
                             int T, int H) {
    __shared__ float smA[MINGRU_MAX_CHUNKS][32], smB[MINGRU_MAX_CHUNKS][32];
    int lane = threadIdx.x & 31, c = threadIdx.x >> 5, C = blockDim.x >> 5;
    int j = blockIdx.x * 32 + lane, b = blockIdx.y;
    bool active = j < H;
    int L = (T + C - 1) / C;
    int t0 = min(T, c * L), t1 = min(T, t0 + L);
    // (1) this chunk as an affine map: carry out of its first step = A carry_in + Bv
    float A = 1.0f, Bv = 0.0f;
    if (active) {
        for (int t = t1 - 1; t >= t0; t--) {
            int64_t row = (int64_t)b * T + t;
            const S* r = kzp + row * 3 * H;
            float s = pk_sigmoid(ldf(r + 2 * H + j));
            float u = pk_sigmoid(ldf(r + H + j));
            float cf = (reset != nullptr && reset[row] != 0.0f) ? 0.0f : 1.0f - u;
            Bv = cf * (Bv + ldf(dy + row * H + j) * s);
            A *= cf;
        }
    }
    smA[c][lane] = A;
    smB[c][lane] = Bv;
    __syncthreads();
    if (!active) return;
    // (2) carry into this chunk's last step from the chunks after it
    float dh = dh_last != nullptr ? dh_last[(int64_t)b * H + j] : 0.0f;
    for (int k = C - 1; k > c; k--) dh = smA[k][lane] * dh + smB[k][lane];
    // (3) the chunk again, as version 1
    for (int t = t1 - 1; t >= t0; t--) {
        int64_t row = (int64_t)b * T + t;
        int64_t e = row * H + j;
        const S* r = kzp + row * 3 * H;
        float k = ldf(r + j), z = ldf(r + H + j), p = ldf(r + 2 * H + j);
        float xv = ldf(x + e), g = ldf(dy + e), h = hs[e];
        bool cut = reset != nullptr && reset[row] != 0.0f;
        float hp = 0.0f;
        if (!cut) {
            if (t > 0) hp = hs[e - H];
            else if (h0 != nullptr) hp = h0[(int64_t)b * H + j];
        }
        float s = pk_sigmoid(p);
        float d = dh + g * s;
        float u = pk_sigmoid(z);
        S* dr = dkzp + row * 3 * H;
        stf(dx + e, g * (1.0f - s));
        stf(dr + 2 * H + j, g * (h - xv) * s * (1.0f - s));
        stf(dr + j, d * u * pk_dgk(k));
        stf(dr + H + j, d * (pk_gk(k) - hp) * u * (1.0f - u));
        dh = cut ? 0.0f : d * (1.0f - u);
    }
}

static int mingru_chunks_override = 0;

extern "C" void pk_mingru_set_chunks_cuda(int chunks) { mingru_chunks_override = chunks; }

// 1 = version 1. Otherwise the number of chunks (v2): enough sequences x chunks to fill the GPU
// (~256 K threads on an H100), chunks of at least 4 steps.
static int pick_chunks(int B, int T, int H) {
    int c = mingru_chunks_override;
    if (c <= 0) {
        int64_t seqs = (int64_t)B * H;
        c = 1;
        while (c < MINGRU_MAX_CHUNKS && seqs * c < (1 << 18) && T / (2 * c) >= 4) c *= 2;
    }
    if (c > MINGRU_MAX_CHUNKS) c = MINGRU_MAX_CHUNKS;
    if (c > T) c = T;
    return c < 1 ? 1 : c;
}

static inline unsigned grid_for(int64_t n, int threads) {
    return (unsigned)((n + threads - 1) / threads);
}

extern "C" int pk_mingru_step_cuda(void* y, float* state, const void* kzp, const void* x,
                                   const float* reset, int B, int H, int dtype, void* stream) {
    PK_REQUIRE(B >= 0 && H > 0);
    if (B == 0) return 0;
    PK_DISPATCH(dtype, S, {
        mingru_step_kernel<S><<<grid_for((int64_t)B * H, MINGRU_THREADS), MINGRU_THREADS, 0,
                                pk_stream(stream)>>>((S*)y, state, (const S*)kzp, (const S*)x,
                                                     reset, B, H);
    });
    PK_LAUNCH_CHECK();
    return 0;
}

extern "C" int pk_mingru_scan_forward_cuda(void* y, float* hs, const void* kzp, const void* x,
                                           const float* h0, const float* reset, int B, int T,
                                           int H, int dtype, void* stream) {
    PK_REQUIRE(B >= 0 && T > 0 && H > 0);
    if (B == 0) return 0;
    int C = pick_chunks(B, T, H);
    dim3 grid2((H + 31) / 32, B);
    PK_DISPATCH(dtype, S, {
        if (C == 1)
            mingru_scan_forward_kernel<S><<<grid_for((int64_t)B * H, MINGRU_THREADS),
                                            MINGRU_THREADS, 0, pk_stream(stream)>>>(
                (S*)y, hs, (const S*)kzp, (const S*)x, h0, reset, B, T, H);
        else
            mingru_scan_forward_chunked<S><<<grid2, 32 * C, 0, pk_stream(stream)>>>(
                (S*)y, hs, (const S*)kzp, (const S*)x, h0, reset, B, T, H);
    });
    PK_LAUNCH_CHECK();
    return 0;
}

extern "C" int pk_mingru_scan_backward_cuda(void* dkzp, void* dx, const void* dy,
                                            const float* dh_last, const void* kzp, const void* x,
                                            const float* hs, const float* h0, const float* reset,
                                            int B, int T, int H, int dtype, void* stream) {
    PK_REQUIRE(B >= 0 && T > 0 && H > 0);
    if (B == 0) return 0;
    int C = pick_chunks(B, T, H);
    dim3 grid2((H + 31) / 32, B);
    PK_DISPATCH(dtype, S, {
        if (C == 1)
            mingru_scan_backward_kernel<S><<<grid_for((int64_t)B * H, MINGRU_THREADS),
                                             MINGRU_THREADS, 0, pk_stream(stream)>>>(
                (S*)dkzp, (S*)dx, (const S*)dy, dh_last, (const S*)kzp, (const S*)x, hs, h0,
                reset, B, T, H);
        else
            mingru_scan_backward_chunked<S><<<grid2, 32 * C, 0, pk_stream(stream)>>>(
                (S*)dkzp, (S*)dx, (const S*)dy, dh_last, (const S*)kzp, (const S*)x, hs, h0,
                reset, B, T, H);
    });
    PK_LAUNCH_CHECK();
    return 0;
}
