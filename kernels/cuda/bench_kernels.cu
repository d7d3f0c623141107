// bench_kernels.cu: micro-benchmark of every CUDA entry point of kernels.h at the shapes the native
// trainer runs, one table per section: kernel | shape | dtype | us | GB/s. `build.sh ENV --profile`
// builds it (and bench_mingru, the checker of the MinGRU scan versions).
//
// Each row: warm-up, then timed batches of calls replayed from a CUDA graph (as the trainer replays
// its rollout and train graphs), median microseconds per call (bench.cuh). --eager launches the
// calls one by one instead (adds the CPU launch cost; the trainer's prologue runs that way); a row
// marked "eager" in graph mode is one whose launcher refused the capture. GB/s counts the bytes a
// call must move at least once (inputs read, outputs written; "-" where there is no such count:
// the segment draws' binary search, the unfused chain, Muon). Muon has a row per path (automatic,
// cuBLAS, fused with 1..16 blocks per tensor: optim.cu, muon_small.cu). Inputs are fresh random
// values (philox), never zeros.
// Every row runs inside an NVTX range named after it:
//   nsys profile -t cuda,nvtx ./bench_kernels       (then look at the NVTX rows of the timeline)
//
// Configs (obs 118, one discrete head of 3 or one continuous action, as breakout):
//   breakout  4096 agents, horizon 64, hidden 64, 2 layers, minibatch 65536 (1024 segments),
//             8 env buffers (rollout batch 512)
//   default   4096 agents, horizon 64, hidden 128, 4 layers, minibatch 8192 (128 segments),
//             2 env buffers (rollout batch 2048)
// Sections per config: rollout (one buffer's policy step: each launch, the unfused chain, the fused
// pk_policy_step_cuda), train (one minibatch: forward, loss, backward, clip, Muon), batch (the
// whole rollout: advantage, priorities, segment draws).
//
// Napkin math: the H100 SXM reads HBM at ~3.0 TB/s (device copy); its L2 is 50 MB, and a buffer
// that fits stays there between repetitions, so small shapes can show more than that. Rollout-size
// kernels move tens of KB: they are latency bound (a few us), not bandwidth bound.
//
// Build: cmake -S kernels -B build-k -G Ninja -DCMAKE_CUDA_ARCHITECTURES=90
//        cmake --build build-k
// Run:   ./build-k/bench_kernels [--eager] [breakout] [default]      (no name: both configs)
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <algorithm>
#include <vector>

#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include "../rng.h"
#include "bench.cuh"

// ---- configs -----------------------------------------------------------------------------------

struct Config {
    const char* name;
    int agents, horizon, hidden, layers, obs, buffers, minibatch;
};
static const Config CONFIGS[] = {
    {"breakout", 4096, 64, 64, 2, 118, 8, 65536},
    {"default", 4096, 64, 128, 4, 118, 2, 8192},
};
// breakout's action space: one discrete head of 3; breakout_continuous: one continuous action.
static const int32_t ACT_SIZES[] = {3};
static const int HEADS = 1;
static const int LD_D = 4;  // logits per row: 3, then the value
static const int ATNS = 1;
static const int LD_C = 2;  // means per row: 1, then the value
#define MAX_TENSORS 16

// The flat parameter vector, laid out as core/trainer.c does: encoder (H, OBS), decoder (LD_D, H),
// layers (3H, H); each tensor starts on a multiple of 16 elements, the padding is zero.
struct Params {
    int n, enc, dec, layer0;
    int32_t rows[MAX_TENSORS], cols[MAX_TENSORS];
    int64_t offsets[MAX_TENSORS], numel;
};

static void add_tensor(Params* p, int rows, int cols) {
    int i = p->n++;
    p->rows[i] = rows;
    p->cols[i] = cols;
    p->offsets[i] = p->numel;
    p->numel += ((int64_t)rows * cols + 15) / 16 * 16;
}

static Params make_params(const Config& c) {
    Params p = {};
    p.enc = p.n;
    add_tensor(&p, c.hidden, c.obs);
    p.dec = p.n;
    add_tensor(&p, LD_D, c.hidden);
    p.layer0 = p.n;
    for (int l = 0; l < c.layers && p.n < MAX_TENSORS; l++) add_tensor(&p, 3 * c.hidden, c.hidden);
    return p;
}

// ---- device buffers of random values -----------------------------------------------------------

enum { TYPE_I32 = 2 };  // besides PK_F32 and PK_BF16
enum { FILL_NORMAL, FILL_MASK, FILL_INDEX };

