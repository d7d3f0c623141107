// trainer_cpu.c: the native trainer on the CPU: fp32, the C reference kernels (OpenMP inside them
// and inside the env library). Used in CI, on machines without a GPU, and as the readable
// version of trainer_cuda.cu: the same epoch, in the same order, top to bottom.
//
//   create    plan -> register tensors in three arenas -> allocate each once -> init weights
//             -> reset the envs
//   epoch     rollout: for t < horizon, for each buffer: ingest the env's obs/reward/done into
//                      slot t, policy forward (encoder, MinGRU steps, decoder), sample, write the
//                      env's float actions, step that buffer's envs
//             train:   per minibatch: advantage (whole batch, refreshed values and ratios),
//                      priorities, sample segments, gather, forward (scan), fused PPO loss,
//                      backward, all-reduce, Muon (clip inside), scatter new ratios and values
//
// Storage is agent-major, (A, T, ...): a row is one agent's horizon, so a training segment is
// one contiguous block and no transpose is needed. Slot t holds the observation seen at step t
// with the reward and done flag produced by the previous action (reference 1.3); done = terminal
// or truncation. The recurrent state of an agent whose episode just ended is cut before step t,
// in the rollout and, from the stored dones, in the training scan (DESIGN.md decision 3).
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "trainer_impl.h"

struct CpuTrainer {
    TrainerPlan* p;
    PArena weights, grads, acts;

    PTensor w[PUFFER_MAX_TENSORS];   // parameters (flat weights arena)
    PTensor g[PUFFER_MAX_TENSORS];   // their gradients (flat grads arena, same offsets)
    PTensor momentum;                // Muon, flat_numel
    PTensor muon_ws;

    // rollout storage (A, T, ...)
    PTensor obs, actions, logprob, values, rewards, dones;
    PTensor ratio, values_live, adv;   // training copies refreshed per minibatch
    PTensor state, state0;             // recurrent state (L, A, H) and its value at rollout start

    // rollout scratch (one buffer's agents)
    PTensor r_obs, r_x[2], r_kzp, r_logits, r_act, r_logprob, r_value, r_reset;

    // training
    PTensor probs, cdf, idx, seg_w;
    PTensor mb_obs, mb_act, mb_logprob, mb_values, mb_adv, mb_reset, mb_h0;
    PTensor xs, kzp, hs, logits, dlogits, new_ratio, new_value, dx[2], dkzp;

    float logs[PK_LOG_SIZE];
    uint64_t counters[PUFFER_MAX_BUFFERS + 1];   // action draws per buffer, then replay draws
};

// ---- create ------------------------------------------------------------------------------------

static void reg(PArena* a, PTensor* t, int dtype, int64_t d0, int64_t d1, int64_t d2) {
    *t = pt_make(dtype, d0, d1, d2, 0);
    pa_register(a, t);
}

