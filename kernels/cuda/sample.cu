// sample.cu: action sampling (multi-discrete and continuous), CUDA. Same math, same Philox
// stream (rng.h) and the same float operations in the same order as cpu/sample.c, so both pick the
// same actions for the same (seed, agent, step).
//
// One thread per agent; the step is read from the device counter, and a one-thread kernel behind
// it adds 1 (graph-safe: the counter lives on the device and the launch arguments never change).
// The per-head sizes travel by value in the launch arguments.
// Napkin math: 4096 agents x 20 logits (bf16) = 160 KB read; this kernel is latency- and
// launch-bound (a few us), which the rollout graph amortises.
#include "common.cuh"

#define SAMPLE_THREADS 128

struct Heads {
    int n;
    int D;
    int size[PK_MAX_HEADS];
};

template <typename S>
__global__ void __launch_bounds__(SAMPLE_THREADS)
sample_discrete_kernel(int32_t* __restrict__ actions, float* __restrict__ logprob,
                       float* __restrict__ value, const S* __restrict__ logits, int ld,
                       Heads heads, int B, uint64_t seed, const uint64_t* __restrict__ counter,
                       int agent_offset) {
    int b = blockIdx.x * blockDim.x + threadIdx.x;
    if (b >= B) return;
    uint64_t step = *counter;
    const S* l = logits + (int64_t)b * ld;
    float logp = 0.0f;
    int off = 0;
    for (int h = 0; h < heads.n; h++) {
        int A = heads.size[h];
        float mx = -FLT_MAX;
        for (int j = 0; j < A; j++) mx = fmaxf(mx, pk_sanitize(ldf(l + off + j)));
        float sum = 0.0f;
        for (int j = 0; j < A; j++) sum += expf(pk_sanitize(ldf(l + off + j)) - mx);
        uint32_t r[4];
        pk_philox_draw(seed, (uint32_t)h, (uint32_t)(agent_offset + b), step, r);
        float target = __fmul_rn(pk_uniform(r[0]), sum);
        int a = A - 1;
        float cum = 0.0f;
        for (int j = 0; j < A; j++) {
            cum += expf(pk_sanitize(ldf(l + off + j)) - mx);
            if (cum >= target) {
                a = j;
                break;
            }
        }
        logp += (pk_sanitize(ldf(l + off + a)) - mx) - logf(sum);
        actions[(int64_t)b * heads.n + h] = a;
        off += A;
    }
    logprob[b] = logp;
    value[b] = ldf(l + heads.D);
}

template <typename S>
__global__ void __launch_bounds__(SAMPLE_THREADS)
sample_continuous_kernel(float* __restrict__ actions, float* __restrict__ logprob,
                         float* __restrict__ value, const S* __restrict__ mean, int ld,
                         const S* __restrict__ logstd, int A, int B, uint64_t seed,
                         const uint64_t* __restrict__ counter, int agent_offset) {
    int b = blockIdx.x * blockDim.x + threadIdx.x;
    if (b >= B) return;
    uint64_t step = *counter;
    const S* m = mean + (int64_t)b * ld;
    float logp = 0.0f;
    for (int d = 0; d < A; d++) {
        float ls = pk_clampf(pk_sanitize(ldf(logstd + d)), PK_LOGSTD_MIN, PK_LOGSTD_MAX);
        uint32_t r[4];
        pk_philox_draw(seed, (uint32_t)d, (uint32_t)(agent_offset + b), step, r);
        float eps = pk_normal(r[0], r[1]);
        actions[(int64_t)b * A + d] = pk_sanitize(ldf(m + d)) + expf(ls) * eps;
        logp += -0.5f * eps * eps - PK_LOG_SQRT_2PI - ls;
    }
    logprob[b] = logp;
    value[b] = ldf(m + A);
}

extern "C" int pk_sample_discrete_cuda(int32_t* actions, float* logprob, float* value,
                                       const void* logits, int ld, const int32_t* act_sizes,
                                       int num_heads, int B, uint64_t seed, uint64_t* counter,
                                       int agent_offset, int dtype, void* stream) {
    PK_REQUIRE(num_heads > 0 && num_heads <= PK_MAX_HEADS && B >= 0);
    Heads heads;
    heads.n = num_heads;
    heads.D = 0;
    for (int h = 0; h < num_heads; h++) {
        PK_REQUIRE(act_sizes[h] > 0);
        heads.size[h] = act_sizes[h];
        heads.D += act_sizes[h];
    }
    for (int h = num_heads; h < PK_MAX_HEADS; h++) heads.size[h] = 0;
    PK_REQUIRE(ld >= heads.D + 1);
    cudaStream_t s = pk_stream(stream);
    if (B > 0) {
        PK_DISPATCH(dtype, S, {
            sample_discrete_kernel<S><<<(B + SAMPLE_THREADS - 1) / SAMPLE_THREADS, SAMPLE_THREADS,
                                        0, s>>>(actions, logprob, value, (const S*)logits, ld,
                                                heads, B, seed, counter, agent_offset);
        });
        PK_LAUNCH_CHECK();
    }
    pk_add_counter_kernel<<<1, 1, 0, s>>>(counter, 1);
    PK_LAUNCH_CHECK();
    return 0;
}

extern "C" int pk_sample_continuous_cuda(float* actions, float* logprob, float* value,
                                         const void* mean, int ld, const void* logstd,
                                         int num_atns, int B, uint64_t seed, uint64_t* counter,
                                         int agent_offset, int dtype, void* stream) {
    PK_REQUIRE(num_atns > 0 && num_atns <= PK_MAX_HEADS && B >= 0 && ld >= num_atns + 1);
    cudaStream_t s = pk_stream(stream);
    if (B > 0) {
        PK_DISPATCH(dtype, S, {
            sample_continuous_kernel<S><<<(B + SAMPLE_THREADS - 1) / SAMPLE_THREADS,
                                          SAMPLE_THREADS, 0, s>>>(
                actions, logprob, value, (const S*)mean, ld, (const S*)logstd, num_atns, B, seed,
                counter, agent_offset);
        });
        PK_LAUNCH_CHECK();
    }
    pk_add_counter_kernel<<<1, 1, 0, s>>>(counter, 1);
    PK_LAUNCH_CHECK();
    return 0;
}
