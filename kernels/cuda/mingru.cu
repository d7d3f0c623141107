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
// The launcher picks v2 with C = 2 to 16 when B*H is small (see pick_chunks).
// Pairs (both versions): with one h per thread a warp moves 64 B of each bf16 row per load, and at
// breakout's minibatch (1024 x 64 x 64) no chunk count got past ~1.4 TB/s (rows below). When H is
// even and the arrays allow it (bf16 at 4-byte, fp32 and hs / h0 / dh_last at 8-byte alignment),
// each thread takes two consecutive h with bf16x2 / float2 accesses: 128 B per warp and row, half
// the load and store instructions. Per element the float operations are the scalar ones, in the
// same order, and the chunk count is chosen as before, so both paths give the same bits; odd H or a
// misaligned array takes the scalar kernels (V = 1). The backward unrolls 2 steps of a pair (4
// steps of one h) so its loads in flight per thread stay those of the scalar kernel;
// __launch_bounds__(n, 1) on all but the v1 forward keeps ptxas from trading a few spilled (or
// stack) bytes for occupancy.
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
// The rows above are the scalar kernels (one h per thread). Scalar kernels at breakout's minibatch
// (bench_kernels breakout, H100, same byte count):
//   1024 x 64 x 64 bf16      v1           67 us               77 us
//                            v2, C = 2    47 us               86 us
//                            v2, C = 4    48.9 us  1.20 TB/s  85 us    1.09 TB/s   (picked)
//                            v2, C = 8    43 us               85 us
//                            v2, C = 16   48 us               91 us
// TODO: measure the paired kernels (bench_kernels breakout, bench_mingru) and replace the rows.
// The minibatch shapes are latency-bound (a 4-8 step chain per thread plus the launch).
#include <initializer_list>

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

// ---- V consecutive elements per access (V = 1, or 2 when H is even and the pointers aligned) ----
// A pair is one 4-byte (bf16x2) or 8-byte (float2) access. The conversions are the scalar ones
// per element (bf16 -> fp32 exact; fp32 -> bf16 round to nearest even), so a pair holds the same
// bits as two scalar accesses.
__device__ __forceinline__ void ld2(const float* p, float* o) {
    float2 v = *reinterpret_cast<const float2*>(p);
    o[0] = v.x;
    o[1] = v.y;
}
__device__ __forceinline__ void ld2(const bf16* p, float* o) {
    float2 v = __bfloat1622float2(*reinterpret_cast<const __nv_bfloat162*>(p));
    o[0] = v.x;
    o[1] = v.y;
}
__device__ __forceinline__ void st2(float* p, const float* v) {
    *reinterpret_cast<float2*>(p) = make_float2(v[0], v[1]);
}
__device__ __forceinline__ void st2(bf16* p, const float* v) {
    *reinterpret_cast<__nv_bfloat162*>(p) = __floats2bfloat162_rn(v[0], v[1]);
}
template <int V, typename S>
__device__ __forceinline__ void ldv(const S* p, float* o) {
    if constexpr (V == 1) o[0] = ldf(p);
    else ld2(p, o);
}
template <int V, typename S>
__device__ __forceinline__ void stv(S* p, const float* v) {
    if constexpr (V == 1) stf(p, v[0]);
    else st2(p, v);
}

// One forward step of V elements at (row, j): h in: h_{t-1}, out: h_t (written to hs); writes y.
template <typename S, int V>
__device__ __forceinline__ void mingru_forward_step(S* __restrict__ y, float* __restrict__ hs,
                                                    const S* __restrict__ kzp,
                                                    const S* __restrict__ x, bool cut,
                                                    int64_t row, int j, int H, float* h) {
    const S* r = kzp + row * 3 * H + j;
    float k[V], z[V], p[V], xv[V], yv[V];
    ldv<V>(r, k);
    ldv<V>(r + H, z);
    ldv<V>(r + 2 * H, p);
    ldv<V>(x + row * H + j, xv);
    #pragma unroll
    for (int v = 0; v < V; v++) {
        if (cut) h[v] = 0.0f;
        float u = pk_sigmoid(z[v]);
        h[v] = h[v] + u * (pk_gk(k[v]) - h[v]);
        float s = pk_sigmoid(p[v]);
        yv[v] = xv[v] + s * (h[v] - xv[v]);
    }
    stv<V>(hs + row * H + j, h);
    stv<V>(y + row * H + j, yv);
}

