// sample.c: action sampling from the decoder output, C reference.
//
// Discrete (multi-discrete) heads: per head, a max-shifted softmax and an inverse-CDF draw with
// u in (0, 1]: the action is the first option whose running sum of exp(logit - max) reaches
// u * sum. log-prob of the joint action = sum over heads of (logit_a - logsumexp).
// Continuous dimensions: a = mean + exp(logstd) * eps, eps ~ N(0, 1) (Box-Muller); log-prob
// -eps^2 / 2 - log sqrt(2 pi) - logstd, summed. Actions are not squashed: envs clip.
// The value is the decoder's column after the action columns.
//
// The draws come from rng.h's Philox keyed by the seed, with counter (head or dimension, global
// agent index, step = *counter): the CUDA kernel (cuda/sample.cu) reads the same numbers and does
// the same float operations in the same order, so both pick the same action except when u * sum
// lands within rounding of a CDF boundary (probability ~1e-7 per draw).
#include "common.h"
#include "../rng.h"

void pk_philox4x32_cpu(uint32_t* out, const uint32_t* ctr, const uint32_t* key) {
    pk_philox4x32_10(ctr, key, out);
}

void pk_sample_discrete_cpu(int32_t* actions, float* logprob, float* value, const float* logits,
                            int ld, const int32_t* act_sizes, int num_heads, int B,
                            uint64_t seed, uint64_t* counter, int agent_offset) {
    uint64_t step = *counter;
    int D = 0;
    for (int h = 0; h < num_heads; h++) D += act_sizes[h];
    #pragma omp parallel for schedule(static) if ((int64_t)B * D > PK_OMP_MIN_WORK)
    for (int b = 0; b < B; b++) {
        const float* l = logits + (int64_t)b * ld;
        float logp = 0.0f;
        int off = 0;
        for (int h = 0; h < num_heads; h++) {
            int A = act_sizes[h];
            float mx = -FLT_MAX;
            for (int j = 0; j < A; j++) mx = fmaxf(mx, pk_sanitize(l[off + j]));
            float sum = 0.0f;
            for (int j = 0; j < A; j++) sum += expf(pk_sanitize(l[off + j]) - mx);
            uint32_t r[4];
            pk_philox_draw(seed, (uint32_t)h, (uint32_t)(agent_offset + b), step, r);
            float target = pk_uniform(r[0]) * sum;
            int a = A - 1;
            float cum = 0.0f;
            for (int j = 0; j < A; j++) {
                cum += expf(pk_sanitize(l[off + j]) - mx);
                if (cum >= target) {
                    a = j;
                    break;
                }
            }
            logp += (pk_sanitize(l[off + a]) - mx) - logf(sum);
            actions[(int64_t)b * num_heads + h] = a;
            off += A;
        }
        logprob[b] = logp;
        value[b] = l[D];
    }
    *counter = step + 1;
}

void pk_sample_continuous_cpu(float* actions, float* logprob, float* value, const float* mean,
                              int ld, const float* logstd, int num_atns, int B, uint64_t seed,
                              uint64_t* counter, int agent_offset) {
    uint64_t step = *counter;
    #pragma omp parallel for schedule(static) if ((int64_t)B * num_atns > PK_OMP_MIN_WORK)
    for (int b = 0; b < B; b++) {
        const float* m = mean + (int64_t)b * ld;
        float logp = 0.0f;
        for (int d = 0; d < num_atns; d++) {
            float ls = pk_clampf(pk_sanitize(logstd[d]), PK_LOGSTD_MIN, PK_LOGSTD_MAX);
            uint32_t r[4];
            pk_philox_draw(seed, (uint32_t)d, (uint32_t)(agent_offset + b), step, r);
            float eps = pk_normal(r[0], r[1]);
            actions[(int64_t)b * num_atns + d] = pk_sanitize(m[d]) + expf(ls) * eps;
            logp += -0.5f * eps * eps - PK_LOG_SQRT_2PI - ls;
        }
        logprob[b] = logp;
        value[b] = m[num_atns];
    }
    *counter = step + 1;
}
