// ppo.cu: the fused PPO loss, forward + analytic backward, CUDA. Same math as cpu/ppo.c (its
// header lists the loss and every gradient).
//
// Three launches, all with fixed grids so every reduction has a fixed shape and order
// (deterministic, graph-safe, no atomics):
//   1. adv_stats: PPO_BLOCKS partial sums of A and A^2 (fp64).
//   2. loss: every block first folds those partials into mean / std itself (256 values), then
//      grid-strides over the elements: log-softmax / Gaussian log-prob, ratio, clipped policy and
//      value terms, gradients written straight into dlogits (storage dtype), new ratio / value;
//      per-block partials of the six logged means (and of dlogstd, continuous).
//   3. finish: one block sums the partials: logs += means (and count += 1), dlogstd.
// Napkin math: a 8192-row minibatch with 20 logits (bf16) reads ~0.5 MB and writes as much:
// well under a microsecond of bandwidth; the kernel is latency-bound (three launches in a graph).
#include "common.cuh"

#define PPO_THREADS 256
#define PPO_BLOCKS 256
#define PPO_NSTAT 6  // policy, value, entropy, old_kl, kl, clipfrac

struct Heads {
    int n;
    int D;
    int size[PK_MAX_HEADS];
};

struct LossCfg {
    float clip_coef, vf_clip_coef, vf_coef, ent_coef;
};

__global__ void __launch_bounds__(PPO_THREADS)
adv_stats_kernel(const float* __restrict__ adv, int64_t M, double* __restrict__ part) {
    double s = 0.0, s2 = 0.0;
    for (int64_t m = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; m < M;
         m += (int64_t)gridDim.x * blockDim.x) {
        double a = adv[m];
        s += a;
        s2 += a * a;
    }
    s = block_sum<PPO_THREADS>(s);
    s2 = block_sum<PPO_THREADS>(s2);
    if (threadIdx.x == 0) {
        part[blockIdx.x] = s;
        part[PPO_BLOCKS + blockIdx.x] = s2;
    }
}

// mean and 1 / (unbiased std + 1e-8) of the minibatch advantages, from adv_stats' partials.
__device__ void adv_norm(const double* part, int64_t M, double* mean, double* inv_std) {
    double s = sum_partials<PPO_THREADS>(part, PPO_BLOCKS);
    double s2 = sum_partials<PPO_THREADS>(part + PPO_BLOCKS, PPO_BLOCKS);
    double mu = s / (double)M;
    double var = M > 1 ? (s2 - (double)M * mu * mu) / (double)(M - 1) : 0.0;
    *mean = mu;
    *inv_std = 1.0 / (sqrt(fmax(var, 0.0)) + 1e-8);
}

struct ElemGrad {
    float g;   // d total / d logp_new
    float dv;  // d total / d value
};

// Policy and value terms of one element (as cpu/ppo.c's policy_value_terms).
__device__ __forceinline__ ElemGrad policy_value_terms(float logp, float old_logp, float an,
                                                       float v, float v_old, float a_raw,
                                                       const LossCfg& cfg, float inv_M,
                                                       float* ratio_out, float acc[PPO_NSTAT]) {
    float logratio = logp - old_logp;
    float ratio = expf(logratio);
    float pg1 = -an * ratio;
    float pg2 = -an * pk_clampf(ratio, 1.0f - cfg.clip_coef, 1.0f + cfg.clip_coef);
    float pg = fmaxf(pg1, pg2);
    float d_ratio = pg2 > pg1 ? 0.0f : -an * inv_M;

    float R = v_old + a_raw;
    float dv_old = v - v_old;
    bool v_clipped = fabsf(dv_old) > cfg.vf_clip_coef;
    float v_clip = v_clipped ? v_old + copysignf(cfg.vf_clip_coef, dv_old) : v;
    float lu = (v - R) * (v - R);
    float lc = (v_clip - R) * (v_clip - R);
    float lv = 0.5f * fmaxf(lu, lc);

    acc[0] += pg;
    acc[1] += lv;
    acc[3] += -logratio;
    acc[4] += (ratio - 1.0f) - logratio;
    acc[5] += fabsf(ratio - 1.0f) > cfg.clip_coef ? 1.0f : 0.0f;
    *ratio_out = ratio;
    ElemGrad eg;
    eg.g = d_ratio * ratio;
    eg.dv = (v_clipped && lc > lu) ? 0.0f : cfg.vf_coef * inv_M * (v - R);
    return eg;
}

