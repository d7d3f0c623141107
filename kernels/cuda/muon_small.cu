// muon_small.cu: the whole Muon step of a small policy in ONE kernel launch (pk_muon_cuda picks
// it when the shapes fit; optim.cu keeps the cuBLAS path for the rest). Same algorithm as
// cpu/optim.c (read its header): clip factor from the global gradient norm, Nesterov momentum,
// Frobenius normalisation, five Newton-Schulz iterations in fp32 (same coefficients; tall
// tensors iterate on X^T, which is the reference's X (b S + c S S) transposed since S is
// symmetric), update scaled by sqrt(max(1, R / C)), decoupled weight decay, bf16 parameters cast
// from the fp32 master weights.
//
// Why: at hidden 64-128 the cuBLAS path is ~80 launches of tiny GEMMs and elementwise kernels
// (~300 us for breakout's four tensors on an H100); here everything stays in shared memory.
//
// Layout: a cluster of P blocks per tensor (P = 1 needs no cluster; P > 1 needs sm_90 thread
// block clusters and reads its peers' shared memory). With m = min(R, C), K = max(R, C) and the
// "wide" view X (m x K; X^T of a tall tensor), block r of the cluster owns
//   columns [r kc, (r + 1) kc) of X, stored both as X (m x kc) and X^T (kc x m), and
//   rows [r rc, (r + 1) rc) of the m x m Gram matrix S and of Bm = b S + c S S,
// (m, kc, rc padded to multiples of 4 with zeros, which stay zero through the iteration).
// One iteration, between cluster barriers:
//   1. SB = the partial Gram of its columns (upper-triangle 4x4 tiles, mirrored: S symmetric);
//   2. SR = its rows of S = sum of the P partials in rank order;
//   3. SB = S gathered from the peers' SR;  BR = its rows of b S + c S S;
//   4. SB = Bm gathered from the peers' BR; X^T = (a X + Bm X)^T on its columns; X = (X^T)^T.
// The clip norm and the Frobenius norm are per-block partials summed in rank order. Every sum
// has a fixed order (no atomics): results are deterministic, graph replays bit-identical.
//
// Napkin math (H100, 8 blocks per tensor): breakout's 192 x 64 layer: ~0.23 M FMA per block and
// iteration (~2 us at half the SM's fp32 peak) plus three 16 KB peer gathers; the default 384 x
// 128 layer: ~1.8 M FMA per block and iteration. Shared memory per block: 2 m kc + m^2 + 2 rc m
// floats (32 KB for breakout, 128 KB for hidden 128); one block per tensor needs
// 2 m K + m^2 + 2 m^2 floats (144 KB for breakout).
#include <cooperative_groups.h>

#include <mutex>

#include "common.cuh"

namespace cg = cooperative_groups;

#define MS_THREADS 512
#define MS_MAX_TENSORS 64
#define MS_MAX_BLOCKS 16

__constant__ float MS_NS_COEFS[5][3] = {
    {4.0848f, -6.8946f, 2.9270f}, {3.9505f, -6.3029f, 2.6377f}, {3.7418f, -5.5913f, 2.3037f},
    {2.8769f, -3.1427f, 1.2046f}, {2.8366f, -3.0525f, 1.2012f},
};

struct MsTensor {
    int64_t off;
    int32_t rows, cols;
};

struct MsArgs {
    float* master;
    void* params;
    const void* grad;
    float* momentum;
    const float* lr;
    float* norm_out;
    int64_t span;
    float mu, max_grad_norm, weight_decay;
    int blocks;                         // P, blocks per tensor
    int x_floats, sb_floats, r_floats;  // shared-memory regions (floats, multiples of 16)
    MsTensor t[MS_MAX_TENSORS];
};

// The cluster of a tensor's blocks: P = 1 is a plain block (no cluster launch, any arch).
template <bool CLUSTER>
struct Cl;
template <>
struct Cl<false> {
    __device__ unsigned rank() const { return 0; }
    __device__ void sync() const { __syncthreads(); }
    template <typename T>
    __device__ T* peer(T* p, unsigned) const { return p; }
};
template <>
struct Cl<true> {
#if !defined(__CUDA_ARCH__) || __CUDA_ARCH__ >= 900
    __device__ unsigned rank() const { return cg::this_cluster().block_rank(); }
    __device__ void sync() const { cg::this_cluster().sync(); }
    template <typename T>
    __device__ T* peer(T* p, unsigned r) const { return cg::this_cluster().map_shared_rank(p, r); }
#else  // never launched below sm_90 (the host checks the kernel's PTX version)
    __device__ unsigned rank() const { __trap(); return 0; }
    __device__ void sync() const { __trap(); }
    template <typename T>
    __device__ T* peer(T* p, unsigned) const { __trap(); return p; }
#endif
};

