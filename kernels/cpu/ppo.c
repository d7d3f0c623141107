// ppo.c: the fused PPO loss, forward and analytic backward, C reference.
//
// Minibatch of M = N segments x T steps. Per element:
//   An = w_seg * (A - mean(A)) / (std(A) + 1e-8)       (mean / unbiased std over the minibatch)
//   logratio = logp_new - logp_old,  ratio = exp(logratio)
//   L_pg = max(-An ratio, -An clip(ratio, 1 - eps, 1 + eps))
//   R = V_old + A,  v_clip = V_old + clip(v - V_old, -eps_v, eps_v)
//   L_v = 1/2 max((v - R)^2, (v_clip - R)^2)
//   total = mean(L_pg) + vf_coef mean(L_v) - ent_coef mean(entropy)
// Gradients (d total / d input), with g = d total / d logp_new = ratio * dL/dratio:
//   dL/dratio = -An / M, or 0 where the clipped policy term is the larger (ratio outside the band)
//   discrete logit j of head h:  g (1[j = a] - p_j) + ent_coef / M * p_j (log p_j + H_h)
//   continuous mean:    g (a - mu) / sigma^2
//   continuous logstd:  sum over elements of g ((a - mu)^2 / sigma^2 - 1) - ent_coef / M
//                       (0 where logstd is outside its clamp [-20, 2])
//   value:              vf_coef / M (v - R), or 0 where the clipped value term is the larger
// The normalized advantage is a constant (no gradient through mean / std), as in PPO.
// Reductions go through a fixed number of chunks summed in order, so results do not depend on
// the number of OpenMP threads (the same seed trains the same weights twice).
#include <string.h>

#include "common.h"

#define PK_CHUNKS 64

typedef struct {
    double mean, inv_std;
} AdvStats;

static AdvStats adv_stats(const float* adv, int64_t M) {
    double sum = 0.0;
    for (int64_t m = 0; m < M; m++) sum += adv[m];
    double mean = sum / (double)M;
    double ss = 0.0;
    for (int64_t m = 0; m < M; m++) ss += ((double)adv[m] - mean) * ((double)adv[m] - mean);
    double var = M > 1 ? ss / (double)(M - 1) : 0.0;
    AdvStats s = {mean, 1.0 / (sqrt(var) + 1e-8)};
    return s;
}

// Shared tail of both heads: policy / value loss terms, logs, and the two scalar gradients.
typedef struct {
    float g;   // d total / d logp_new
    float dv;  // d total / d value
} ElemGrad;

static inline ElemGrad policy_value_terms(float logp, float old_logp, float an, float v,
                                          float v_old, float a_raw, float clip_coef,
                                          float vf_clip_coef, float vf_coef, float inv_M,
                                          float* ratio_out, double acc[7]) {
    float logratio = logp - old_logp;
    float ratio = expf(logratio);
    float pg1 = -an * ratio;
    float pg2 = -an * pk_clampf(ratio, 1.0f - clip_coef, 1.0f + clip_coef);
    float pg = fmaxf(pg1, pg2);
    float d_ratio = pg2 > pg1 ? 0.0f : -an * inv_M;

    // v_clip is v itself inside the band (not v_old + (v - v_old), which rounds), so the two
    // value terms tie exactly there and only a real clip can zero the gradient.
    float R = v_old + a_raw;
    float dv_old = v - v_old;
    int v_clipped = fabsf(dv_old) > vf_clip_coef;
    float v_clip = v_clipped ? v_old + copysignf(vf_clip_coef, dv_old) : v;
    float lu = (v - R) * (v - R);
    float lc = (v_clip - R) * (v_clip - R);
    float lv = 0.5f * fmaxf(lu, lc);

    acc[0] += pg;
    acc[1] += lv;
    acc[3] += -logratio;
    acc[4] += (ratio - 1.0f) - logratio;
    acc[5] += fabsf(ratio - 1.0f) > clip_coef ? 1.0 : 0.0;
    *ratio_out = ratio;
    ElemGrad eg = {d_ratio * ratio, (v_clipped && lc > lu) ? 0.0f : vf_coef * inv_M * (v - R)};
    return eg;
}

