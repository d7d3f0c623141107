// policy.c: see policy.h. Everything is allocated in web_policy_create; acting allocates nothing.
#include "policy.h"

#include <float.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels.h"

struct WebPolicy {
    int obs_size, hidden, layers, agents, num_atns, continuous;
    int logit_dim;  // D: sum of discrete sizes, or the number of continuous dims
    int32_t act_sizes[PK_MAX_HEADS];
    float* weights;
    const float *encoder, *decoder, *logstd, *layer0;
    float *state, *obs, *x, *y, *kzp, *logits, *reset, *logprob, *value;
    int32_t* sampled;
    uint64_t seed, counter;
};

static void fail(char* err, size_t len, const char* fmt, ...) {
    if (err == NULL || len == 0) return;
    va_list args;
    va_start(args, fmt);
    vsnprintf(err, len, fmt, args);
    va_end(args);
}

WebPolicy* web_policy_create(int obs_size, int num_atns, const int* act_sizes, int hidden_size,
                             int num_layers, int agents, const float* weights, size_t num_weights,
                             uint64_t seed, char* err, size_t err_len) {
    if (obs_size < 1 || hidden_size < 1 || num_layers < 0 || agents < 1) {
        fail(err, err_len, "bad policy shape: obs %d, hidden %d, layers %d, agents %d",
             obs_size, hidden_size, num_layers, agents);
        return NULL;
    }
    if (num_atns < 1 || num_atns > PK_MAX_HEADS) {
        fail(err, err_len, "%d action heads (allowed 1..%d)", num_atns, PK_MAX_HEADS);
        return NULL;
    }
    int continuous = act_sizes[0] == 1, D = 0;
    for (int i = 0; i < num_atns; i++) {
        if (act_sizes[i] < 1 || (act_sizes[i] == 1) != continuous) {
            fail(err, err_len, "action sizes must be all 1 (continuous) or all > 1 (discrete), "
                 "got %d at head %d", act_sizes[i], i);
            return NULL;
        }
        D += act_sizes[i];
    }
    size_t H = (size_t)hidden_size;
    size_t expected = H * obs_size + (D + 1) * H + (continuous ? (size_t)D : 0)
                      + (size_t)num_layers * 3 * H * H;
    if (num_weights != expected) {
        fail(err, err_len, "the checkpoint holds %zu weights, a MinGRU policy with obs %d, "
             "hidden %d, %d layers and %d action outputs has %zu", num_weights, obs_size,
             hidden_size, num_layers, D, expected);
        return NULL;
    }
    WebPolicy* p = (WebPolicy*)calloc(1, sizeof(WebPolicy));
    if (p == NULL) {
        fail(err, err_len, "out of memory");
        return NULL;
    }
    p->obs_size = obs_size;
    p->hidden = hidden_size;
    p->layers = num_layers;
    p->agents = agents;
    p->num_atns = num_atns;
    p->continuous = continuous;
    p->logit_dim = D;
    for (int i = 0; i < num_atns; i++) p->act_sizes[i] = act_sizes[i];
    p->seed = seed;
    size_t A = (size_t)agents;
    p->weights = (float*)malloc(num_weights * sizeof(float));
    p->state = (float*)calloc((size_t)num_layers * A * H + 1, sizeof(float));
    p->obs = (float*)malloc(A * obs_size * sizeof(float));
    p->x = (float*)malloc(A * H * sizeof(float));
    p->y = (float*)malloc(A * H * sizeof(float));
    p->kzp = (float*)malloc(A * 3 * H * sizeof(float));
    p->logits = (float*)calloc(A * (D + 1), sizeof(float));
    p->reset = (float*)calloc(A, sizeof(float));
    p->logprob = (float*)malloc(A * sizeof(float));
    p->value = (float*)malloc(A * sizeof(float));
    p->sampled = (int32_t*)malloc(A * num_atns * sizeof(int32_t));
    if (!p->weights || !p->state || !p->obs || !p->x || !p->y || !p->kzp || !p->logits
            || !p->reset || !p->logprob || !p->value || !p->sampled) {
        web_policy_destroy(p);
        fail(err, err_len, "out of memory");
        return NULL;
    }
    memcpy(p->weights, weights, num_weights * sizeof(float));
    p->encoder = p->weights;
    p->decoder = p->encoder + H * obs_size;
    p->logstd = p->decoder + (D + 1) * H;
    p->layer0 = p->logstd + (continuous ? D : 0);
    return p;
}

static int argmax(const float* v, int n) {
    int best = 0;
    for (int i = 1; i < n; i++)
        if (v[i] > v[best]) best = i;
    return best;
}

void web_policy_act(WebPolicy* p, const void* obs, int obs_u8, const float* dones, int mode,
                    float* actions) {
    int A = p->agents, H = p->hidden, OBS = p->obs_size, D = p->logit_dim, ld = D + 1;
    size_t cells = (size_t)A * OBS;
    if (obs_u8) {
        const uint8_t* src = (const uint8_t*)obs;
        for (size_t i = 0; i < cells; i++) p->obs[i] = (float)src[i];
    } else {
        memcpy(p->obs, obs, cells * sizeof(float));
    }
    for (int a = 0; a < A; a++) p->reset[a] = dones ? dones[a] : 0.0f;

    float *x = p->x, *y = p->y;
    pk_linear_forward_cpu(x, p->obs, p->encoder, A, OBS, H);
    for (int l = 0; l < p->layers; l++) {
        const float* w = p->layer0 + (size_t)l * 3 * H * H;
        pk_linear_forward_cpu(p->kzp, x, w, A, H, 3 * H);
        pk_mingru_step_cpu(y, p->state + (size_t)l * A * H, p->kzp, x, p->reset, A, H);
        float* swap = x;
        x = y;
        y = swap;
    }
    pk_linear_forward_cpu(p->logits, x, p->decoder, A, H, ld);

    if (p->continuous) {
        for (int a = 0; a < A; a++)
            for (int d = 0; d < D; d++) {
                float m = p->logits[(size_t)a * ld + d];
                actions[(size_t)a * D + d] = m == m ? m : 0.0f;  // NaN from a diverged policy: 0
            }
        return;
    }
    if (mode == WEB_POLICY_ARGMAX) {
        for (int a = 0; a < A; a++) {
            const float* l = p->logits + (size_t)a * ld;
            for (int h = 0, off = 0; h < p->num_atns; off += p->act_sizes[h], h++)
                actions[(size_t)a * p->num_atns + h] = (float)argmax(l + off, p->act_sizes[h]);
        }
        return;
    }
    pk_sample_discrete_cpu(p->sampled, p->logprob, p->value, p->logits, ld, p->act_sizes,
                           p->num_atns, A, p->seed, &p->counter, 0);
    for (size_t i = 0; i < (size_t)A * p->num_atns; i++) actions[i] = (float)p->sampled[i];
}

const float* web_policy_logits(const WebPolicy* p) { return p->logits; }

void web_policy_reset(WebPolicy* p) {
    memset(p->state, 0, (size_t)p->layers * p->agents * p->hidden * sizeof(float));
}

void web_policy_destroy(WebPolicy* p) {
    if (p == NULL) return;
    free(p->weights);
    free(p->state);
    free(p->obs);
    free(p->x);
    free(p->y);
    free(p->kzp);
    free(p->logits);
    free(p->reset);
    free(p->logprob);
    free(p->value);
    free(p->sampled);
    free(p);
}