// Version 1, one thread per (b, V consecutive h).
template <typename S, int V>
__global__ void __launch_bounds__(MINGRU_THREADS)
mingru_scan_forward_kernel(S* __restrict__ y, float* __restrict__ hs, const S* __restrict__ kzp,
                           const S* __restrict__ x, const float* __restrict__ h0,
                           const float* __restrict__ reset, int B, int T, int H) {
    int HV = H / V;
    int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= (int64_t)B * HV) return;
    int b = (int)(i / HV), j = (int)(i % HV) * V;
    float h[V] = {};
    if (h0 != nullptr) ldv<V>(h0 + (int64_t)b * H + j, h);
    #pragma unroll 4
    for (int t = 0; t < T; t++) {
        int64_t row = (int64_t)b * T + t;
        mingru_forward_step<S, V>(y, hs, kzp, x, reset != nullptr && reset[row] != 0.0f, row, j, H,
                                  h);
    }
}

// One backward step of V elements at (row, j): writes dx and the row's dk, dz, dp; dh in: the
// carry into step t, out: the carry into step t - 1. hp: h_{t-1} (0 across a reset).
template <typename S, int V>
__device__ __forceinline__ void mingru_backward_step(S* __restrict__ dkzp, S* __restrict__ dx,
                                                     const S* __restrict__ dy,
                                                     const S* __restrict__ kzp,
                                                     const S* __restrict__ x,
                                                     const float* __restrict__ hs,
                                                     const float* hp_src, bool cut, int64_t row,
                                                     int j, int H, float* dh) {
    int64_t e = row * H + j;
    const S* r = kzp + row * 3 * H + j;
    float k[V], z[V], p[V], xv[V], g[V], h[V], hp[V] = {};
    ldv<V>(r, k);
    ldv<V>(r + H, z);
    ldv<V>(r + 2 * H, p);
    ldv<V>(x + e, xv);
    ldv<V>(dy + e, g);
    ldv<V>(hs + e, h);
    if (hp_src != nullptr) ldv<V>(hp_src, hp);
    float ddx[V], dk[V], dz[V], dp[V];
    #pragma unroll
    for (int v = 0; v < V; v++) {
        float s = pk_sigmoid(p[v]);
        float d = dh[v] + g[v] * s;
        float u = pk_sigmoid(z[v]);
        ddx[v] = g[v] * (1.0f - s);
        dp[v] = g[v] * (h[v] - xv[v]) * s * (1.0f - s);
        dk[v] = d * u * pk_dgk(k[v]);
        dz[v] = d * (pk_gk(k[v]) - hp[v]) * u * (1.0f - u);
        dh[v] = cut ? 0.0f : d * (1.0f - u);
    }
    S* dr = dkzp + row * 3 * H + j;
    stv<V>(dx + e, ddx);
    stv<V>(dr + 2 * H, dp);
    stv<V>(dr, dk);
    stv<V>(dr + H, dz);
}