static cudaStream_t g_stream;
static int g_graph = 1;
static uint32_t g_seed = 1;
static std::vector<void*> g_allocs, g_host_allocs;

static size_t type_size(int type) { return type == PK_BF16 ? 2 : 4; }
static const char* dname(int dtype) { return dtype == PK_BF16 ? "bf16" : "fp32"; }

__device__ __forceinline__ void put(float* p, float v) { *p = v; }
__device__ __forceinline__ void put(__nv_bfloat16* p, float v) { *p = __float2bfloat16_rn(v); }
__device__ __forceinline__ void put(int32_t* p, float v) { *p = (int32_t)v; }

// One philox draw per element: FILL_NORMAL a + b * N(0,1); FILL_MASK 1 with probability a, else 0;
// FILL_INDEX an integer in [0, a).
template <typename T>
__global__ void fill_kernel(T* p, int64_t n, int kind, float a, float b, uint32_t seed) {
    int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n) return;
    uint32_t r[4];
    pk_philox_draw(seed, (uint32_t)i, (uint32_t)(i >> 32), 0, r);
    float v;
    if (kind == FILL_NORMAL) v = a + b * pk_normal(r[0], r[1]);
    else if (kind == FILL_MASK) v = pk_uniform(r[0]) <= a ? 1.0f : 0.0f;
    else v = fminf(floorf((1.0f - pk_uniform(r[0])) * a), a - 1.0f);
    put(p, v);
}

static void fill(void* p, int64_t n, int type, int kind, float a, float b) {
    if (n <= 0) return;
    unsigned blocks = (unsigned)((n + 255) / 256);
    uint32_t seed = g_seed++;
    if (type == PK_BF16)
        fill_kernel<<<blocks, 256, 0, g_stream>>>((__nv_bfloat16*)p, n, kind, a, b, seed);
    else if (type == TYPE_I32)
        fill_kernel<<<blocks, 256, 0, g_stream>>>((int32_t*)p, n, kind, a, b, seed);
    else
        fill_kernel<<<blocks, 256, 0, g_stream>>>((float*)p, n, kind, a, b, seed);
    CHECK(cudaGetLastError());
}

static void* dev(size_t bytes) {
    void* p = nullptr;
    CHECK(cudaMalloc(&p, bytes > 0 ? bytes : 1));
    g_allocs.push_back(p);
    return p;
}

static void* randn(int64_t n, int type, float mean = 0.0f, float std = 1.0f) {
    void* p = dev((size_t)n * type_size(type));
    fill(p, n, type, FILL_NORMAL, mean, std);
    return p;
}
static float* randf(int64_t n, float mean = 0.0f, float std = 1.0f) {
    return (float*)randn(n, PK_F32, mean, std);
}
static float* mask(int64_t n, float prob) {
    float* p = (float*)dev((size_t)n * 4);
    fill(p, n, PK_F32, FILL_MASK, prob, 0.0f);
    return p;
}
static int32_t* indices(int64_t n, int range) {
    int32_t* p = (int32_t*)dev((size_t)n * 4);
    fill(p, n, TYPE_I32, FILL_INDEX, (float)range, 0.0f);
    return p;
}
static uint64_t* counter(void) {
    uint64_t* p = (uint64_t*)dev(sizeof(uint64_t));
    CHECK(cudaMemsetAsync(p, 0, sizeof(uint64_t), g_stream));
    return p;
}
// A copy of src (bytes) in pinned host memory mapped into the device (zero-copy); returns the
// device address of it.
static void* mapped_copy(const void* src, size_t bytes) {
    void* h = nullptr;
    void* d = nullptr;
    CHECK(cudaHostAlloc(&h, bytes, cudaHostAllocMapped));
    g_host_allocs.push_back(h);
    CHECK(cudaStreamSynchronize(g_stream));
    CHECK(cudaMemcpy(h, src, bytes, cudaMemcpyDeviceToHost));
    CHECK(cudaHostGetDevicePointer(&d, h, 0));
    return d;
}
static void free_all(void) {
    CHECK(cudaStreamSynchronize(g_stream));
    for (void* p : g_allocs) CHECK(cudaFree(p));
    for (void* p : g_host_allocs) CHECK(cudaFreeHost(p));
    g_allocs.clear();
    g_host_allocs.clear();
}

// ---- rows --------------------------------------------------------------------------------------

