// optim.cu: global-norm gradient clipping and Muon, CUDA. Same algorithm and order of operations
// as cpu/optim.c (read its header).
//
// Small policies (every tensor's Gram matrix and column slice fit in shared memory; see
// muon_small.cu) run the whole step as one kernel launch instead; pk_muon_set_path_cuda forces
// either path. The rest of this header is about the cuBLAS path.
// Launches per Muon step: one norm reduction over the flat gradient (PK_RED_BLOCKS partials), then
// per tensor: momentum (+ Frobenius partials), normalise, 5 x (3 cuBLAS GEMMs + one elementwise
// kernel), update (+ cast to the bf16 parameters).
// Newton-Schulz runs in fp32 whatever the storage dtype (the reference keeps X and the Gram
// matrices in bf16). The iteration's coefficients (4, -7, 3) cancel to ~1, which amplifies storage
// rounding about tenfold: in an fp64 emulation, bf16 storage moved the update by 1.5% for the
// policy's matrices and 6% for a 1 x A logstd row; fp32 keeps it at ~1e-6. At hidden sizes up to
// 512 these GEMMs are launch-bound, so fp32 costs nothing measurable. Every reduction has a fixed grid and
// order, and every consumer re-folds the partials itself (no atomics, no extra launch, graph-safe).
// The learning rate is read from device memory so an annealed lr needs no graph re-capture.
// Napkin math: the default policy has 0.03-0.2 M parameters: the elementwise passes move a few MB
// (~us); the GEMMs are tiny (a 192 x 64 tensor's Gram is 64 x 64) and launch-bound: ~20 launches
// per tensor, which is why the optimizer lives inside the training graph.
#include "common.cuh"

static const float NS_COEFS[5][3] = {
    {4.0848f, -6.8946f, 2.9270f}, {3.9505f, -6.3029f, 2.6377f}, {3.7418f, -5.5913f, 2.3037f},
    {2.8769f, -3.1427f, 1.2046f}, {2.8366f, -3.0525f, 1.2012f},
};

#define GRID_STRIDE(i, n)                                                           \
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < (n);       \
         i += (int64_t)gridDim.x * blockDim.x)

// partials[blockIdx] = sum of squares of this block's share of g (PK_RED_BLOCKS blocks).
template <typename S>
__global__ void __launch_bounds__(PK_RED_THREADS)
sumsq_kernel(const S* __restrict__ g, int64_t n, float* __restrict__ partials) {
    float s = 0.0f;
    GRID_STRIDE(i, n) {
        float v = ldf(g + i);
        s += v * v;
    }
    s = block_sum<PK_RED_THREADS>(s);
    if (threadIdx.x == 0) partials[blockIdx.x] = s;
}

__device__ __forceinline__ float norm_from_partials(const float* partials) {
    return sqrtf(sum_partials<PK_RED_THREADS>(partials, PK_RED_BLOCKS));
}

template <typename S>
__global__ void __launch_bounds__(PK_RED_THREADS)
norm_out_kernel(float* __restrict__ norm_out, const float* __restrict__ partials) {
    float norm = norm_from_partials(partials);
    if (threadIdx.x == 0) *norm_out = norm;
}

template <typename S>
__global__ void __launch_bounds__(PK_RED_THREADS)
clip_kernel(S* __restrict__ g, int64_t n, float max_norm, float* __restrict__ norm_out,
            const float* __restrict__ partials) {
    float norm = norm_from_partials(partials);
    if (norm_out != nullptr && blockIdx.x == 0 && threadIdx.x == 0) *norm_out = norm;
    float scale = fminf(max_norm / (norm + 1e-6f), 1.0f);
    GRID_STRIDE(i, n) stf(g + i, ldf(g + i) * scale);
}