CpuTrainer* puffer_cpu_create(TrainerPlan* p, char* err, size_t len) {
    CpuTrainer* c = (CpuTrainer*)calloc(1, sizeof(CpuTrainer));
    if (c == NULL) {
        puffer_fail(err, len, "out of memory");
        return NULL;
    }
    c->p = p;
    int A = p->A, T = p->T, OBS = p->OBS, H = p->H, L = p->L, NH = p->NH, ld = p->ld;
    int B = p->max_buf, S = p->S, M = p->M;
    int act_dtype = p->continuous ? PT_F32 : PT_I32;

    pa_init_flat(&c->weights, "weights", PT_F32, PUFFER_PARAM_ALIGN);
    pa_init_flat(&c->grads, "grads", PT_F32, PUFFER_PARAM_ALIGN);
    pa_init(&c->acts, "activations");
    for (int i = 0; i < p->num_tensors; i++) {
        reg(&c->weights, &c->w[i], PT_F32, p->rows[i], p->cols[i], 0);
        reg(&c->grads, &c->g[i], PT_F32, p->rows[i], p->cols[i], 0);
    }

    PArena* a = &c->acts;
    reg(a, &c->momentum, PT_F32, p->flat_numel, 0, 0);
    size_t ws = pk_muon_workspace_floats_cpu(p->rows, p->cols, p->num_tensors);
    reg(a, &c->muon_ws, PT_F32, (int64_t)ws, 0, 0);

    reg(a, &c->obs, PT_F32, A, T, OBS);
    reg(a, &c->actions, act_dtype, A, T, NH);
    reg(a, &c->logprob, PT_F32, A, T, 0);
    reg(a, &c->values, PT_F32, A, T, 0);
    reg(a, &c->rewards, PT_F32, A, T, 0);
    reg(a, &c->dones, PT_F32, A, T, 0);
    reg(a, &c->ratio, PT_F32, A, T, 0);
    reg(a, &c->values_live, PT_F32, A, T, 0);
    reg(a, &c->adv, PT_F32, A, T, 0);
    reg(a, &c->state, PT_F32, L > 0 ? L : 1, A, H);
    reg(a, &c->state0, PT_F32, L > 0 ? L : 1, A, H);

    reg(a, &c->r_obs, PT_F32, B, OBS, 0);
    reg(a, &c->r_x[0], PT_F32, B, H, 0);
    reg(a, &c->r_x[1], PT_F32, B, H, 0);
    reg(a, &c->r_kzp, PT_F32, B, 3 * H, 0);
    reg(a, &c->r_logits, PT_F32, B, ld, 0);
    reg(a, &c->r_act, act_dtype, B, NH, 0);
    reg(a, &c->r_logprob, PT_F32, B, 0, 0);
    reg(a, &c->r_value, PT_F32, B, 0, 0);
    reg(a, &c->r_reset, PT_F32, B, 0, 0);

    reg(a, &c->probs, PT_F32, A, 0, 0);
    reg(a, &c->cdf, PT_F64, A, 0, 0);
    reg(a, &c->idx, PT_I32, S, 0, 0);
    reg(a, &c->seg_w, PT_F32, S, 0, 0);
    reg(a, &c->mb_obs, PT_F32, M, OBS, 0);
    reg(a, &c->mb_act, act_dtype, M, NH, 0);
    reg(a, &c->mb_logprob, PT_F32, M, 0, 0);
    reg(a, &c->mb_values, PT_F32, M, 0, 0);
    reg(a, &c->mb_adv, PT_F32, M, 0, 0);
    reg(a, &c->mb_reset, PT_F32, M, 0, 0);
    reg(a, &c->mb_h0, PT_F32, L > 0 ? L : 1, S, H);
    reg(a, &c->xs, PT_F32, L + 1, M, H);
    reg(a, &c->kzp, PT_F32, L > 0 ? L : 1, M, 3 * H);
    reg(a, &c->hs, PT_F32, L > 0 ? L : 1, M, H);
    reg(a, &c->logits, PT_F32, M, ld, 0);
    reg(a, &c->dlogits, PT_F32, M, ld, 0);
    reg(a, &c->new_ratio, PT_F32, M, 0, 0);
    reg(a, &c->new_value, PT_F32, M, 0, 0);
    reg(a, &c->dx[0], PT_F32, M, H, 0);
    reg(a, &c->dx[1], PT_F32, M, H, 0);
    reg(a, &c->dkzp, PT_F32, M, 3 * H, 0);

    PAllocator host = pa_host_allocator();
    if (pa_create(&c->weights, host, NULL) || pa_create(&c->grads, host, NULL) ||
        pa_create(&c->acts, host, NULL)) {
        puffer_fail(err, len, "out of memory: the trainer needs %.1f MB (activations)",
                    c->acts.bytes / 1e6);
        puffer_cpu_destroy(c);
        return NULL;
    }
    for (int i = 0; i < p->num_tensors; i++) {
        if (pa_elem_offset(&c->weights, i) != p->offsets[i]) {
            puffer_fail(err, len, "internal: parameter layout mismatch");
            puffer_cpu_destroy(c);
            return NULL;
        }
    }
    puffer_init_weights(p, PT_F(c->w[0]));
    p->env.reset(p->env.vec, p->sample_seed);
    return c;
}

void puffer_cpu_destroy(CpuTrainer* c) {
    if (c == NULL) return;
    pa_destroy(&c->weights);
    pa_destroy(&c->grads);
    pa_destroy(&c->acts);
    free(c);
}

float* puffer_cpu_weights(CpuTrainer* c) { return PT_F(c->w[0]); }
float* puffer_cpu_momentum(CpuTrainer* c) { return PT_F(c->momentum); }
uint64_t* puffer_cpu_counters(CpuTrainer* c) { return c->counters; }