struct Row {
    int order;  // position in its pass: the bf16 and fp32 passes print interleaved
    char kernel[48], shape[40], dtype[12];
    double us, bytes;
    int graphed;
};
static std::vector<Row> g_rows;
static int g_order;

static const char* shape(const char* fmt, ...) {
    static char buf[40];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    return buf;
}

// Times fn (returns 0 or a kernels.h error code) and records a row; bytes <= 0: no GB/s.
template <typename F>
static void bench(const char* kernel, const char* shp, const char* dtype, double bytes, F fn) {
    Row r = {};
    r.order = g_order++;
    snprintf(r.kernel, sizeof(r.kernel), "%s", kernel);
    snprintf(r.shape, sizeof(r.shape), "%s", shp);
    snprintf(r.dtype, sizeof(r.dtype), "%s", dtype);
    char label[128];
    snprintf(label, sizeof(label), "%s %s %s", r.kernel, r.shape, r.dtype);
    r.us = bench_time_us(label, fn, g_stream, g_graph, &r.graphed);
    r.bytes = bytes;
    g_rows.push_back(r);
}

static void print_section(const char* fmt, ...) {
    char title[160];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(title, sizeof(title), fmt, ap);
    va_end(ap);
    std::stable_sort(g_rows.begin(), g_rows.end(),
                     [](const Row& a, const Row& b) { return a.order < b.order; });
    printf("\n%s\n", title);
    printf("%-36s %-28s %-10s %10s %9s\n", "kernel", "shape", "dtype", "us", "GB/s");
    for (const Row& r : g_rows) {
        char gbs[16] = "-";
        if (r.bytes > 0) snprintf(gbs, sizeof(gbs), "%.1f", r.bytes / (r.us * 1e3));
        printf("%-36s %-28s %-10s %10.2f %9s%s\n", r.kernel, r.shape, r.dtype, r.us, gbs,
               g_graph && !r.graphed ? "  eager" : "");
    }
    fflush(stdout);
    g_rows.clear();
}

// Bytes of y(M,N) = x(M,K) W(N,K)^T: x, W read, y written.
static double linear_bytes(int64_t M, int64_t K, int64_t N, size_t es) {
    return (double)(M * K + N * K + M * N) * es;
}
// y(M,N) = x(M,K) W(N,K)^T, one row.
static void bench_linear(const char* kernel, void* y, const void* x, const void* w, int M, int K,
                         int N, int dtype) {
    bench(kernel, shape("M=%d K=%d N=%d", M, K, N), dname(dtype),
          linear_bytes(M, K, N, type_size(dtype)),
          [=] { return pk_linear_forward_cuda(y, x, w, M, K, N, dtype, g_stream); });
}
// Bytes of the backward: dx = dy W (dy, W read, dx written, and read when dx_beta != 0) and
// dw = dy^T x (dy, x read, dw written).
static double linear_backward_bytes(int has_dx, int64_t M, int64_t K, int64_t N, float dx_beta,
                                    size_t es) {
    double b = (double)(M * N + M * K + N * K) * es;
    if (has_dx) b += (double)(M * N + N * K + M * K * (dx_beta != 0.0f ? 2 : 1)) * es;
    return b;
}

// ---- sections ----------------------------------------------------------------------------------