// Clip scale, Nesterov momentum; 2-D tensors write u (fp32) and Frobenius partials, 1-D tensors
// apply the update directly.
template <typename S>
__global__ void __launch_bounds__(PK_RED_THREADS)
muon_momentum_kernel(const S* __restrict__ grad, float* __restrict__ mom, float* __restrict__ U,
                     int64_t n, float mu, float max_grad_norm, const float* __restrict__ gpart,
                     float* __restrict__ tpart, float* __restrict__ norm_out,
                     float* __restrict__ master, S* __restrict__ params,
                     const float* __restrict__ lr, float weight_decay) {
    float norm = norm_from_partials(gpart);
    if (norm_out != nullptr && blockIdx.x == 0 && threadIdx.x == 0) *norm_out = norm;
    float scale = max_grad_norm > 0.0f ? fminf(max_grad_norm / (norm + 1e-6f), 1.0f) : 1.0f;
    float step = *lr;
    float decay = 1.0f - step * weight_decay;
    float s = 0.0f;
    GRID_STRIDE(i, n) {
        float g = ldf(grad + i) * scale;
        float m = mu * mom[i] + g;
        mom[i] = m;
        float u = g + mu * m;
        if (U != nullptr) {
            U[i] = u;
            s += u * u;
        } else {
            float w = master[i] * decay - step * u;
            master[i] = w;
            if (params != nullptr) stf(params + i, w);
        }
    }
    if (U != nullptr) {
        s = block_sum<PK_RED_THREADS>(s);
        if (threadIdx.x == 0) tpart[blockIdx.x] = s;
    }
}

// U *= 1 / max(||U||_F, 1e-7), in place.
__global__ void __launch_bounds__(PK_RED_THREADS)
muon_normalize_kernel(float* __restrict__ U, int64_t n, const float* __restrict__ tpart) {
    float inv = 1.0f / fmaxf(sqrtf(sum_partials<PK_RED_THREADS>(tpart, PK_RED_BLOCKS)), 1e-7f);
    GRID_STRIDE(i, n) U[i] *= inv;
}

// Bm = b S (m*m elements) and Y = a X (n elements) in one launch.
__global__ void __launch_bounds__(PK_RED_THREADS)
ns_scale_kernel(float* __restrict__ Bm, const float* __restrict__ Sg, int64_t mm, float b,
                float* __restrict__ Y, const float* __restrict__ X, int64_t n, float a) {
    GRID_STRIDE(i, mm + n) {
        if (i < mm) Bm[i] = b * Sg[i];
        else Y[i - mm] = a * X[i - mm];
    }
}

template <typename S>
__global__ void __launch_bounds__(PK_RED_THREADS)
muon_update_kernel(float* __restrict__ master, S* __restrict__ params, const float* __restrict__ X,
                   int64_t n, float scale, const float* __restrict__ lr, float weight_decay) {
    float step = *lr;
    float decay = 1.0f - step * weight_decay;
    GRID_STRIDE(i, n) {
        float w = master[i] * decay - step * scale * X[i];
        master[i] = w;
        if (params != nullptr) stf(params + i, w);
    }
}

static unsigned blocks_for(int64_t n) {
    int64_t b = (n + PK_RED_THREADS - 1) / PK_RED_THREADS;
    if (b < 1) b = 1;
    return (unsigned)(b < PK_RED_BLOCKS ? b : PK_RED_BLOCKS);
}

extern "C" size_t pk_norm_workspace_bytes_cuda(void) { return PK_RED_BLOCKS * sizeof(float); }

extern "C" int pk_grad_norm_cuda(float* norm_out, const void* g, int64_t n, void* workspace,
                                 int dtype, void* stream) {
    PK_REQUIRE(n >= 0 && norm_out != nullptr);
    cudaStream_t s = pk_stream(stream);
    float* part = (float*)workspace;
    PK_DISPATCH(dtype, S, {
        sumsq_kernel<S><<<PK_RED_BLOCKS, PK_RED_THREADS, 0, s>>>((const S*)g, n, part);
        PK_LAUNCH_CHECK();
        norm_out_kernel<S><<<1, PK_RED_THREADS, 0, s>>>(norm_out, part);
    });
    PK_LAUNCH_CHECK();
    return 0;
}

extern "C" int pk_clip_grad_norm_cuda(void* g, int64_t n, float max_norm, float* norm_out,
                                      void* workspace, int dtype, void* stream) {
    PK_REQUIRE(n >= 0);
    cudaStream_t s = pk_stream(stream);
    float* part = (float*)workspace;
    PK_DISPATCH(dtype, S, {
        sumsq_kernel<S><<<PK_RED_BLOCKS, PK_RED_THREADS, 0, s>>>((const S*)g, n, part);
        PK_LAUNCH_CHECK();
        clip_kernel<S><<<blocks_for(n), PK_RED_THREADS, 0, s>>>((S*)g, n, max_norm, norm_out,
                                                                 part);
    });
    PK_LAUNCH_CHECK();
    return 0;
}