// ---- rollout -----------------------------------------------------------------------------------

// Slot t of rows [a0, a0+n): the env's current obs (also cast into the encoder's input), the reward
// and done flag its last step produced; the done flag is this step's state reset.
static void ingest(CpuTrainer* c, int a0, int n, int t) {
    const TrainerPlan* p = c->p;
    const PufferVec* vec = p->env.vec;
    int T = p->T, OBS = p->OBS;
    float* x = PT_F(c->r_obs);
    for (int i = 0; i < n; i++) {
        int row = a0 + i;
        float* dst = x + (int64_t)i * OBS;
        if (p->obs_u8) {
            const uint8_t* src = (const uint8_t*)vec->observations + (int64_t)row * OBS;
            for (int k = 0; k < OBS; k++) dst[k] = (float)src[k];
        } else {
            memcpy(dst, (const float*)vec->observations + (int64_t)row * OBS, OBS * sizeof(float));
        }
        int64_t slot = (int64_t)row * T + t;
        memcpy(PT_F(c->obs) + slot * OBS, dst, OBS * sizeof(float));
        float done = fmaxf(vec->terminals[row], vec->truncations[row]);
        PT_F(c->r_reset)[i] = done;
        PT_F(c->dones)[slot] = done;
        PT_F(c->rewards)[slot] = vec->rewards[row];
    }
}

// Encoder -> MinGRU steps -> decoder -> sample, for rows [a0, a0+n) of buffer b.
static void policy_step(CpuTrainer* c, int b, int a0, int n) {
    const TrainerPlan* p = c->p;
    int H = p->H, A = p->A;
    float* x = PT_F(c->r_x[0]);
    float* y = PT_F(c->r_x[1]);
    pk_linear_forward_cpu(x, PT_F(c->r_obs), PT_F(c->w[p->enc_i]), n, p->OBS, H);
    for (int l = 0; l < p->L; l++) {
        pk_linear_forward_cpu(PT_F(c->r_kzp), x, PT_F(c->w[p->layer_i0 + l]), n, H, 3 * H);
        float* state = PT_F(c->state) + ((int64_t)l * A + a0) * H;
        pk_mingru_step_cpu(y, state, PT_F(c->r_kzp), x, PT_F(c->r_reset), n, H);
        float* tmp = x;
        x = y;
        y = tmp;
    }
    pk_linear_forward_cpu(PT_F(c->r_logits), x, PT_F(c->w[p->dec_i]), n, H, p->ld);
    if (p->continuous)
        pk_sample_continuous_cpu(PT_F(c->r_act), PT_F(c->r_logprob), PT_F(c->r_value),
                                 PT_F(c->r_logits), p->ld, PT_F(c->w[p->logstd_i]), p->NH, n,
                                 p->sample_seed, &c->counters[b], a0);
    else
        pk_sample_discrete_cpu(PT_I(c->r_act), PT_F(c->r_logprob), PT_F(c->r_value),
                               PT_F(c->r_logits), p->ld, p->act_sizes, p->NH, n, p->sample_seed,
                               &c->counters[b], a0);
}

// Actions, log-probs and values into slot t; float actions into the env's buffer.
static void store(CpuTrainer* c, int a0, int n, int t) {
    const TrainerPlan* p = c->p;
    int T = p->T, NH = p->NH;
    float* env_actions = p->env.vec->actions;
    for (int i = 0; i < n; i++) {
        int64_t row = a0 + i, slot = row * T + t;
        for (int h = 0; h < NH; h++) {
            float a;
            if (p->continuous) {
                a = PT_F(c->r_act)[(int64_t)i * NH + h];
                PT_F(c->actions)[slot * NH + h] = a;
            } else {
                int32_t ai = PT_I(c->r_act)[(int64_t)i * NH + h];
                PT_I(c->actions)[slot * NH + h] = ai;
                a = (float)ai;
            }
            env_actions[row * NH + h] = a;
        }
        PT_F(c->logprob)[slot] = PT_F(c->r_logprob)[i];
        PT_F(c->values)[slot] = PT_F(c->r_value)[i];
    }
}