// One env buffer's policy step (core/trainer_cuda.cu rollout_step): each launch of the unfused
// chain, the chain, and the fused kernel.
static void rollout_section(const Config& c, const Params& p, int dtype) {
    int n = c.agents / c.buffers, H = c.hidden, O = c.obs;
    size_t es = type_size(dtype);
    const char* dn = dname(dtype);
    cudaStream_t s = g_stream;
    char* w = (char*)randn(p.numel, dtype, 0.0f, 0.1f);
    void* w_enc = w + p.offsets[p.enc] * es;
    void* w_dec = w + p.offsets[p.dec] * es;
    void* w_layer = w + p.offsets[p.layer0] * es;
    void* obs = randn((int64_t)n * O, dtype);
    void* x = randn((int64_t)n * H, dtype);
    void* y = randn((int64_t)n * H, dtype);
    void* kzp = randn((int64_t)n * 3 * H, dtype, 0.0f, 1.5f);
    void* logits = randn((int64_t)n * LD_D, dtype);
    void* mean = randn((int64_t)n * LD_C, dtype);
    void* logstd = randn(ATNS, dtype, -0.5f, 0.1f);
    float* state = randf((int64_t)n * H);
    float* reset = mask(n, 0.02f);
    int32_t* act = indices((int64_t)n * HEADS, ACT_SIZES[0]);
    float* cact = randf((int64_t)n * ATNS);
    float* logprob = randf(n);
    float* value = randf(n);
    uint64_t* ctr = counter();

    bench_linear("linear_forward (encoder)", x, obs, w_enc, n, O, H, dtype);
    bench_linear("linear_forward (layer)", kzp, x, w_layer, n, H, 3 * H, dtype);
    // kzp, x read; y written; state read and written; reset read.
    bench("mingru_step", shape("B=%d H=%d", n, H), dn, (double)n * H * (5 * es + 8) + n * 4.0,
          [&] { return pk_mingru_step_cuda(y, state, kzp, x, reset, n, H, dtype, s); });
    bench_linear("linear_forward (decoder)", logits, y, w_dec, n, H, LD_D, dtype);
    bench("sample_discrete", shape("B=%d heads=1x%d", n, ACT_SIZES[0]), dn,
          (double)n * (LD_D * es + HEADS * 4 + 8), [&] {
              return pk_sample_discrete_cuda(act, logprob, value, logits, LD_D, ACT_SIZES, HEADS, n,
                                             42, ctr, 0, dtype, s);
          });
    bench("sample_continuous", shape("B=%d atns=%d", n, ATNS), dn,
          (double)n * (LD_C * es + ATNS * 4 + 8), [&] {
              return pk_sample_continuous_cuda(cact, logprob, value, mean, LD_C, logstd, ATNS, n,
                                               42, ctr, 0, dtype, s);
          });

    // The whole policy step: the chain of the launches above, then the fused kernel
    // (policy_step.cu), which also does the trainer's env ingest and rollout store.
    int L = c.layers, T = c.horizon;
    float* states = randf((int64_t)L * n * H);
    auto layer_w = [&](int l) { return (const void*)(w + p.offsets[p.layer0 + l] * es); };
    bench("policy step chain (unfused)", shape("B=%d L=%d", n, L), dn, 0.0, [&] {
        void* a = x;
        void* b = y;
        int r = pk_linear_forward_cuda(a, obs, w_enc, n, O, H, dtype, s);
        for (int l = 0; l < L && r == 0; l++) {
            r = pk_linear_forward_cuda(kzp, a, layer_w(l), n, H, 3 * H, dtype, s);
            if (r == 0)
                r = pk_mingru_step_cuda(b, states + (int64_t)l * n * H, kzp, a, reset, n, H, dtype,
                                        s);
            std::swap(a, b);
        }
        if (r == 0) r = pk_linear_forward_cuda(logits, a, w_dec, n, H, LD_D, dtype, s);
        if (r == 0)
            r = pk_sample_discrete_cuda(act, logprob, value, logits, LD_D, ACT_SIZES, HEADS, n,
                                        42, ctr, 0, dtype, s);
        return r;
    });
    float* env_obs = randf((int64_t)n * O);
    float* env_rew = randf(n);
    float* env_term = mask(n, 0.02f);
    float* env_trunc = mask(n, 0.001f);
    float* env_act = randf((int64_t)n * ATNS);
    PkPolicyStep f = {};
    f.n = n;
    f.OBS = O;
    f.H = H;
    f.L = L;
    f.ld = LD_D;
    f.NH = HEADS;
    f.act_sizes[0] = ACT_SIZES[0];
    f.env_obs = env_obs;
    f.env_rewards = env_rew;
    f.env_terminals = env_term;
    f.env_truncations = env_trunc;
    f.env_actions = env_act;
    f.enc = w_enc;
    for (int l = 0; l < L; l++) f.layers[l] = layer_w(l);
    f.dec = w_dec;
    f.state = states;
    f.state_stride = (int64_t)n * H;
    f.obs = randn((int64_t)n * T * O, dtype);
    f.rewards = randf((int64_t)n * T);
    f.dones = randf((int64_t)n * T);
    f.logprob = randf((int64_t)n * T);
    f.values = randf((int64_t)n * T);
    f.actions = randf((int64_t)n * T * ATNS);
    f.t = T / 2;
    f.T = T;
    f.seed = 42;
    f.counter = ctr;
    // env obs read and stored; rewards, terminals, truncations read; rewards, dones, logprob,
    // values stored; the actions stored twice; every layer's state read and written.
    double fused_bytes =
        (double)n * O * (4 + es) + n * 28.0 + n * HEADS * 8.0 + (double)L * n * H * 8;
    if (!pk_policy_step_fits_cuda(&f, dtype)) {
        printf("note: policy_step does not fit one block at hidden %d, %s: not timed\n", H, dn);
    } else {
        bench("policy_step (fused)", shape("B=%d L=%d", n, L), dn, fused_bytes,
              [&] { return pk_policy_step_cuda(&f, dtype, s); });
        PkPolicyStep z = f;  // env buffers in mapped pinned host memory, as the trainer has them
        z.env_obs = mapped_copy(env_obs, (size_t)n * O * 4);
        z.env_rewards = (const float*)mapped_copy(env_rew, (size_t)n * 4);
        z.env_terminals = (const float*)mapped_copy(env_term, (size_t)n * 4);
        z.env_truncations = (const float*)mapped_copy(env_trunc, (size_t)n * 4);
        z.env_actions = (float*)mapped_copy(env_act, (size_t)n * ATNS * 4);
        bench("policy_step (fused, zero-copy env)", shape("B=%d L=%d", n, L), dn, fused_bytes,
              [&] { return pk_policy_step_cuda(&z, dtype, s); });
        PkPolicyStep k = f;  // breakout_continuous
        k.ld = LD_C;
        k.NH = ATNS;
        k.continuous = 1;
        k.logstd = logstd;
        bench("policy_step (fused, continuous)", shape("B=%d L=%d", n, L), dn, fused_bytes,
              [&] { return pk_policy_step_cuda(&k, dtype, s); });
        for (int ta = 1; ta <= 32; ta *= 2) {   // agents per block (the launcher picks one)
            pk_policy_step_set_agents_cuda(ta);
            char name[48];
            snprintf(name, sizeof(name), "policy_step (fused, %d agents/block)", ta);
            bench(name, shape("B=%d L=%d", n, L), dn, fused_bytes,
                  [&] { return pk_policy_step_cuda(&f, dtype, s); });
        }
        pk_policy_step_set_agents_cuda(0);
    }
    free_all();
}