__device__ void write_stats(float acc[PPO_NSTAT], float* stat_part) {
    for (int k = 0; k < PPO_NSTAT; k++) {
        float r = block_sum<PPO_THREADS>(acc[k]);
        if (threadIdx.x == 0) stat_part[k * PPO_BLOCKS + blockIdx.x] = r;
    }
}

template <typename S>
__global__ void __launch_bounds__(PPO_THREADS)
ppo_discrete_kernel(S* __restrict__ dlogits, float* __restrict__ new_ratio,
                    float* __restrict__ new_value, const S* __restrict__ logits, int ld,
                    const int32_t* __restrict__ actions, Heads heads,
                    const float* __restrict__ old_logprob, const float* __restrict__ adv,
                    const float* __restrict__ old_values, const float* __restrict__ seg_weights,
                    int N, int T, LossCfg cfg, const double* __restrict__ adv_part,
                    float* __restrict__ stat_part) {
    int64_t M = (int64_t)N * T;
    double mean, inv_std;
    adv_norm(adv_part, M, &mean, &inv_std);
    float inv_M = 1.0f / (float)M;
    float ec = cfg.ent_coef * inv_M;
    float acc[PPO_NSTAT] = {0, 0, 0, 0, 0, 0};
    float lse[PK_MAX_HEADS], ent[PK_MAX_HEADS];
    int D = heads.D;
    for (int64_t m = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; m < M;
         m += (int64_t)gridDim.x * blockDim.x) {
        const S* l = logits + m * ld;
        const int32_t* act = actions + m * heads.n;
        float logp = 0.0f, entropy = 0.0f;
        int off = 0;
        for (int h = 0; h < heads.n; h++) {
            int A = heads.size[h];
            float mx = -FLT_MAX;
            for (int j = 0; j < A; j++) mx = fmaxf(mx, pk_sanitize(ldf(l + off + j)));
            float sum = 0.0f, sum_ev = 0.0f;
            for (int j = 0; j < A; j++) {
                float v = pk_sanitize(ldf(l + off + j)) - mx;
                float e = expf(v);
                sum += e;
                sum_ev += e * v;
            }
            float log_sum = logf(sum);
            lse[h] = mx + log_sum;
            ent[h] = log_sum - sum_ev / sum;
            logp += pk_sanitize(ldf(l + off + act[h])) - lse[h];
            entropy += ent[h];
            off += A;
        }
        acc[2] += entropy;
        float w = seg_weights != nullptr ? seg_weights[m / T] : 1.0f;
        float an = w * (float)(((double)adv[m] - mean) * inv_std);
        float v = ldf(l + D);
        float ratio;
        ElemGrad eg = policy_value_terms(logp, old_logprob[m], an, v, old_values[m], adv[m], cfg,
                                         inv_M, &ratio, acc);
        S* dl = dlogits + m * ld;
        off = 0;
        for (int h = 0; h < heads.n; h++) {
            int A = heads.size[h];
            for (int j = 0; j < A; j++) {
                float logp_j = pk_sanitize(ldf(l + off + j)) - lse[h];
                float p = expf(logp_j);
                float onehot = j == act[h] ? 1.0f : 0.0f;
                stf(dl + off + j, eg.g * (onehot - p) + ec * p * (logp_j + ent[h]));
            }
            off += A;
        }
        stf(dl + D, eg.dv);
        for (int j = D + 1; j < ld; j++) stf(dl + j, 0.0f);
        new_ratio[m] = ratio;
        new_value[m] = v;
    }
    write_stats(acc, stat_part);
}