static void finish_logs(float* logs, const double acc[7], int64_t M, float vf_coef,
                        float ent_coef) {
    double pg = acc[0] / M, vl = acc[1] / M, ent = acc[2] / M;
    logs[PK_LOG_POLICY] += (float)pg;
    logs[PK_LOG_VALUE] += (float)vl;
    logs[PK_LOG_ENTROPY] += (float)ent;
    logs[PK_LOG_TOTAL] += (float)(pg + vf_coef * vl - ent_coef * ent);
    logs[PK_LOG_OLD_KL] += (float)(acc[3] / M);
    logs[PK_LOG_KL] += (float)(acc[4] / M);
    logs[PK_LOG_CLIPFRAC] += (float)(acc[5] / M);
    logs[PK_LOG_COUNT] += 1.0f;
}

void pk_ppo_loss_discrete_cpu(float* dlogits, float* new_ratio, float* new_value, float* logs,
                              const float* logits, int ld, const int32_t* actions,
                              const int32_t* act_sizes, int num_heads, const float* old_logprob,
                              const float* adv, const float* old_values,
                              const float* seg_weights, int N, int T, float clip_coef,
                              float vf_clip_coef, float vf_coef, float ent_coef) {
    int64_t M = (int64_t)N * T;
    int D = 0;
    for (int h = 0; h < num_heads; h++) D += act_sizes[h];
    AdvStats st = adv_stats(adv, M);
    float inv_M = 1.0f / (float)M;
    double part[PK_CHUNKS][7];
    memset(part, 0, sizeof(part));

    #pragma omp parallel for schedule(static) if (M * D > PK_OMP_MIN_WORK)
    for (int c = 0; c < PK_CHUNKS; c++) {
        int64_t m0 = M * c / PK_CHUNKS, m1 = M * (c + 1) / PK_CHUNKS;
        double* acc = part[c];
        float lse[PK_MAX_HEADS], ent[PK_MAX_HEADS];
        for (int64_t m = m0; m < m1; m++) {
            const float* l = logits + m * ld;
            const int32_t* act = actions + m * num_heads;
            float logp = 0.0f, entropy = 0.0f;
            int off = 0;
            for (int h = 0; h < num_heads; h++) {
                int A = act_sizes[h];
                float mx = -FLT_MAX;
                for (int j = 0; j < A; j++) mx = fmaxf(mx, pk_sanitize(l[off + j]));
                float sum = 0.0f, sum_ev = 0.0f;
                for (int j = 0; j < A; j++) {
                    float v = pk_sanitize(l[off + j]) - mx;
                    float e = expf(v);
                    sum += e;
                    sum_ev += e * v;
                }
                float log_sum = logf(sum);
                lse[h] = mx + log_sum;
                ent[h] = log_sum - sum_ev / sum;
                logp += pk_sanitize(l[off + act[h]]) - lse[h];
                entropy += ent[h];
                off += A;
            }
            acc[2] += entropy;
            float an = (float)(seg_weights ? seg_weights[m / T] : 1.0f) *
                       (float)(((double)adv[m] - st.mean) * st.inv_std);
            float v = l[D];
            float ratio;
            ElemGrad eg = policy_value_terms(logp, old_logprob[m], an, v, old_values[m], adv[m],
                                             clip_coef, vf_clip_coef, vf_coef, inv_M, &ratio,
                                             acc);
            float* dl = dlogits + m * ld;
            float ec = ent_coef * inv_M;
            off = 0;
            for (int h = 0; h < num_heads; h++) {
                int A = act_sizes[h];
                for (int j = 0; j < A; j++) {
                    float logp_j = pk_sanitize(l[off + j]) - lse[h];
                    float p = expf(logp_j);
                    float onehot = j == act[h] ? 1.0f : 0.0f;
                    dl[off + j] = eg.g * (onehot - p) + ec * p * (logp_j + ent[h]);
                }
                off += A;
            }
            dl[D] = eg.dv;
            for (int j = D + 1; j < ld; j++) dl[j] = 0.0f;
            new_ratio[m] = ratio;
            new_value[m] = v;
        }
    }
    double acc[7] = {0};
    for (int c = 0; c < PK_CHUNKS; c++)
        for (int i = 0; i < 7; i++) acc[i] += part[c][i];
    finish_logs(logs, acc, M, vf_coef, ent_coef);
}