// One training minibatch, as the train graph runs it (core/trainer_cuda.cu train_body), with the
// continuous loss beside the discrete one, the global-norm kernels and a Newton-Schulz GEMM.
static void train_section(const Config& c, const Params& p, int dtype) {
    int T = c.horizon, S = c.minibatch / T, M = S * T, H = c.hidden, O = c.obs;
    size_t es = type_size(dtype);
    const char* dn = dname(dtype);
    cudaStream_t s = g_stream;
    const int64_t MH = (int64_t)M * H;

    char* w = (char*)randn(p.numel, dtype, 0.0f, 0.1f);
    char* g = (char*)dev((size_t)p.numel * es);  // gradients: zero padding between tensors
    CHECK(cudaMemsetAsync(g, 0, (size_t)p.numel * es, s));
    for (int i = 0; i < p.n; i++)
        fill(g + p.offsets[i] * es, (int64_t)p.rows[i] * p.cols[i], dtype, FILL_NORMAL, 0.0f,
             0.01f);
    void* w_enc = w + p.offsets[p.enc] * es;
    void* w_dec = w + p.offsets[p.dec] * es;
    void* w_layer = w + p.offsets[p.layer0] * es;
    void* g_enc = g + p.offsets[p.enc] * es;
    void* g_dec = g + p.offsets[p.dec] * es;
    void* g_layer = g + p.offsets[p.layer0] * es;
    // fp32 build: the master weights are the parameters; bf16: a separate fp32 copy.
    float* master = dtype == PK_F32 ? (float*)w : randf(p.numel, 0.0f, 0.1f);
    void* params = dtype == PK_F32 ? nullptr : w;
    float* momentum = randf(p.numel, 0.0f, 0.01f);
    float* lr = randf(1, 1e-3f, 0.0f);
    float* norm = randf(1);
    void* muon_ws = dev(pk_muon_workspace_bytes_cuda(p.rows, p.cols, p.n, dtype));
    void* norm_ws = dev(pk_norm_workspace_bytes_cuda());
    void* ppo_ws = dev(pk_ppo_workspace_bytes_cuda(HEADS > ATNS ? HEADS : ATNS));

    void* obs = randn((int64_t)M * O, dtype);
    void* x0 = randn(MH, dtype);
    void* x1 = randn(MH, dtype);
    void* kzp = randn(3 * MH, dtype, 0.0f, 1.5f);
    float* hs = randf(MH);
    float* reset = mask(M, 0.02f);
    void* logits = randn((int64_t)M * LD_D, dtype);
    void* dlogits = randn((int64_t)M * LD_D, dtype);
    void* mean = randn((int64_t)M * LD_C, dtype);
    void* dmean = randn((int64_t)M * LD_C, dtype);
    void* logstd = randn(ATNS, dtype, -0.5f, 0.1f);
    void* dlogstd = randn(ATNS, dtype);
    int32_t* act = indices((int64_t)M * HEADS, ACT_SIZES[0]);
    float* cact = randf((int64_t)M * ATNS);
    float* old_logprob = randf(M, -1.1f, 0.3f);
    float* adv = randf(M);
    float* old_values = randf(M);
    float* seg_w = randf(S, 1.0f, 0.1f);
    float* new_ratio = randf(M);
    float* new_value = randf(M);
    float* logs = randf(PK_LOG_SIZE);
    void* dy = randn(MH, dtype);
    void* dx = randn(MH, dtype);
    void* dkzp = randn(3 * MH, dtype);
    void* gram = randn((int64_t)H * H, dtype);

    bench_linear("linear_forward (encoder)", x0, obs, w_enc, M, O, H, dtype);
    bench_linear("linear_forward (layer)", kzp, x0, w_layer, M, H, 3 * H, dtype);
    // kzp, x read; y, hs written; reset read (mingru.cu's napkin math).
    bench("mingru_scan_forward", shape("B=%d T=%d H=%d", S, T, H), dn,
          (double)MH * (5 * es + 4) + M * 4.0, [&] {
              return pk_mingru_scan_forward_cuda(x1, hs, kzp, x0, nullptr, reset, S, T, H, dtype,
                                                 s);
          });
    bench_linear("linear_forward (decoder)", logits, x1, w_dec, M, H, LD_D, dtype);
    // logits, actions, old log-probs, advantages, old values, segment weights read; gradients,
    // ratios, values written.
    bench("ppo_loss_discrete", shape("N=%d T=%d ld=%d", S, T, LD_D), dn,
          (double)M * (2 * LD_D * es + HEADS * 4 + 20) + S * 4.0, [&] {
              return pk_ppo_loss_discrete_cuda(dlogits, new_ratio, new_value, logs, logits, LD_D,
                                               act, ACT_SIZES, HEADS, old_logprob, adv, old_values,
                                               seg_w, S, T, 0.2f, 0.2f, 2.0f, 0.001f, ppo_ws,
                                               dtype, s);
          });
    bench("ppo_loss_continuous", shape("N=%d T=%d ld=%d", S, T, LD_C), dn,
          (double)M * (2 * LD_C * es + ATNS * 4 + 20) + S * 4.0, [&] {
              return pk_ppo_loss_continuous_cuda(dmean, dlogstd, new_ratio, new_value, logs, mean,
                                                 LD_C, logstd, cact, ATNS, old_logprob, adv,
                                                 old_values, seg_w, S, T, 0.2f, 0.2f, 2.0f, 0.001f,
                                                 ppo_ws, dtype, s);
          });
    bench("linear_backward (decoder)", shape("M=%d K=%d N=%d", M, H, LD_D), dn,
          linear_backward_bytes(1, M, H, LD_D, 0.0f, es), [&] {
              return pk_linear_backward_cuda(dy, g_dec, dlogits, x1, w_dec, M, H, LD_D, 0.0f, 0.0f,
                                             dtype, s);
          });
    // dy, kzp, x read; hs read; dkzp, dx written; reset read.
    bench("mingru_scan_backward", shape("B=%d T=%d H=%d", S, T, H), dn,
          (double)MH * (9 * es + 4) + M * 4.0, [&] {
              return pk_mingru_scan_backward_cuda(dkzp, dx, dy, nullptr, kzp, x0, hs, nullptr,
                                                  reset, S, T, H, dtype, s);
          });
    for (int chunks = 1; chunks <= 16; chunks *= 2) {   // the scan's T split (mingru.cu, v1 / v2)
        char fwd[48], bwd[48];
        snprintf(fwd, sizeof(fwd), "mingru_scan_forward (%d chunks)", chunks);
        snprintf(bwd, sizeof(bwd), "mingru_scan_backward (%d chunks)", chunks);
        pk_mingru_set_chunks_cuda(chunks);
        bench(fwd, shape("B=%d T=%d H=%d", S, T, H), dn, (double)MH * (5 * es + 4) + M * 4.0, [&] {
            return pk_mingru_scan_forward_cuda(x1, hs, kzp, x0, nullptr, reset, S, T, H, dtype, s);
        });
        bench(bwd, shape("B=%d T=%d H=%d", S, T, H), dn, (double)MH * (9 * es + 4) + M * 4.0, [&] {
            return pk_mingru_scan_backward_cuda(dkzp, dx, dy, nullptr, kzp, x0, hs, nullptr, reset,
                                                S, T, H, dtype, s);
        });
    }
    pk_mingru_set_chunks_cuda(0);
    bench("linear_backward (layer)", shape("M=%d K=%d N=%d", M, H, 3 * H), dn,
          linear_backward_bytes(1, M, H, 3 * H, 1.0f, es), [&] {
              return pk_linear_backward_cuda(dx, g_layer, dkzp, x0, w_layer, M, H, 3 * H, 1.0f,
                                             0.0f, dtype, s);
          });
    bench("linear_backward (encoder, dw)", shape("M=%d K=%d N=%d", M, O, H), dn,
          linear_backward_bytes(0, M, O, H, 0.0f, es), [&] {
              return pk_linear_backward_cuda(nullptr, g_enc, dy, obs, w_enc, M, O, H, 0.0f, 0.0f,
                                             dtype, s);
          });
    bench("grad_norm", shape("n=%lld", (long long)p.numel), dn, (double)p.numel * es,
          [&] { return pk_grad_norm_cuda(norm, g, p.numel, norm_ws, dtype, s); });
    // One pass for the norm, one that reads and writes.
    bench("clip_grad_norm", shape("n=%lld", (long long)p.numel), dn, 3.0 * p.numel * es,
          [&] { return pk_clip_grad_norm_cuda(g, p.numel, 1.5f, norm, norm_ws, dtype, s); });
    // Muon's Gram matrix X^T X of a layer (3H, H) (Muon itself runs it in fp32).
    bench("gemm (X^T X, Newton-Schulz)", shape("M=%d N=%d K=%d", H, H, 3 * H), dn,
          (double)(2 * 3 * H * H + H * H) * es, [&] {
              return pk_gemm_cuda(1, 0, H, H, 3 * H, 1.0f, w_layer, w_layer, 0.0f, gram, dtype, s);
          });
    // Muon: the automatic pick, then each path forced (pk_muon_set_path_cuda): cuBLAS, and the
    // fused one-launch kernel with 1 block per tensor or a cluster of 2..16 (rows whose shapes
    // that variant cannot run on this GPU are left out with a note).
    const struct {
        const char* name;
        int path, blocks;
    } muon_rows[] = {{"muon", 0, 0},
                     {"muon (cuBLAS)", 1, 0},
                     {"muon (fused, 1 block/tensor)", 2, 1},
                     {"muon (fused, 2 blocks/tensor)", 2, 2},
                     {"muon (fused, 4 blocks/tensor)", 2, 4},
                     {"muon (fused, 8 blocks/tensor)", 2, 8},
                     {"muon (fused, 16 blocks/tensor)", 2, 16}};
    for (const auto& row : muon_rows) {
        pk_muon_set_path_cuda(row.path, row.blocks);
        auto muon = [&] {
            return pk_muon_cuda(master, params, g, momentum, p.offsets, p.rows, p.cols, p.n, lr,
                                0.95f, 1.5f, 0.0f, norm, muon_ws, dtype, s);
        };
        if (muon() != 0) {
            fprintf(stderr, "note: %s: not run (%s)\n", row.name, pk_cuda_last_error());
            continue;
        }
        bench(row.name, shape("%d tensors, %lld params", p.n, (long long)p.numel), dn, 0.0,
              muon);
    }
    pk_muon_set_path_cuda(0, 0);
    if (dtype == PK_BF16)  // the bf16 build re-casts the master weights after a restore
        bench("cast (master -> weights)", shape("n=%lld", (long long)p.numel), "fp32>bf16",
              (double)p.numel * 6,
              [&] { return pk_cast_cuda(w, PK_BF16, master, PK_F32, p.numel, s); });
    free_all();
}