template <typename S, int V>
__global__ void __launch_bounds__(MINGRU_THREADS, 1)
mingru_scan_backward_kernel(S* __restrict__ dkzp, S* __restrict__ dx, const S* __restrict__ dy,
                            const float* __restrict__ dh_last, const S* __restrict__ kzp,
                            const S* __restrict__ x, const float* __restrict__ hs,
                            const float* __restrict__ h0, const float* __restrict__ reset, int B,
                            int T, int H) {
    int HV = H / V;
    int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= (int64_t)B * HV) return;
    int b = (int)(i / HV), j = (int)(i % HV) * V;
    int64_t o = (int64_t)b * H + j;
    float dh[V] = {};
    if (dh_last != nullptr) ldv<V>(dh_last + o, dh);
    #pragma unroll (V == 1 ? 4 : 2)
    for (int t = T - 1; t >= 0; t--) {
        int64_t row = (int64_t)b * T + t;
        bool cut = reset != nullptr && reset[row] != 0.0f;
        const float* prev = t > 0 ? hs + (row - 1) * H + j : (h0 != nullptr ? h0 + o : nullptr);
        mingru_backward_step<S, V>(dkzp, dx, dy, kzp, x, hs, cut ? nullptr : prev, cut, row, j, H,
                                   dh);
    }
}


// ---- version 2: chunked over T ------------------------------------------------------------------
// One warp per chunk covers 32 V consecutive h; the shared maps are indexed [chunk][v * 32 + lane]
// (conflict-free).
#define MINGRU_MAX_CHUNKS 16

template <typename S, int V>
__global__ void __launch_bounds__(32 * MINGRU_MAX_CHUNKS, 1)
mingru_scan_forward_chunked(S* __restrict__ y, float* __restrict__ hs, const S* __restrict__ kzp,
                            const S* __restrict__ x, const float* __restrict__ h0,
                            const float* __restrict__ reset, int B, int T, int H) {
    __shared__ float smA[MINGRU_MAX_CHUNKS][32 * V], smB[MINGRU_MAX_CHUNKS][32 * V];
    int lane = threadIdx.x & 31, c = threadIdx.x >> 5, C = blockDim.x >> 5;
    int j = (blockIdx.x * 32 + lane) * V, b = blockIdx.y;
    bool active = j < H;
    int L = (T + C - 1) / C;
    int t0 = min(T, c * L), t1 = min(T, t0 + L);
    // (1) this chunk as an affine map h_end = A h_start + Bv
    float A[V], Bv[V];
    #pragma unroll
    for (int v = 0; v < V; v++) A[v] = 1.0f, Bv[v] = 0.0f;
    if (active) {
        #pragma unroll 4
        for (int t = t0; t < t1; t++) {
            int64_t row = (int64_t)b * T + t;
            const S* r = kzp + row * 3 * H + j;
            float k[V], z[V];
            ldv<V>(r, k);
            ldv<V>(r + H, z);
            bool cut = reset != nullptr && reset[row] != 0.0f;
            #pragma unroll
            for (int v = 0; v < V; v++) {
                float u = pk_sigmoid(z[v]);
                float g = pk_gk(k[v]);
                float alpha = cut ? 0.0f : 1.0f - u;
                A[v] *= alpha;
                Bv[v] = alpha * Bv[v] + u * g;
            }
        }
    }
    #pragma unroll
    for (int v = 0; v < V; v++) {
        smA[c][v * 32 + lane] = A[v];
        smB[c][v * 32 + lane] = Bv[v];
    }
    __syncthreads();
    if (!active) return;
    // (2) starting state of this chunk
    float h[V] = {};
    if (h0 != nullptr) ldv<V>(h0 + (int64_t)b * H + j, h);
    for (int k = 0; k < c; k++) {
        #pragma unroll
        for (int v = 0; v < V; v++) h[v] = smA[k][v * 32 + lane] * h[v] + smB[k][v * 32 + lane];
    }
    // (3) the chunk again, as version 1
    #pragma unroll 4
    for (int t = t0; t < t1; t++) {
        int64_t row = (int64_t)b * T + t;
        mingru_forward_step<S, V>(y, hs, kzp, x, reset != nullptr && reset[row] != 0.0f, row, j, H,
                                  h);
    }
}