__device__ __forceinline__ int round4(int x) { return (x + 3) & ~3; }

// acc[i][j] += sum_{l < L} A[l lda + i] B[l ldb + j], i, j < 4 (both operands "transposed":
// contiguous along the output's rows/columns; 16-byte aligned). Fixed order in l.
__device__ __forceinline__ void tile_tn(float (&acc)[4][4], const float* A, int lda,
                                        const float* B, int ldb, int L) {
#pragma unroll 4
    for (int l = 0; l < L; l++) {
        float4 a = *(const float4*)(A + (size_t)l * lda);
        float4 b = *(const float4*)(B + (size_t)l * ldb);
        float av[4] = {a.x, a.y, a.z, a.w}, bv[4] = {b.x, b.y, b.z, b.w};
#pragma unroll
        for (int i = 0; i < 4; i++)
#pragma unroll
            for (int j = 0; j < 4; j++) acc[i][j] = fmaf(av[i], bv[j], acc[i][j]);
    }
}

__device__ __forceinline__ void zero(float (&acc)[4][4]) {
#pragma unroll
    for (int i = 0; i < 4; i++)
#pragma unroll
        for (int j = 0; j < 4; j++) acc[i][j] = 0.0f;
}

// Sum over the cluster of one float per block (slot v of each block's shared memory), in rank
// order. Call after a cluster barrier that follows the writes.
template <bool CL>
__device__ __forceinline__ float cluster_sum(const Cl<CL>& cl, float* v, int P) {
    float s = 0.0f;
    for (int q = 0; q < P; q++) s += *cl.peer(v, q);
    return s;
}

// The element of tensor (R x C) at wide-view position (i, k0 + kk), its slice e-th in an order
// that makes consecutive threads read consecutive addresses.
__device__ __forceinline__ int64_t slice_index(int e, bool wide, int m, int kw, int k0, int C,
                                               int* i, int* kk) {
    if (wide) {
        *i = e / kw;
        *kk = e - *i * kw;
        return (int64_t)*i * C + k0 + *kk;
    }
    *kk = e / m;
    *i = e - *kk * m;
    return (int64_t)(k0 + *kk) * C + *i;
}