// The whole rollout (agents x horizon): advantage, priorities and segment draws run before every
// minibatch (train_prologue, eager in the trainer); casts at the size of the observations as a
// bandwidth reference.
static void batch_section(const Config& c) {
    int A = c.agents, T = c.horizon, S = c.minibatch / T;
    int64_t N = (int64_t)A * T, n_obs = N * c.obs;
    cudaStream_t s = g_stream;
    float* values = randf(N);
    float* rewards = randf(N, 0.0f, 0.5f);
    float* dones = mask(N, 0.02f);
    float* ratios = randf(N, 1.0f, 0.1f);
    float* adv = randf(N);
    float* probs = randf(A);
    double* cdf = (double*)dev((size_t)A * sizeof(double));
    int32_t* idx = indices(S, A);
    float* seg_w = randf(S);
    uint64_t* ctr = counter();
    float* src = randf(n_obs);
    void* half = randn(n_obs, PK_BF16);

    // values, rewards, dones, ratios read; advantages written.
    bench("advantage", shape("N=%d T=%d", A, T), "fp32", 20.0 * N, [&] {
        return pk_advantage_cuda(adv, values, rewards, dones, ratios, A, T, 0.99f, 0.95f, 1.0f,
                                 1.0f, 1.0f, s);
    });
    // advantages read; probs (fp32) and cdf (fp64) written.
    bench("prio_weights", shape("N=%d T=%d", A, T), "fp32", 4.0 * N + 12.0 * A,
          [&] { return pk_prio_weights_cuda(probs, cdf, adv, A, T, 0.8f, s); });
    bench("prio_sample", shape("N=%d S=%d", A, S), "fp32", 0.0, [&] {
        return pk_prio_sample_cuda(idx, seg_w, probs, cdf, A, S, 0.2f, 7, ctr, s);
    });
    bench("cast (bandwidth reference)", shape("n=%lld", (long long)n_obs), "fp32>bf16",
          6.0 * n_obs, [&] { return pk_cast_cuda(half, PK_BF16, src, PK_F32, n_obs, s); });
    bench("cast (bandwidth reference)", shape("n=%lld", (long long)n_obs), "bf16>fp32",
          6.0 * n_obs, [&] { return pk_cast_cuda(src, PK_F32, half, PK_BF16, n_obs, s); });
    free_all();
}