static void rollout(CpuTrainer* c, PufferEpochLogs* logs) {
    TrainerPlan* p = c->p;
    double start = puffer_now(), env_time = 0.0, policy_time = 0.0;
    size_t state_bytes = pt_bytes(&c->state);
    if (p->reset_state) memset(c->state.data, 0, state_bytes);
    memcpy(c->state0.data, c->state.data, state_bytes);
    for (int t = 0; t < p->T; t++) {
        for (int b = 0; b < p->NB; b++) {
            int a0 = p->buf_start[b], n = p->buf_start[b + 1] - a0;
            double tick = puffer_now();
            ingest(c, a0, n, t);
            policy_step(c, b, a0, n);
            store(c, a0, n, t);
            double tock = puffer_now();
            p->env.step_buffer(p->env.vec, b);
            policy_time += tock - tick;
            env_time += puffer_now() - tock;
        }
    }
    p->global_step += (int64_t)p->A * p->T;
    logs->rollout = puffer_now() - start;
    logs->eval_env = env_time;
    logs->eval_gpu = policy_time;
}

// ---- train -------------------------------------------------------------------------------------

// 1 - Var(adv) / Var(values + adv): how much of the return the rollout's values explain.
static float explained_variance(const float* values, const float* adv, int64_t n) {
    double st = 0, stt = 0, sa = 0, saa = 0;
    for (int64_t i = 0; i < n; i++) {
        double target = (double)values[i] + adv[i];
        st += target;
        stt += target * target;
        sa += adv[i];
        saa += (double)adv[i] * adv[i];
    }
    double var_t = stt / n - (st / n) * (st / n);
    double var_a = saa / n - (sa / n) * (sa / n);
    if (!(var_t > 0.0)) return NAN;
    return (float)(1.0 - var_a / var_t);
}

// Rows idx[0..S) of the storage into the contiguous minibatch buffers.
static void gather(CpuTrainer* c) {
    const TrainerPlan* p = c->p;
    int T = p->T, OBS = p->OBS, NH = p->NH, H = p->H, A = p->A;
    const int32_t* idx = PT_I(c->idx);
    for (int s = 0; s < p->S; s++) {
        int64_t src = (int64_t)idx[s] * T, dst = (int64_t)s * T;
        memcpy(PT_F(c->mb_obs) + dst * OBS, PT_F(c->obs) + src * OBS, (size_t)T * OBS * 4);
        memcpy((char*)c->mb_act.data + dst * NH * 4, (char*)c->actions.data + src * NH * 4,
               (size_t)T * NH * 4);
        memcpy(PT_F(c->mb_logprob) + dst, PT_F(c->logprob) + src, (size_t)T * 4);
        memcpy(PT_F(c->mb_values) + dst, PT_F(c->values_live) + src, (size_t)T * 4);
        memcpy(PT_F(c->mb_adv) + dst, PT_F(c->adv) + src, (size_t)T * 4);
        memcpy(PT_F(c->mb_reset) + dst, PT_F(c->dones) + src, (size_t)T * 4);
        if (!p->reset_state) {
            for (int l = 0; l < p->L; l++)
                memcpy(PT_F(c->mb_h0) + ((int64_t)l * p->S + s) * H,
                       PT_F(c->state0) + ((int64_t)l * A + idx[s]) * H, (size_t)H * 4);
        }
    }
}