template <typename S>
__global__ void __launch_bounds__(PPO_THREADS)
ppo_continuous_kernel(S* __restrict__ dmean, float* __restrict__ new_ratio,
                      float* __restrict__ new_value, const S* __restrict__ mean_in, int ld,
                      const S* __restrict__ logstd, const float* __restrict__ actions, int A,
                      const float* __restrict__ old_logprob, const float* __restrict__ adv,
                      const float* __restrict__ old_values, const float* __restrict__ seg_weights,
                      int N, int T, LossCfg cfg, const double* __restrict__ adv_part,
                      float* __restrict__ stat_part) {
    int64_t M = (int64_t)N * T;
    double mean, inv_std;
    adv_norm(adv_part, M, &mean, &inv_std);
    float inv_M = 1.0f / (float)M;
    float ls[PK_MAX_HEADS], sigma[PK_MAX_HEADS], dls[PK_MAX_HEADS], zs[PK_MAX_HEADS];
    float ent_elem = 0.0f;
    for (int d = 0; d < A; d++) {
        ls[d] = pk_clampf(pk_sanitize(ldf(logstd + d)), PK_LOGSTD_MIN, PK_LOGSTD_MAX);
        sigma[d] = expf(ls[d]);
        ent_elem += 0.5f + PK_LOG_SQRT_2PI + ls[d];
        dls[d] = 0.0f;
    }
    float acc[PPO_NSTAT] = {0, 0, 0, 0, 0, 0};
    for (int64_t m = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; m < M;
         m += (int64_t)gridDim.x * blockDim.x) {
        const S* mu = mean_in + m * ld;
        const float* act = actions + m * A;
        float logp = 0.0f;
        for (int d = 0; d < A; d++) {
            zs[d] = (act[d] - pk_sanitize(ldf(mu + d))) / sigma[d];
            logp += -0.5f * zs[d] * zs[d] - PK_LOG_SQRT_2PI - ls[d];
        }
        acc[2] += ent_elem;
        float w = seg_weights != nullptr ? seg_weights[m / T] : 1.0f;
        float an = w * (float)(((double)adv[m] - mean) * inv_std);
        float v = ldf(mu + A);
        float ratio;
        ElemGrad eg = policy_value_terms(logp, old_logprob[m], an, v, old_values[m], adv[m], cfg,
                                         inv_M, &ratio, acc);
        S* dm = dmean + m * ld;
        for (int d = 0; d < A; d++) {
            stf(dm + d, eg.g * zs[d] / sigma[d]);
            dls[d] += eg.g * (zs[d] * zs[d] - 1.0f) - cfg.ent_coef * inv_M;
        }
        stf(dm + A, eg.dv);
        for (int j = A + 1; j < ld; j++) stf(dm + j, 0.0f);
        new_ratio[m] = ratio;
        new_value[m] = v;
    }
    write_stats(acc, stat_part);
    for (int d = 0; d < A; d++) {
        float r = block_sum<PPO_THREADS>(dls[d]);
        if (threadIdx.x == 0) stat_part[(PPO_NSTAT + d) * PPO_BLOCKS + blockIdx.x] = r;
    }
}

// One block: logs += minibatch means, count += 1; dlogstd (continuous, A > 0).
template <typename S>
__global__ void __launch_bounds__(PPO_THREADS)
ppo_finish_kernel(float* __restrict__ logs, S* __restrict__ dlogstd,
                  const S* __restrict__ logstd, int A, int64_t M, LossCfg cfg,
                  const float* __restrict__ stat_part) {
    double st[PPO_NSTAT];
    for (int k = 0; k < PPO_NSTAT; k++) {
        double v = 0.0;
        for (int i = threadIdx.x; i < PPO_BLOCKS; i += PPO_THREADS)
            v += (double)stat_part[k * PPO_BLOCKS + i];
        st[k] = block_sum<PPO_THREADS>(v) / (double)M;
    }
    for (int d = 0; d < A; d++) {
        double v = 0.0;
        for (int i = threadIdx.x; i < PPO_BLOCKS; i += PPO_THREADS)
            v += (double)stat_part[(PPO_NSTAT + d) * PPO_BLOCKS + i];
        v = block_sum<PPO_THREADS>(v);
        if (threadIdx.x == 0) {
            float raw = ldf(logstd + d);
            bool inside = raw >= PK_LOGSTD_MIN && raw <= PK_LOGSTD_MAX;
            stf(dlogstd + d, inside ? (float)v : 0.0f);
        }
    }
    if (threadIdx.x == 0) {
        logs[PK_LOG_POLICY] += (float)st[0];
        logs[PK_LOG_VALUE] += (float)st[1];
        logs[PK_LOG_ENTROPY] += (float)st[2];
        logs[PK_LOG_TOTAL] += (float)(st[0] + cfg.vf_coef * st[1] - cfg.ent_coef * st[2]);
        logs[PK_LOG_OLD_KL] += (float)st[3];
        logs[PK_LOG_KL] += (float)st[4];
        logs[PK_LOG_CLIPFRAC] += (float)st[5];
        logs[PK_LOG_COUNT] += 1.0f;
    }
}