template <typename S, int V>
__global__ void __launch_bounds__(32 * MINGRU_MAX_CHUNKS, 1)
mingru_scan_backward_chunked(S* __restrict__ dkzp, S* __restrict__ dx, const S* __restrict__ dy,
                             const float* __restrict__ dh_last, const S* __restrict__ kzp,
                             const S* __restrict__ x, const float* __restrict__ hs,
                             const float* __restrict__ h0, const float* __restrict__ reset, int B,
                             int T, int H) {
    __shared__ float smA[MINGRU_MAX_CHUNKS][32 * V], smB[MINGRU_MAX_CHUNKS][32 * V];
    int lane = threadIdx.x & 31, c = threadIdx.x >> 5, C = blockDim.x >> 5;
    int j = (blockIdx.x * 32 + lane) * V, b = blockIdx.y;
    bool active = j < H;
    int L = (T + C - 1) / C;
    int t0 = min(T, c * L), t1 = min(T, t0 + L);
    int64_t o = (int64_t)b * H + j;
    // (1) this chunk as an affine map: carry out of its first step = A carry_in + Bv
    float A[V], Bv[V];
    #pragma unroll
    for (int v = 0; v < V; v++) A[v] = 1.0f, Bv[v] = 0.0f;
    if (active) {
        #pragma unroll (V == 1 ? 4 : 2)
        for (int t = t1 - 1; t >= t0; t--) {
            int64_t row = (int64_t)b * T + t;
            const S* r = kzp + row * 3 * H + j;
            float z[V], p[V], g[V];
            ldv<V>(r + H, z);
            ldv<V>(r + 2 * H, p);
            ldv<V>(dy + row * H + j, g);
            bool cut = reset != nullptr && reset[row] != 0.0f;
            #pragma unroll
            for (int v = 0; v < V; v++) {
                float s = pk_sigmoid(p[v]);
                float u = pk_sigmoid(z[v]);
                float cf = cut ? 0.0f : 1.0f - u;
                Bv[v] = cf * (Bv[v] + g[v] * s);
                A[v] *= cf;
            }
        }
    }
    #pragma unroll
    for (int v = 0; v < V; v++) {
        smA[c][v * 32 + lane] = A[v];
        smB[c][v * 32 + lane] = Bv[v];
    }
    __syncthreads();
    if (!active) return;
    // (2) carry into this chunk's last step from the chunks after it
    float dh[V] = {};
    if (dh_last != nullptr) ldv<V>(dh_last + o, dh);
    for (int k = C - 1; k > c; k--) {
        #pragma unroll
        for (int v = 0; v < V; v++) dh[v] = smA[k][v * 32 + lane] * dh[v] + smB[k][v * 32 + lane];
    }
    // (3) the chunk again, as version 1
    #pragma unroll (V == 1 ? 4 : 2)
    for (int t = t1 - 1; t >= t0; t--) {
        int64_t row = (int64_t)b * T + t;
        bool cut = reset != nullptr && reset[row] != 0.0f;
        const float* prev = t > 0 ? hs + (row - 1) * H + j : (h0 != nullptr ? h0 + o : nullptr);
        mingru_backward_step<S, V>(dkzp, dx, dy, kzp, x, hs, cut ? nullptr : prev, cut, row, j, H,
                                   dh);
    }
}

static int mingru_chunks_override = 0;

extern "C" void pk_mingru_set_chunks_cuda(int chunks) { mingru_chunks_override = chunks; }