// Forward over S segments of T steps, the fused loss, and the backward into the grads arena.
static void forward_backward(CpuTrainer* c, float ent_coef) {
    const TrainerPlan* p = c->p;
    const PufferTrainerConfig* cfg = &p->cfg;
    int M = p->M, S = p->S, T = p->T, H = p->H, L = p->L, ld = p->ld;
    int64_t MH = (int64_t)M * H;
    float* xs = PT_F(c->xs);            // x_0 = encoder output, x_{l+1} = layer l's output
    const float* reset = PT_F(c->mb_reset);

    pk_linear_forward_cpu(xs, PT_F(c->mb_obs), PT_F(c->w[p->enc_i]), M, p->OBS, H);
    for (int l = 0; l < L; l++) {
        float* kzp = PT_F(c->kzp) + (int64_t)l * M * 3 * H;
        const float* h0 = p->reset_state ? NULL : PT_F(c->mb_h0) + (int64_t)l * S * H;
        pk_linear_forward_cpu(kzp, xs + l * MH, PT_F(c->w[p->layer_i0 + l]), M, H, 3 * H);
        pk_mingru_scan_forward_cpu(xs + (l + 1) * MH, PT_F(c->hs) + l * MH, kzp, xs + l * MH, h0,
                                   reset, S, T, H);
    }
    float* top = xs + (int64_t)L * MH;
    pk_linear_forward_cpu(PT_F(c->logits), top, PT_F(c->w[p->dec_i]), M, H, ld);

    if (p->continuous)
        pk_ppo_loss_continuous_cpu(PT_F(c->dlogits), PT_F(c->g[p->logstd_i]), PT_F(c->new_ratio),
                                   PT_F(c->new_value), c->logs, PT_F(c->logits), ld,
                                   PT_F(c->w[p->logstd_i]), PT_F(c->mb_act), p->NH,
                                   PT_F(c->mb_logprob), PT_F(c->mb_adv), PT_F(c->mb_values),
                                   PT_F(c->seg_w), S, T, (float)cfg->clip_coef,
                                   (float)cfg->vf_clip_coef, (float)cfg->vf_coef, ent_coef);
    else
        pk_ppo_loss_discrete_cpu(PT_F(c->dlogits), PT_F(c->new_ratio), PT_F(c->new_value),
                                 c->logs, PT_F(c->logits), ld, PT_I(c->mb_act), p->act_sizes,
                                 p->NH, PT_F(c->mb_logprob), PT_F(c->mb_adv), PT_F(c->mb_values),
                                 PT_F(c->seg_w), S, T, (float)cfg->clip_coef,
                                 (float)cfg->vf_clip_coef, (float)cfg->vf_coef, ent_coef);

    // Decoder: dW_dec = dlogits^T top, d top = dlogits W_dec.
    float* dy = PT_F(c->dx[0]);
    float* dx = PT_F(c->dx[1]);
    pk_linear_backward_cpu(dy, PT_F(c->g[p->dec_i]), PT_F(c->dlogits), top, PT_F(c->w[p->dec_i]),
                           M, H, ld, 0.0f, 0.0f);
    for (int l = L - 1; l >= 0; l--) {
        const float* kzp = PT_F(c->kzp) + (int64_t)l * M * 3 * H;
        const float* h0 = p->reset_state ? NULL : PT_F(c->mb_h0) + (int64_t)l * S * H;
        // dx = highway part, then += dkzp W_l; dW_l = dkzp^T x_l.
        pk_mingru_scan_backward_cpu(PT_F(c->dkzp), dx, dy, NULL, kzp, xs + l * MH,
                                    PT_F(c->hs) + l * MH, h0, reset, S, T, H);
        pk_linear_backward_cpu(dx, PT_F(c->g[p->layer_i0 + l]), PT_F(c->dkzp), xs + l * MH,
                               PT_F(c->w[p->layer_i0 + l]), M, H, 3 * H, 1.0f, 0.0f);
        float* tmp = dy;
        dy = dx;
        dx = tmp;
    }
    // Encoder: weight gradient only.
    pk_linear_backward_cpu(NULL, PT_F(c->g[p->enc_i]), dy, PT_F(c->mb_obs), PT_F(c->w[p->enc_i]),
                           M, p->OBS, H, 0.0f, 0.0f);
}

static void scatter(CpuTrainer* c) {
    const TrainerPlan* p = c->p;
    int T = p->T;
    const int32_t* idx = PT_I(c->idx);
    for (int s = 0; s < p->S; s++) {
        int64_t dst = (int64_t)idx[s] * T, src = (int64_t)s * T;
        memcpy(PT_F(c->ratio) + dst, PT_F(c->new_ratio) + src, (size_t)T * 4);
        memcpy(PT_F(c->values_live) + dst, PT_F(c->new_value) + src, (size_t)T * 4);
    }
}