extern "C" size_t pk_ppo_workspace_bytes_cuda(int num_atns) {
    int a = num_atns > 0 ? num_atns : 0;
    return 2 * PPO_BLOCKS * sizeof(double) + (size_t)(PPO_NSTAT + a) * PPO_BLOCKS * sizeof(float);
}

static int launch_adv_stats(const float* adv, int64_t M, void* workspace, cudaStream_t s) {
    adv_stats_kernel<<<PPO_BLOCKS, PPO_THREADS, 0, s>>>(adv, M, (double*)workspace);
    PK_LAUNCH_CHECK();
    return 0;
}

extern "C" int pk_ppo_loss_discrete_cuda(void* dlogits, float* new_ratio, float* new_value,
                                         float* logs, const void* logits, int ld,
                                         const int32_t* actions, const int32_t* act_sizes,
                                         int num_heads, const float* old_logprob,
                                         const float* adv, const float* old_values,
                                         const float* seg_weights, int N, int T, float clip_coef,
                                         float vf_clip_coef, float vf_coef, float ent_coef,
                                         void* workspace, int dtype, void* stream) {
    PK_REQUIRE(num_heads > 0 && num_heads <= PK_MAX_HEADS && N > 0 && T > 0);
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
    LossCfg cfg = {clip_coef, vf_clip_coef, vf_coef, ent_coef};
    int64_t M = (int64_t)N * T;
    cudaStream_t s = pk_stream(stream);
    double* adv_part = (double*)workspace;
    float* stat_part = (float*)(adv_part + 2 * PPO_BLOCKS);
    PK_TRY(launch_adv_stats(adv, M, workspace, s));
    PK_DISPATCH(dtype, S, {
        ppo_discrete_kernel<S><<<PPO_BLOCKS, PPO_THREADS, 0, s>>>(
            (S*)dlogits, new_ratio, new_value, (const S*)logits, ld, actions, heads, old_logprob,
            adv, old_values, seg_weights, N, T, cfg, adv_part, stat_part);
        PK_LAUNCH_CHECK();
        ppo_finish_kernel<S><<<1, PPO_THREADS, 0, s>>>(logs, (S*)nullptr, (const S*)nullptr, 0,
                                                        M, cfg, stat_part);
    });
    PK_LAUNCH_CHECK();
    return 0;
}

extern "C" int pk_ppo_loss_continuous_cuda(void* dmean, void* dlogstd, float* new_ratio,
                                           float* new_value, float* logs, const void* mean,
                                           int ld, const void* logstd, const float* actions,
                                           int num_atns, const float* old_logprob,
                                           const float* adv, const float* old_values,
                                           const float* seg_weights, int N, int T,
                                           float clip_coef, float vf_clip_coef, float vf_coef,
                                           float ent_coef, void* workspace, int dtype,
                                           void* stream) {
    PK_REQUIRE(num_atns > 0 && num_atns <= PK_MAX_HEADS && N > 0 && T > 0);
    PK_REQUIRE(ld >= num_atns + 1);
    LossCfg cfg = {clip_coef, vf_clip_coef, vf_coef, ent_coef};
    int64_t M = (int64_t)N * T;
    cudaStream_t s = pk_stream(stream);
    double* adv_part = (double*)workspace;
    float* stat_part = (float*)(adv_part + 2 * PPO_BLOCKS);
    PK_TRY(launch_adv_stats(adv, M, workspace, s));
    PK_DISPATCH(dtype, S, {
        ppo_continuous_kernel<S><<<PPO_BLOCKS, PPO_THREADS, 0, s>>>(
            (S*)dmean, new_ratio, new_value, (const S*)mean, ld, (const S*)logstd, actions,
            num_atns, old_logprob, adv, old_values, seg_weights, N, T, cfg, adv_part, stat_part);
        PK_LAUNCH_CHECK();
        ppo_finish_kernel<S><<<1, PPO_THREADS, 0, s>>>(logs, (S*)dlogstd, (const S*)logstd,
                                                        num_atns, M, cfg, stat_part);
    });
    PK_LAUNCH_CHECK();
    return 0;
}