static void run_config(const Config& c) {
    Params p = make_params(c);
    const int dtypes[] = {PK_BF16, PK_F32};
    int n = c.agents / c.buffers, S = c.minibatch / c.horizon;
    for (int dtype : dtypes) {
        g_order = 0;
        rollout_section(c, p, dtype);
    }
    print_section("== %s rollout: one env buffer's policy step, batch %d (%d agents / %d buffers), "
                  "hidden %d, %d layers", c.name, n, c.agents, c.buffers, c.hidden, c.layers);
    for (int dtype : dtypes) {
        g_order = 0;
        train_section(c, p, dtype);
    }
    print_section("== %s train: one minibatch of %d rows (%d segments x %d), hidden %d, "
                  "%d layers, %lld params", c.name, S * c.horizon, S, c.horizon, c.hidden,
                  c.layers, (long long)p.numel);
    g_order = 0;
    batch_section(c);
    print_section("== %s batch: the whole rollout, %d agents x %d steps", c.name, c.agents,
                  c.horizon);
}

int main(int argc, char** argv) {
    std::vector<const Config*> configs;
    for (int i = 1; i < argc; i++) {
        const Config* found = nullptr;
        for (const Config& c : CONFIGS)
            if (strcmp(argv[i], c.name) == 0) found = &c;
        if (strcmp(argv[i], "--eager") == 0) {
            g_graph = 0;
        } else if (found != nullptr) {
            configs.push_back(found);
        } else {
            fprintf(stderr, "usage: %s [--eager] [breakout] [default]\n", argv[0]);
            return 2;
        }
    }
    if (configs.empty())
        for (const Config& c : CONFIGS) configs.push_back(&c);

    int count = 0;
    PK(pk_cuda_device_count(&count));
    if (count == 0) {
        printf("no GPU\n");
        return 0;
    }
    CHECK(cudaSetDevice(0));
    cudaDeviceProp prop;
    CHECK(cudaGetDeviceProperties(&prop, 0));
    printf("%s, %d SMs, L2 %d MB; %s; median us per call\n", prop.name, prop.multiProcessorCount,
           prop.l2CacheSize >> 20,
           g_graph ? "calls replayed from CUDA graphs" : "calls launched eagerly");
    CHECK(cudaStreamCreateWithFlags(&g_stream, cudaStreamNonBlocking));
    PK(pk_cuda_thread_init());  // the cuBLAS handle and workspace, before any capture
    for (const Config* c : configs) run_config(*c);
    PK(pk_cuda_thread_release());
    CHECK(cudaStreamDestroy(g_stream));
    return 0;
}