// ---- Muon ----------------------------------------------------------------------------------

static int64_t tensor_numel(int32_t rows, int32_t cols) {
    return rows > 0 ? (int64_t)rows * cols : cols;
}

static size_t align256(size_t b) { return (b + 255) & ~(size_t)255; }

struct MuonLayout {
    size_t U, Y, S, Bm, gpart, tpart, total;
};

static MuonLayout muon_layout(const int32_t* rows, const int32_t* cols, int num_tensors,
                              int dtype) {
    int64_t max_n = 1, max_m = 1;
    for (int i = 0; i < num_tensors; i++) {
        int64_t n = tensor_numel(rows[i], cols[i]);
        int64_t m = rows[i] > 0 ? (rows[i] < cols[i] ? rows[i] : cols[i]) : 0;
        if (n > max_n) max_n = n;
        if (m > max_m) max_m = m;
    }
    MuonLayout L;  // all fp32 (Newton-Schulz runs in fp32 for either storage dtype)
    size_t off = 0;
    L.U = off;     off += align256(max_n * sizeof(float));
    L.Y = off;     off += align256(max_n * sizeof(float));
    L.S = off;     off += align256(max_m * max_m * sizeof(float));
    L.Bm = off;    off += align256(max_m * max_m * sizeof(float));
    L.gpart = off; off += align256(PK_RED_BLOCKS * sizeof(float));
    L.tpart = off; off += align256(PK_RED_BLOCKS * sizeof(float));
    L.total = off;
    return L;
}

extern "C" size_t pk_muon_workspace_bytes_cuda(const int32_t* rows, const int32_t* cols,
                                               int num_tensors, int dtype) {
    return muon_layout(rows, cols, num_tensors, dtype).total;
}

template <typename S>
static int muon_run(float* master, S* params, const S* grad, float* momentum,
                    const int64_t* offsets, const int32_t* rows, const int32_t* cols,
                    int num_tensors, const float* lr, float mu, float max_grad_norm,
                    float weight_decay, float* norm_out, char* ws, const MuonLayout& L,
                    cudaStream_t s) {
    float* U = (float*)(ws + L.U);
    float* Y = (float*)(ws + L.Y);
    float* Sg = (float*)(ws + L.S);
    float* Bm = (float*)(ws + L.Bm);
    float* gpart = (float*)(ws + L.gpart);
    float* tpart = (float*)(ws + L.tpart);

    // Norm over the flat span grad[0, end of the last tensor) (padding between tensors is zero).
    int64_t span = 0;
    for (int i = 0; i < num_tensors; i++) {
        int64_t end = offsets[i] + tensor_numel(rows[i], cols[i]);
        if (end > span) span = end;
    }
    sumsq_kernel<S><<<PK_RED_BLOCKS, PK_RED_THREADS, 0, s>>>(grad, span, gpart);
    PK_LAUNCH_CHECK();

    for (int t = 0; t < num_tensors; t++) {
        int64_t o = offsets[t];
        int64_t n = tensor_numel(rows[t], cols[t]);
        bool matrix = rows[t] > 0;
        unsigned nb = matrix ? PK_RED_BLOCKS : blocks_for(n);  // tpart needs every slot written
        muon_momentum_kernel<S><<<nb, PK_RED_THREADS, 0, s>>>(
            grad + o, momentum + o, matrix ? U : nullptr, n, mu, max_grad_norm, gpart, tpart,
            t == 0 ? norm_out : nullptr, master + o, params ? params + o : nullptr, lr,
            weight_decay);
        PK_LAUNCH_CHECK();
        if (!matrix) continue;

        int R = rows[t], C = cols[t];
        bool wide = R <= C;
        int m = wide ? R : C;
        muon_normalize_kernel<<<blocks_for(n), PK_RED_THREADS, 0, s>>>(U, n, tpart);
        PK_LAUNCH_CHECK();
        float* x = U;
        float* y = Y;
        for (int it = 0; it < 5; it++) {
            float a = NS_COEFS[it][0], b = NS_COEFS[it][1], c = NS_COEFS[it][2];
            if (wide) PK_TRY(pk_rm_gemm(0, 1, m, m, C, 1.0f, x, C, x, C, 0.0f, Sg, m, PK_F32, s));
            else PK_TRY(pk_rm_gemm(1, 0, m, m, R, 1.0f, x, C, x, C, 0.0f, Sg, m, PK_F32, s));
            int64_t mm = (int64_t)m * m;
            ns_scale_kernel<<<blocks_for(mm + n), PK_RED_THREADS, 0, s>>>(Bm, Sg, mm, b, y, x, n,
                                                                         a);
            PK_LAUNCH_CHECK();
            PK_TRY(pk_rm_gemm(0, 0, m, m, m, c, Sg, m, Sg, m, 1.0f, Bm, m, PK_F32, s));
            if (wide) PK_TRY(pk_rm_gemm(0, 0, R, C, R, 1.0f, Bm, m, x, C, 1.0f, y, C, PK_F32, s));
            else PK_TRY(pk_rm_gemm(0, 0, R, C, C, 1.0f, x, C, Bm, m, 1.0f, y, C, PK_F32, s));
            float* tmp = x;
            x = y;
            y = tmp;
        }
        float scale = sqrtf(fmaxf(1.0f, (float)R / (float)C));
        muon_update_kernel<S><<<blocks_for(n), PK_RED_THREADS, 0, s>>>(
            master + o, params ? params + o : nullptr, x, n, scale, lr, weight_decay);
        PK_LAUNCH_CHECK();
    }
    return 0;
}