// 1 = version 1. Otherwise the number of chunks (v2): enough sequences x chunks to fill the GPU
// (~256 K (b, h) x chunk pairs on an H100), chunks of at least 4 steps. It counts h, not threads,
// so the paired kernels pick the same C as the scalar ones: C sets how the composed maps round,
// and the two paths give the same bits. The backward pass goes to twice as many pairs (~512 K):
// at breakout's minibatch (1024 x 64 x 64, bf16, H100) it ran 56 us with 8 chunks, 68 us with 4,
// while the forward pass ran 33.5 us with 4 and 34 us with 8.
static int pick_chunks(int B, int T, int H, int64_t pairs) {
    int c = mingru_chunks_override;
    if (c <= 0) {
        int64_t seqs = (int64_t)B * H;
        c = 1;
        while (c < MINGRU_MAX_CHUNKS && seqs * c < pairs && T / (2 * c) >= 4) c *= 2;
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

// Two h per thread when H is even and every per-element array allows the wider access (bf16x2:
// 4 bytes, float2: 8 bytes; a null pointer passes). Otherwise one.
static bool pairs_ok(int H, size_t es, std::initializer_list<const void*> s_arrays,
                     std::initializer_list<const void*> f_arrays) {
    if (H % 2 != 0) return false;
    for (const void* p : s_arrays)
        if ((uintptr_t)p % (2 * es) != 0) return false;
    for (const void* p : f_arrays)
        if ((uintptr_t)p % sizeof(float2) != 0) return false;
    return true;
}

template <typename S, int V>
static void launch_scan_forward(int C, S* y, float* hs, const S* kzp, const S* x, const float* h0,
                                const float* reset, int B, int T, int H, cudaStream_t st) {
    if (C == 1)
        mingru_scan_forward_kernel<S, V><<<grid_for((int64_t)B * (H / V), MINGRU_THREADS),
                                           MINGRU_THREADS, 0, st>>>(y, hs, kzp, x, h0, reset, B,
                                                                    T, H);
    else
        mingru_scan_forward_chunked<S, V><<<dim3((H / V + 31) / 32, B), 32 * C, 0, st>>>(
            y, hs, kzp, x, h0, reset, B, T, H);
}

template <typename S, int V>
static void launch_scan_backward(int C, S* dkzp, S* dx, const S* dy, const float* dh_last,
                                 const S* kzp, const S* x, const float* hs, const float* h0,
                                 const float* reset, int B, int T, int H, cudaStream_t st) {
    if (C == 1)
        mingru_scan_backward_kernel<S, V><<<grid_for((int64_t)B * (H / V), MINGRU_THREADS),
                                            MINGRU_THREADS, 0, st>>>(dkzp, dx, dy, dh_last, kzp,
                                                                     x, hs, h0, reset, B, T, H);
    else
        mingru_scan_backward_chunked<S, V><<<dim3((H / V + 31) / 32, B), 32 * C, 0, st>>>(
            dkzp, dx, dy, dh_last, kzp, x, hs, h0, reset, B, T, H);
}

extern "C" int pk_mingru_scan_forward_cuda(void* y, float* hs, const void* kzp, const void* x,
                                           const float* h0, const float* reset, int B, int T,
                                           int H, int dtype, void* stream) {
    PK_REQUIRE(B >= 0 && T > 0 && H > 0);
    if (B == 0) return 0;
    int C = pick_chunks(B, T, H, 1 << 18);
    PK_DISPATCH(dtype, S, {
        if (pairs_ok(H, sizeof(S), {y, kzp, x}, {hs, h0}))
            launch_scan_forward<S, 2>(C, (S*)y, hs, (const S*)kzp, (const S*)x, h0, reset, B, T,
                                      H, pk_stream(stream));
        else
            launch_scan_forward<S, 1>(C, (S*)y, hs, (const S*)kzp, (const S*)x, h0, reset, B, T,
                                      H, pk_stream(stream));
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
    int C = pick_chunks(B, T, H, 1 << 19);
    PK_DISPATCH(dtype, S, {
        if (pairs_ok(H, sizeof(S), {dkzp, dx, dy, kzp, x}, {dh_last, hs, h0}))
            launch_scan_backward<S, 2>(C, (S*)dkzp, (S*)dx, (const S*)dy, dh_last, (const S*)kzp,
                                       (const S*)x, hs, h0, reset, B, T, H, pk_stream(stream));
        else
            launch_scan_backward<S, 1>(C, (S*)dkzp, (S*)dx, (const S*)dy, dh_last, (const S*)kzp,
                                       (const S*)x, hs, h0, reset, B, T, H, pk_stream(stream));
    });
    PK_LAUNCH_CHECK();
    return 0;
}