template <typename S, bool CL>
__global__ void __launch_bounds__(MS_THREADS, 1)
muon_small_kernel(const __grid_constant__ MsArgs a) {
    extern __shared__ float4 ms_smem[];
    float* X = (float*)ms_smem;        // m x kc, row length kc
    float* XT = X + a.x_floats;        // kc x m, row length mp
    float* SB = XT + a.x_floats;       // m x m: partial Gram, then S, then Bm
    float* SR = SB + a.sb_floats;      // this block's rows of S
    float* BR = SR + a.r_floats;       // this block's rows of Bm
    float* red = BR + a.r_floats;      // [0] clip-norm partial, [1] Frobenius partial
    const Cl<CL> cl;
    const int P = a.blocks;
    const int r = (int)cl.rank();
    const int tid = threadIdx.x;
    const S* grad = (const S*)a.grad;
    S* params = (S*)a.params;

    // 1. Global gradient norm over grad[0, span): P slices, one per block of the cluster.
    {
        int64_t lo = a.span * r / P, hi = a.span * (r + 1) / P;
        float s = 0.0f;
        for (int64_t i = lo + tid; i < hi; i += MS_THREADS) {
            float v = ldf(grad + i);
            s += v * v;
        }
        s = block_sum<MS_THREADS>(s);
        if (tid == 0) red[0] = s;
    }
    cl.sync();
    const float norm = sqrtf(cluster_sum(cl, red, P));
    if (blockIdx.x == 0 && tid == 0 && a.norm_out != nullptr) *a.norm_out = norm;
    const float scale =
        a.max_grad_norm > 0.0f ? fminf(a.max_grad_norm / (norm + 1e-6f), 1.0f) : 1.0f;
    const float step = *a.lr;
    const float decay = 1.0f - step * a.weight_decay;
    const float mu = a.mu;

    const MsTensor& T = a.t[blockIdx.x / P];
    const int R = T.rows, C = T.cols;
    float* mom = a.momentum + T.off;
    float* master = a.master + T.off;
    grad += T.off;
    if (params != nullptr) params += T.off;

    if (R <= 0) {  // 1-D: update = u, elementwise over this block's share
        int64_t lo = (int64_t)C * r / P, hi = (int64_t)C * (r + 1) / P;
        for (int64_t e = lo + tid; e < hi; e += MS_THREADS) {
            float g = ldf(grad + e) * scale;
            float m = mu * mom[e] + g;
            mom[e] = m;
            float u = g + mu * m;
            float w = master[e] * decay - step * u;
            master[e] = w;
            if (params != nullptr) stf(params + e, w);
        }
        cl.sync();  // the peers are done reading red[0] before this block exits
        return;
    }

    const bool wide = R <= C;
    const int m = wide ? R : C, K = wide ? C : R;
    const int mp = round4(m);
    const int kc = round4((K + P - 1) / P);
    const int rc = round4((mp + P - 1) / P);
    const int k0 = r * kc;
    const int kw = K - k0 < kc ? (K - k0 > 0 ? K - k0 : 0) : kc;  // real columns of the slice
    const int kwp = round4(kw);
    const int i0 = r * rc;
    const int nr = mp - i0 < rc ? (mp - i0 > 0 ? mp - i0 : 0) : rc;  // rows of S owned

    // 2. Momentum; u into X and X^T (zero padding); Frobenius partial.
    for (int e = tid; e < mp * kc; e += MS_THREADS) {
        X[e] = 0.0f;
        XT[e] = 0.0f;
    }
    __syncthreads();
    {
        float s = 0.0f;
        for (int e = tid; e < m * kw; e += MS_THREADS) {
            int i, kk;
            int64_t idx = slice_index(e, wide, m, kw, k0, C, &i, &kk);
            float g = ldf(grad + idx) * scale;
            float mm = mu * mom[idx] + g;
            mom[idx] = mm;
            float u = g + mu * mm;
            X[i * kc + kk] = u;
            XT[kk * mp + i] = u;
            s += u * u;
        }
        s = block_sum<MS_THREADS>(s);
        if (tid == 0) red[1] = s;
    }
    cl.sync();
    {
        float inv = 1.0f / fmaxf(sqrtf(cluster_sum(cl, red + 1, P)), 1e-7f);
        for (int e = tid; e < mp * kc; e += MS_THREADS) {
            X[e] *= inv;
            XT[e] *= inv;
        }
    }
    __syncthreads();

    // 3. Newton-Schulz.
    const int tm = mp / 4;
    for (int it = 0; it < 5; it++) {
        const float ca = MS_NS_COEFS[it][0], cb = MS_NS_COEFS[it][1], cc = MS_NS_COEFS[it][2];
        // 3a. SB = partial Gram of this block's columns: tiles (p, q), p <= q, mirrored.
        for (int idx = tid; idx < tm * (tm + 1) / 2; idx += MS_THREADS) {
            int p = 0, q = idx;
            while (q >= tm - p) {
                q -= tm - p;
                p++;
            }
            q += p;
            float acc[4][4];
            zero(acc);
            tile_tn(acc, XT + 4 * p, mp, XT + 4 * q, mp, kwp);
#pragma unroll
            for (int i = 0; i < 4; i++) {
                *(float4*)(SB + (4 * p + i) * mp + 4 * q) =
                    make_float4(acc[i][0], acc[i][1], acc[i][2], acc[i][3]);
                if (p != q)
                    *(float4*)(SB + (4 * q + i) * mp + 4 * p) =
                        make_float4(acc[0][i], acc[1][i], acc[2][i], acc[3][i]);
            }
        }
        cl.sync();
        // 3b. SR = this block's rows of S: the P partials summed in rank order.
        for (int e = tid; e < nr * mp / 4; e += MS_THREADS) {
            float4 s = make_float4(0.0f, 0.0f, 0.0f, 0.0f);
            for (int q = 0; q < P; q++) {
                float4 v = ((const float4*)cl.peer(SB, q))[i0 * mp / 4 + e];
                s.x += v.x;
                s.y += v.y;
                s.z += v.z;
                s.w += v.w;
            }
            ((float4*)SR)[e] = s;
        }
        cl.sync();
        // 3c. SB = S (rows from their owners); BR = b S + c S S on this block's rows, using
        // S[i][l] = S[l][i] so both operands are read along rows.
        for (int e = tid; e < mp * mp / 4; e += MS_THREADS) {
            int i = 4 * e / mp, o = i / rc;
            ((float4*)SB)[e] = ((const float4*)cl.peer(SR, o))[e - o * rc * mp / 4];
        }
        __syncthreads();
        for (int idx = tid; idx < (nr / 4) * tm; idx += MS_THREADS) {
            int p = idx / tm, q = idx - p * tm;
            float acc[4][4];
            zero(acc);
            tile_tn(acc, SB + i0 + 4 * p, mp, SB + 4 * q, mp, mp);
#pragma unroll
            for (int i = 0; i < 4; i++) {
                const float* s = SB + (i0 + 4 * p + i) * mp + 4 * q;
                *(float4*)(BR + (4 * p + i) * mp + 4 * q) =
                    make_float4(fmaf(cc, acc[i][0], cb * s[0]), fmaf(cc, acc[i][1], cb * s[1]),
                                fmaf(cc, acc[i][2], cb * s[2]), fmaf(cc, acc[i][3], cb * s[3]));
            }
        }
        cl.sync();
        // 3d. SB = Bm; X^T = (a X + Bm X)^T on this block's columns (Bm[i][l] = Bm[l][i]).
        for (int e = tid; e < mp * mp / 4; e += MS_THREADS) {
            int i = 4 * e / mp, o = i / rc;
            ((float4*)SB)[e] = ((const float4*)cl.peer(BR, o))[e - o * rc * mp / 4];
        }
        __syncthreads();
        for (int idx = tid; idx < tm * (kwp / 4); idx += MS_THREADS) {
            int p = idx / (kwp / 4), q = idx - p * (kwp / 4);
            float acc[4][4];
            zero(acc);
            tile_tn(acc, SB + 4 * p, mp, X + 4 * q, kc, mp);
            float y[4][4];
#pragma unroll
            for (int i = 0; i < 4; i++) {
                float4 x = *(const float4*)(X + (4 * p + i) * kc + 4 * q);
                y[i][0] = fmaf(ca, x.x, acc[i][0]);
                y[i][1] = fmaf(ca, x.y, acc[i][1]);
                y[i][2] = fmaf(ca, x.z, acc[i][2]);
                y[i][3] = fmaf(ca, x.w, acc[i][3]);
            }
#pragma unroll
            for (int j = 0; j < 4; j++)
                *(float4*)(XT + (4 * q + j) * mp + 4 * p) =
                    make_float4(y[0][j], y[1][j], y[2][j], y[3][j]);
        }
        __syncthreads();
        for (int e = tid; e < mp * kwp; e += MS_THREADS) {
            int i = e / kwp, kk = e - i * kwp;
            X[i * kc + kk] = XT[kk * mp + i];
        }
        __syncthreads();
    }

    // 4. Update and the bf16 parameters.
    const float lr_scale = step * sqrtf(fmaxf(1.0f, (float)R / (float)C));
    for (int e = tid; e < m * kw; e += MS_THREADS) {
        int i, kk;
        int64_t idx = slice_index(e, wide, m, kw, k0, C, &i, &kk);
        float w = master[idx] * decay - lr_scale * X[i * kc + kk];
        master[idx] = w;
        if (params != nullptr) stf(params + idx, w);
    }
    cl.sync();  // the peers are done reading this block's BR before it exits
}

