// ops_cuda.cu: see ops_cuda.h. Memory-bound copies; one thread per element, grid-stride loops.
// Napkin math (breakout, 4096 agents, 512 per buffer, obs 118): one ingest moves 512 x 118 x
// (4 + 2 + 2) bytes = 0.5 MB, ~0.2 us of H100 bandwidth: these are launch-bound, which is why
// ingest and store run inside the per-step rollout graphs.
#include <cuda_bf16.h>
#include <cuda_runtime.h>
#include <math.h>

#include "kernels.h"
#include "ops_cuda.h"

typedef __nv_bfloat16 bf16;

#define THREADS 256
#define MAX_BLOCKS 4096

static unsigned blocks_for(int64_t n) {
    int64_t b = (n + THREADS - 1) / THREADS;
    if (b < 1) b = 1;
    return (unsigned)(b < MAX_BLOCKS ? b : MAX_BLOCKS);
}

#define GRID_STRIDE(i, n)                                                     \
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < (n); \
         i += (int64_t)gridDim.x * blockDim.x)

__device__ __forceinline__ void store_prec(float* p, float v) { *p = v; }
__device__ __forceinline__ void store_prec(bf16* p, float v) { *p = __float2bfloat16_rn(v); }

static int launched(void) { return (int)cudaGetLastError(); }

// ---- ingest ------------------------------------------------------------------------------------

template <typename P, typename O>
__global__ void ingest_kernel(P* x, P* obs, float* reset, float* rewards, float* dones,
                              const O* env_obs, const float* env_rewards,
                              const float* env_terminals, const float* env_truncations, int a0,
                              int n, int t, int T, int OBS) {
    int64_t total = (int64_t)n * OBS;
    GRID_STRIDE(i, total) {
        int64_t r = i / OBS, k = i - r * OBS;
        int64_t row = a0 + r;
        float v = (float)env_obs[row * OBS + k];
        store_prec(x + i, v);
        store_prec(obs + (row * T + t) * OBS + k, v);
    }
    GRID_STRIDE(i, (int64_t)n) {
        int64_t row = a0 + i;
        float done = fmaxf(env_terminals[row], env_truncations[row]);
        reset[i] = done;
        dones[row * T + t] = done;
        rewards[row * T + t] = env_rewards[row];
    }
}

extern "C" int pc_ingest_cuda(void* x, void* obs, float* reset, float* rewards, float* dones,
                              const void* env_obs, int obs_u8, const float* env_rewards,
                              const float* env_terminals, const float* env_truncations, int a0,
                              int n, int t, int T, int OBS, int prec, void* stream) {
    if (n <= 0) return 0;
    cudaStream_t s = (cudaStream_t)stream;
    unsigned grid = blocks_for((int64_t)n * OBS);
#define PC_INGEST(P, O)                                                                     \
    ingest_kernel<P, O><<<grid, THREADS, 0, s>>>((P*)x, (P*)obs, reset, rewards, dones,    \
                                                 (const O*)env_obs, env_rewards,           \
                                                 env_terminals, env_truncations, a0, n, t, \
                                                 T, OBS)
    if (prec == PK_BF16) {
        if (obs_u8) PC_INGEST(bf16, uint8_t);
        else PC_INGEST(bf16, float);
    } else {
        if (obs_u8) PC_INGEST(float, uint8_t);
        else PC_INGEST(float, float);
    }
#undef PC_INGEST
    return launched();
}

// ---- store -------------------------------------------------------------------------------------

template <typename A>
__global__ void store_kernel(A* actions, float* logprob, float* values, float* env_actions,
                             const A* act, const float* act_logprob, const float* act_value,
                             int a0, int n, int t, int T, int NH) {
    GRID_STRIDE(i, (int64_t)n * NH) {
        int64_t r = i / NH, h = i - r * NH;
        int64_t row = a0 + r;
        A a = act[i];
        actions[(row * T + t) * NH + h] = a;
        env_actions[row * NH + h] = (float)a;
    }
    GRID_STRIDE(i, (int64_t)n) {
        int64_t slot = (int64_t)(a0 + i) * T + t;
        logprob[slot] = act_logprob[i];
        values[slot] = act_value[i];
    }
}

extern "C" int pc_store_cuda(void* actions, float* logprob, float* values, float* env_actions,
                             const void* act, const float* act_logprob, const float* act_value,
                             int continuous, int a0, int n, int t, int T, int NH, void* stream) {
    if (n <= 0) return 0;
    cudaStream_t s = (cudaStream_t)stream;
    unsigned grid = blocks_for((int64_t)n * NH);
    if (continuous)
        store_kernel<float><<<grid, THREADS, 0, s>>>((float*)actions, logprob, values, env_actions,
                                                     (const float*)act, act_logprob, act_value,
                                                     a0, n, t, T, NH);
    else
        store_kernel<int32_t><<<grid, THREADS, 0, s>>>((int32_t*)actions, logprob, values,
                                                       env_actions, (const int32_t*)act,
                                                       act_logprob, act_value, a0, n, t, T, NH);
    return launched();
}

// ---- gather / scatter --------------------------------------------------------------------------

// dst[s, e] = src[idx[s], e] for rows of `row` elements; blockIdx.y = s.
template <typename E>
__global__ void gather_rows_kernel(E* dst, const E* src, const int32_t* idx, int64_t row,
                                   int64_t src_stride, int64_t dst_stride) {
    int s = blockIdx.y;
    const E* from = src + (int64_t)idx[s] * src_stride;
    E* to = dst + (int64_t)s * dst_stride;
    for (int64_t e = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; e < row;
         e += (int64_t)gridDim.x * blockDim.x)
        to[e] = from[e];
}