static int train(CpuTrainer* c, PufferEpochLogs* logs, char* err, size_t len) {
    TrainerPlan* p = c->p;
    const PufferTrainerConfig* cfg = &p->cfg;
    double start = puffer_now();
    int64_t n = (int64_t)p->A * p->T;
    float lr = puffer_plan_lr(p), ent_coef = puffer_plan_ent_coef(p), beta = puffer_plan_beta(p);
    for (int64_t i = 0; i < n; i++) PT_F(c->ratio)[i] = 1.0f;
    memcpy(c->values_live.data, c->values.data, (size_t)n * 4);
    memset(c->logs, 0, sizeof(c->logs));
    double norm_sum = 0.0;
    uint64_t* prio_counter = &c->counters[p->NB];

    for (int mb = 0; mb < p->num_minibatches; mb++) {
        pk_advantage_cpu(PT_F(c->adv), PT_F(c->values_live), PT_F(c->rewards), PT_F(c->dones),
                         PT_F(c->ratio), p->A, p->T, (float)cfg->gamma, (float)cfg->gae_lambda,
                         (float)cfg->vtrace_rho_clip, (float)cfg->vtrace_c_clip, 1.0f);
        if (mb == 0) logs->explained_variance = explained_variance(PT_F(c->values), PT_F(c->adv), n);
        pk_prio_weights_cpu(PT_F(c->probs), PT_D(c->cdf), PT_F(c->adv), p->A, p->T,
                            (float)cfg->prio_alpha);
        pk_prio_sample_cpu(PT_I(c->idx), PT_F(c->seg_w), PT_F(c->probs), PT_D(c->cdf), p->A, p->S,
                           beta, p->prio_seed, prio_counter);
        gather(c);
        forward_backward(c, ent_coef);
        if (p->world_size > 1) {
            if (p->allreduce(PT_F(c->g[0]), p->flat_numel, p->allreduce_ctx) != 0)
                return puffer_fail(err, len, "host all-reduce of the gradients failed");
        }
        norm_sum += pk_muon_cpu(PT_F(c->w[0]), PT_F(c->g[0]), PT_F(c->momentum), p->offsets,
                                p->rows, p->cols, p->num_tensors, &lr, (float)cfg->beta1,
                                (float)cfg->max_grad_norm, 0.0f, PT_F(c->muon_ws));
        scatter(c);
    }

    float count = c->logs[PK_LOG_COUNT] > 0 ? c->logs[PK_LOG_COUNT] : 1.0f;
    logs->policy_loss = c->logs[PK_LOG_POLICY] / count;
    logs->value_loss = c->logs[PK_LOG_VALUE] / count;
    logs->entropy = c->logs[PK_LOG_ENTROPY] / count;
    logs->total_loss = c->logs[PK_LOG_TOTAL] / count;
    logs->old_kl = c->logs[PK_LOG_OLD_KL] / count;
    logs->kl = c->logs[PK_LOG_KL] / count;
    logs->clipfrac = c->logs[PK_LOG_CLIPFRAC] / count;
    logs->grad_norm = (float)(norm_sum / p->num_minibatches);
    logs->learning_rate = lr;
    logs->trained = 1;
    p->epoch += 1;
    logs->train = puffer_now() - start;
    return 0;
}

int puffer_cpu_epoch(CpuTrainer* c, int do_train, PufferEpochLogs* logs, char* err, size_t len) {
    rollout(c, logs);
    if (!do_train) return 0;
    return train(c, logs, err, len);
}

int puffer_cpu_rollout(CpuTrainer* c, int field, float* out) {
    const TrainerPlan* p = c->p;
    int64_t n = (int64_t)p->A * p->T;
    switch (field) {
        case PUFFER_ROLLOUT_OBS: memcpy(out, c->obs.data, (size_t)n * p->OBS * 4); break;
        case PUFFER_ROLLOUT_ACTIONS:
            for (int64_t i = 0; i < n * p->NH; i++)
                out[i] = p->continuous ? PT_F(c->actions)[i] : (float)PT_I(c->actions)[i];
            break;
        case PUFFER_ROLLOUT_LOGPROB: memcpy(out, c->logprob.data, (size_t)n * 4); break;
        case PUFFER_ROLLOUT_VALUES: memcpy(out, c->values.data, (size_t)n * 4); break;
        case PUFFER_ROLLOUT_REWARDS: memcpy(out, c->rewards.data, (size_t)n * 4); break;
        case PUFFER_ROLLOUT_DONES: memcpy(out, c->dones.data, (size_t)n * 4); break;
        default: return -1;
    }
    return 0;
}