// ---- host --------------------------------------------------------------------------------------

struct MsShape {
    int x, sb, r;  // floats per region
};

static MsShape ms_shape(const int32_t* rows, const int32_t* cols, int n, int P) {
    MsShape s = {16, 16, 16};
    for (int t = 0; t < n; t++) {
        if (rows[t] <= 0) continue;
        int m = rows[t] < cols[t] ? rows[t] : cols[t];
        int K = rows[t] < cols[t] ? cols[t] : rows[t];
        int64_t mp = (m + 3) & ~3, kc = ((K + P - 1) / P + 3) & ~3;
        int64_t rc = ((mp + P - 1) / P + 3) & ~3;
        int64_t x = mp * kc, sb = mp * mp, r = rc * mp;
        if (x > (1 << 24) || sb > (1 << 24)) return MsShape{1 << 24, 1 << 24, 1 << 24};
        if (x > s.x) s.x = (int)x;
        if (sb > s.sb) s.sb = (int)sb;
        if (r > s.r) s.r = (int)r;
    }
    return s;
}

static size_t ms_bytes(const MsShape& s) {
    return (size_t)(2 * (size_t)s.x + s.sb + 2 * (size_t)s.r + 4) * sizeof(float);
}

template <typename S, bool CL>
static void* ms_kernel() {
    return (void*)muon_small_kernel<S, CL>;
}