template <typename E>
static int gather(E* dst, const E* src, const int32_t* idx, int S, int64_t row, int64_t src_stride,
                  int64_t dst_stride, cudaStream_t s) {
    if (S > 65535) return (int)cudaErrorInvalidConfiguration;  // grid y limit: segments
    unsigned bx = blocks_for(row);
    if (bx > 64) bx = 64;
    gather_rows_kernel<E><<<dim3(bx, S), THREADS, 0, s>>>(dst, src, idx, row, src_stride, dst_stride);
    return launched();
}

// h0[l, s, :] = state0[l, idx[s], :]
__global__ void gather_state_kernel(float* h0, const float* state0, const int32_t* idx, int S,
                                    int A, int H, int64_t total) {
    GRID_STRIDE(i, total) {
        int64_t ls = i / H, e = i - ls * H;
        int64_t l = ls / S, s = ls - l * S;
        h0[i] = state0[(l * A + idx[s]) * H + e];
    }
}

extern "C" int pc_gather_cuda(void* mb_obs, void* mb_act, float* mb_logprob, float* mb_values,
                              float* mb_adv, float* mb_reset, float* mb_h0, const int32_t* idx,
                              const void* obs, const void* actions, const float* logprob,
                              const float* values, const float* adv, const float* dones,
                              const float* state0, int S, int A, int T, int OBS, int NH, int L,
                              int H, int prec, void* stream) {
    cudaStream_t s = (cudaStream_t)stream;
    int64_t obs_row = (int64_t)T * OBS, act_row = (int64_t)T * NH;
    int rc;
    if (prec == PK_BF16)
        rc = gather((uint16_t*)mb_obs, (const uint16_t*)obs, idx, S, obs_row, obs_row, obs_row, s);
    else
        rc = gather((uint32_t*)mb_obs, (const uint32_t*)obs, idx, S, obs_row, obs_row, obs_row, s);
    if (rc) return rc;
    if ((rc = gather((uint32_t*)mb_act, (const uint32_t*)actions, idx, S, act_row, act_row, act_row, s)))
        return rc;
    const float* srcs[4] = {logprob, values, adv, dones};
    float* dsts[4] = {mb_logprob, mb_values, mb_adv, mb_reset};
    for (int k = 0; k < 4; k++)
        if ((rc = gather(dsts[k], srcs[k], idx, S, (int64_t)T, (int64_t)T, (int64_t)T, s))) return rc;
    if (mb_h0 != NULL && L > 0) {
        int64_t total = (int64_t)L * S * H;
        gather_state_kernel<<<blocks_for(total), THREADS, 0, s>>>(mb_h0, state0, idx, S, A, H,
                                                                  total);
        if ((rc = launched())) return rc;
    }
    return 0;
}

__global__ void scatter_kernel(float* ratio, float* values, const float* new_ratio,
                               const float* new_value, const int32_t* idx, int S, int T) {
    GRID_STRIDE(i, (int64_t)S * T) {
        int64_t s = i / T, t = i - s * T;
        int64_t dst = (int64_t)idx[s] * T + t;
        ratio[dst] = new_ratio[i];
        values[dst] = new_value[i];
    }
}

extern "C" int pc_scatter_cuda(float* ratio, float* values, const float* new_ratio,
                               const float* new_value, const int32_t* idx, int S, int T,
                               void* stream) {
    scatter_kernel<<<blocks_for((int64_t)S * T), THREADS, 0, (cudaStream_t)stream>>>(
        ratio, values, new_ratio, new_value, idx, S, T);
    return launched();
}

// ---- small helpers -----------------------------------------------------------------------------

__global__ void fill_kernel(float* x, float value, int64_t n) {
    GRID_STRIDE(i, n) x[i] = value;
}

extern "C" int pc_fill_cuda(float* x, float value, int64_t n, void* stream) {
    fill_kernel<<<blocks_for(n), THREADS, 0, (cudaStream_t)stream>>>(x, value, n);
    return launched();
}

__global__ void accumulate_kernel(float* sum, const float* x) { *sum += *x; }

extern "C" int pc_accumulate_cuda(float* sum, const float* x, void* stream) {
    accumulate_kernel<<<1, 1, 0, (cudaStream_t)stream>>>(sum, x);
    return launched();
}

#define EV_THREADS 1024

__global__ void explained_variance_kernel(float* out, const float* values, const float* adv,
                                          int64_t n) {
    __shared__ double part[4][EV_THREADS];
    double st = 0, stt = 0, sa = 0, saa = 0;
    for (int64_t i = threadIdx.x; i < n; i += EV_THREADS) {
        double a = adv[i], target = (double)values[i] + a;
        st += target;
        stt += target * target;
        sa += a;
        saa += a * a;
    }
    part[0][threadIdx.x] = st;
    part[1][threadIdx.x] = stt;
    part[2][threadIdx.x] = sa;
    part[3][threadIdx.x] = saa;
    __syncthreads();
    for (int stride = EV_THREADS / 2; stride > 0; stride >>= 1) {
        if (threadIdx.x < stride)
            for (int k = 0; k < 4; k++) part[k][threadIdx.x] += part[k][threadIdx.x + stride];
        __syncthreads();
    }
    if (threadIdx.x == 0) {
        double mt = part[0][0] / n, ma = part[2][0] / n;
        double var_t = part[1][0] / n - mt * mt, var_a = part[3][0] / n - ma * ma;
        *out = var_t > 0.0 ? (float)(1.0 - var_a / var_t) : nanf("");
    }
}

extern "C" int pc_explained_variance_cuda(float* out, const float* values, const float* adv,
                                          int64_t n, void* stream) {
    explained_variance_kernel<<<1, EV_THREADS, 0, (cudaStream_t)stream>>>(out, values, adv, n);
    return launched();
}