// muon_small.cu: the whole step in one kernel when the shapes fit (see its header).
int pk_muon_small_blocks(int* blocks, const int32_t* rows, const int32_t* cols, int num_tensors,
                         int dtype, int want);
int pk_muon_small_cuda(int P, float* master, void* params, const void* grad, float* momentum,
                       const int64_t* offsets, const int32_t* rows, const int32_t* cols,
                       int num_tensors, const float* lr, float mu, float max_grad_norm,
                       float weight_decay, float* norm_out, int dtype, cudaStream_t s);

static int muon_path = 0, muon_blocks = 0;  // pk_muon_set_path_cuda (benchmarks, tests)

extern "C" void pk_muon_set_path_cuda(int path, int blocks_per_tensor) {
    muon_path = path;
    muon_blocks = blocks_per_tensor;
}

extern "C" int pk_muon_cuda(float* master, void* params, const void* grad, float* momentum,
                            const int64_t* offsets, const int32_t* rows, const int32_t* cols,
                            int num_tensors, const float* lr, float mu, float max_grad_norm,
                            float weight_decay, float* norm_out, void* workspace, int dtype,
                            void* stream) {
    PK_REQUIRE(num_tensors > 0 && lr != nullptr && workspace != nullptr);
    for (int i = 0; i < num_tensors; i++) PK_REQUIRE(cols[i] > 0 && rows[i] >= 0);
    if (muon_path != 1) {
        int P = 0;
        PK_TRY(pk_muon_small_blocks(&P, rows, cols, num_tensors, dtype,
                                    muon_path == 2 ? muon_blocks : 0));
        if (P > 0)
            return pk_muon_small_cuda(P, master, params, grad, momentum, offsets, rows, cols,
                                      num_tensors, lr, mu, max_grad_norm, weight_decay, norm_out,
                                      dtype, pk_stream(stream));
        if (muon_path == 2)
            return pk_fail(__FILE__, __LINE__,
                           "muon: the fused path cannot run these shapes here (shared memory, "
                           "tensor count or cluster size)", -1);
    }
    MuonLayout L = muon_layout(rows, cols, num_tensors, dtype);
    PK_DISPATCH(dtype, S, {
        return muon_run<S>(master, (S*)params, (const S*)grad, momentum, offsets, rows, cols,
                           num_tensors, lr, mu, max_grad_norm, weight_decay, norm_out,
                           (char*)workspace, L, pk_stream(stream));
    });
    return 0;
}