static void* ms_kernel_for(int dtype, bool cluster) {
    if (dtype == PK_BF16) return cluster ? ms_kernel<bf16, true>() : ms_kernel<bf16, false>();
    return cluster ? ms_kernel<float, true>() : ms_kernel<float, false>();
}

// Lets the kernel take all the shared memory the device offers (and, for clusters, more than 8
// blocks per cluster). The same values on every call, so threads driving other streams or
// shapes never undo each other's setting; a launch's own size is its dynamicSmemBytes.
static int ms_set_attributes(const void* kernel, int optin, const cudaFuncAttributes& fa,
                             bool cluster) {
    PK_CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                       optin - (int)fa.sharedSizeBytes));
    if (cluster)
        PK_CUDA_CHECK(cudaFuncSetAttribute(kernel,
                                           cudaFuncAttributeNonPortableClusterSizeAllowed, 1));
    return 0;
}

// The launch of n tensors' clusters of P blocks (attr: storage for the cluster attribute).
static cudaLaunchConfig_t ms_cluster_config(cudaLaunchAttribute* attr, int P, int n, size_t bytes,
                                            cudaStream_t s) {
    attr->id = cudaLaunchAttributeClusterDimension;
    attr->val.clusterDim.x = (unsigned)P;
    attr->val.clusterDim.y = 1;
    attr->val.clusterDim.z = 1;
    cudaLaunchConfig_t cfg = {};
    cfg.gridDim = dim3((unsigned)(n * P));
    cfg.blockDim = dim3(MS_THREADS);
    cfg.dynamicSmemBytes = bytes;
    cfg.stream = s;
    cfg.attrs = attr;
    cfg.numAttrs = 1;
    return cfg;
}

// Whether clusters of P blocks of `bytes` shared memory can be scheduled on this device (the
// answer is cached: the occupancy query runs once per device, dtype, P and size, normally in an
// eager call before any graph capture). The kernel's attributes must be set.
static int ms_cluster_fits(int* fits, int dev, int dtype, int P, size_t bytes, int n) {
    struct Entry {
        int dev, dtype, P, fits;
        size_t bytes;
    };
    static std::mutex lock;
    static Entry cache[32];
    static int cached = 0;
    std::lock_guard<std::mutex> guard(lock);
    for (int i = 0; i < cached; i++)
        if (cache[i].dev == dev && cache[i].dtype == dtype && cache[i].P == P &&
            cache[i].bytes == bytes) {
            *fits = cache[i].fits;
            return 0;
        }
    cudaLaunchAttribute attr;
    cudaLaunchConfig_t cfg = ms_cluster_config(&attr, P, n, bytes, nullptr);
    int clusters = 0;
    cudaError_t e = cudaOccupancyMaxActiveClusters(&clusters, ms_kernel_for(dtype, true), &cfg);
    if (e != cudaSuccess) {
        (void)cudaGetLastError();  // not schedulable (e.g. P = 16 refused): answer no
        clusters = 0;
    }
    *fits = clusters > 0;
    if (cached < 32) cache[cached++] = Entry{dev, dtype, P, *fits, bytes};
    return 0;
}