void pk_ppo_loss_continuous_cpu(float* dmean, float* dlogstd, float* new_ratio, float* new_value,
                                float* logs, const float* mean, int ld, const float* logstd,
                                const float* actions, int num_atns, const float* old_logprob,
                                const float* adv, const float* old_values,
                                const float* seg_weights, int N, int T, float clip_coef,
                                float vf_clip_coef, float vf_coef, float ent_coef) {
    int64_t M = (int64_t)N * T;
    int A = num_atns;
    AdvStats st = adv_stats(adv, M);
    float inv_M = 1.0f / (float)M;
    double part[PK_CHUNKS][7];
    double dls_part[PK_CHUNKS][PK_MAX_HEADS];
    memset(part, 0, sizeof(part));
    memset(dls_part, 0, sizeof(dls_part));
    float ls[PK_MAX_HEADS], sigma[PK_MAX_HEADS];
    float ent_elem = 0.0f;
    for (int d = 0; d < A; d++) {
        ls[d] = pk_clampf(pk_sanitize(logstd[d]), PK_LOGSTD_MIN, PK_LOGSTD_MAX);
        sigma[d] = expf(ls[d]);
        ent_elem += 0.5f + PK_LOG_SQRT_2PI + ls[d];
    }

    #pragma omp parallel for schedule(static) if (M * A > PK_OMP_MIN_WORK)
    for (int c = 0; c < PK_CHUNKS; c++) {
        int64_t m0 = M * c / PK_CHUNKS, m1 = M * (c + 1) / PK_CHUNKS;
        double* acc = part[c];
        double* dls = dls_part[c];
        float zs[PK_MAX_HEADS];
        for (int64_t m = m0; m < m1; m++) {
            const float* mu = mean + m * ld;
            const float* act = actions + m * A;
            float logp = 0.0f;
            for (int d = 0; d < A; d++) {
                zs[d] = (act[d] - pk_sanitize(mu[d])) / sigma[d];
                logp += -0.5f * zs[d] * zs[d] - PK_LOG_SQRT_2PI - ls[d];
            }
            acc[2] += ent_elem;
            float an = (float)(seg_weights ? seg_weights[m / T] : 1.0f) *
                       (float)(((double)adv[m] - st.mean) * st.inv_std);
            float v = mu[A];
            float ratio;
            ElemGrad eg = policy_value_terms(logp, old_logprob[m], an, v, old_values[m], adv[m],
                                             clip_coef, vf_clip_coef, vf_coef, inv_M, &ratio,
                                             acc);
            float* dm = dmean + m * ld;
            for (int d = 0; d < A; d++) {
                dm[d] = eg.g * zs[d] / sigma[d];
                dls[d] += eg.g * (zs[d] * zs[d] - 1.0f) - ent_coef * inv_M;
            }
            dm[A] = eg.dv;
            for (int j = A + 1; j < ld; j++) dm[j] = 0.0f;
            new_ratio[m] = ratio;
            new_value[m] = v;
        }
    }
    double acc[7] = {0};
    for (int c = 0; c < PK_CHUNKS; c++)
        for (int i = 0; i < 7; i++) acc[i] += part[c][i];
    for (int d = 0; d < A; d++) {
        double s = 0.0;
        for (int c = 0; c < PK_CHUNKS; c++) s += dls_part[c][d];
        int inside = logstd[d] >= PK_LOGSTD_MIN && logstd[d] <= PK_LOGSTD_MAX;
        dlogstd[d] = inside ? (float)s : 0.0f;
    }
    finish_logs(logs, acc, M, vf_coef, ent_coef);
}