// *blocks = the blocks per tensor the fused path uses for these shapes on the current device
// (1 = one plain block per tensor; 2..16 = a thread-block cluster, sm_90), 0 when it cannot run
// them. want: 0 = choose (8, 4, 2 blocks where clusters work, else 1), else exactly that many.
// Also sets the kernels' attributes: call it before pk_muon_small_cuda.
int pk_muon_small_blocks(int* blocks, const int32_t* rows, const int32_t* cols, int num_tensors,
                         int dtype, int want) {
    *blocks = 0;
    if (num_tensors > MS_MAX_TENSORS || want < 0 || want > MS_MAX_BLOCKS) return 0;
    if (dtype != PK_F32 && dtype != PK_BF16) return 0;
    int dev = 0, major = 0, optin = 0;
    PK_CUDA_CHECK(cudaGetDevice(&dev));
    PK_CUDA_CHECK(cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, dev));
    PK_CUDA_CHECK(cudaDeviceGetAttribute(&optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, dev));
    cudaFuncAttributes plain, clustered;
    PK_CUDA_CHECK(cudaFuncGetAttributes(&plain, ms_kernel_for(dtype, false)));
    PK_CUDA_CHECK(cudaFuncGetAttributes(&clustered, ms_kernel_for(dtype, true)));
    bool can_cluster = major >= 9 && clustered.ptxVersion >= 90;
    PK_TRY(ms_set_attributes(ms_kernel_for(dtype, false), optin, plain, false));
    if (can_cluster) PK_TRY(ms_set_attributes(ms_kernel_for(dtype, true), optin, clustered, true));
    const int choices[] = {8, 4, 2, 1};
    const int* cand = want > 0 ? &want : choices;
    for (int c = 0; c < (want > 0 ? 1 : 4); c++) {
        int P = cand[c];
        size_t bytes = ms_bytes(ms_shape(rows, cols, num_tensors, P));
        const cudaFuncAttributes& fa = P > 1 ? clustered : plain;
        if (bytes + fa.sharedSizeBytes > (size_t)optin) continue;
        if (P > 1) {
            if (!can_cluster) continue;
            int fits = 0;
            PK_TRY(ms_cluster_fits(&fits, dev, dtype, P, bytes, num_tensors));
            if (!fits) continue;
        }
        *blocks = P;
        return 0;
    }
    return 0;
}

int pk_muon_small_cuda(int P, float* master, void* params, const void* grad, float* momentum,
                       const int64_t* offsets, const int32_t* rows, const int32_t* cols,
                       int num_tensors, const float* lr, float mu, float max_grad_norm,
                       float weight_decay, float* norm_out, int dtype, cudaStream_t s) {
    PK_REQUIRE(P >= 1 && P <= MS_MAX_BLOCKS && num_tensors > 0 && num_tensors <= MS_MAX_TENSORS);
    MsShape shape = ms_shape(rows, cols, num_tensors, P);
    MsArgs a = {};
    a.master = master;
    a.params = params;
    a.grad = grad;
    a.momentum = momentum;
    a.lr = lr;
    a.norm_out = norm_out;
    a.mu = mu;
    a.max_grad_norm = max_grad_norm;
    a.weight_decay = weight_decay;
    a.blocks = P;
    a.x_floats = shape.x;
    a.sb_floats = shape.sb;
    a.r_floats = shape.r;
    for (int t = 0; t < num_tensors; t++) {
        int64_t end = offsets[t] + (rows[t] > 0 ? (int64_t)rows[t] * cols[t] : cols[t]);
        if (end > a.span) a.span = end;
        a.t[t] = MsTensor{offsets[t], rows[t], cols[t]};
    }
    size_t bytes = ms_bytes(shape);
    unsigned grid = (unsigned)(num_tensors * P);
    if (P == 1) {
        PK_DISPATCH(dtype, S, {
            muon_small_kernel<S, false><<<grid, MS_THREADS, bytes, s>>>(a);
        });
        PK_LAUNCH_CHECK();
        return 0;
    }
    cudaLaunchAttribute attr;
    cudaLaunchConfig_t cfg = ms_cluster_config(&attr, P, num_tensors, bytes, s);
    PK_DISPATCH(dtype, S, {
        PK_CUDA_CHECK(cudaLaunchKernelEx(&cfg, muon_small_kernel<S, true>, a));
    });
    PK_LAUNCH_CHECK();
    return 0;
}
