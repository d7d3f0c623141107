// trainer.c: the parts of the native trainer that do not depend on the device: config keys and
// validation, the plan (sizes, parameter layout, schedules), weight init, and the ABI functions,
// which dispatch to trainer_cpu.c or trainer_cuda.cu.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "rng.h"
#include "trainer_impl.h"

// ---- config ------------------------------------------------------------------------------------

typedef struct {
    const char* key;
    size_t offset;
    double value;   // default (reference 7.1)
} ConfigKey;

#define KEY(name, def) {#name, offsetof(PufferTrainerConfig, name), def}
static const ConfigKey CONFIG_KEYS[] = {
    KEY(seed, 73), KEY(reset_state, 1), KEY(cudagraphs, 10), KEY(fused_rollout, 1),
    KEY(hidden_size, 128), KEY(num_layers, 4),
    KEY(total_timesteps, 10000000), KEY(learning_rate, 0.015), KEY(anneal_lr, 1),
    KEY(min_lr_ratio, 0.0), KEY(gamma, 0.995), KEY(gae_lambda, 0.90), KEY(replay_ratio, 1.0),
    KEY(clip_coef, 0.2), KEY(vf_coef, 2.0), KEY(vf_clip_coef, 0.2), KEY(max_grad_norm, 1.5),
    KEY(ent_coef, 0.001), KEY(anneal_ent_coef, 0), KEY(min_ent_coef_ratio, 0.1),
    KEY(beta1, 0.95), KEY(minibatch_size, 8192), KEY(horizon, 64), KEY(vtrace_rho_clip, 1.0),
    KEY(vtrace_c_clip, 1.0), KEY(prio_alpha, 0.8), KEY(prio_beta0, 0.2),
    KEY(rank, 0), KEY(world_size, 1), KEY(gpu_id, 0),
};
#undef KEY
#define NUM_CONFIG_KEYS ((int)(sizeof(CONFIG_KEYS) / sizeof(CONFIG_KEYS[0])))

int puffer_fail(char* err, size_t len, const char* fmt, ...) {
    if (err && len) {
        va_list args;
        va_start(args, fmt);
        vsnprintf(err, len, fmt, args);
        va_end(args);
    }
    return -1;
}

void puffer_config_defaults(PufferTrainerConfig* cfg) {
    memset(cfg, 0, sizeof(*cfg));
    for (int i = 0; i < NUM_CONFIG_KEYS; i++)
        *(double*)((char*)cfg + CONFIG_KEYS[i].offset) = CONFIG_KEYS[i].value;
}

int puffer_config_set(PufferTrainerConfig* cfg, const char* key, double value, char* err,
                      size_t len) {
    for (int i = 0; i < NUM_CONFIG_KEYS; i++) {
        if (strcmp(CONFIG_KEYS[i].key, key) == 0) {
            if (!isfinite(value))
                return puffer_fail(err, len, "trainer config %s must be finite (got %g)", key, value);
            *(double*)((char*)cfg + CONFIG_KEYS[i].offset) = value;
            return 0;
        }
    }
    return puffer_fail(err, len, "unknown native trainer config key '%s'", key);
}

const char* const* puffer_config_keys(void) {
    static const char* keys[NUM_CONFIG_KEYS + 1];
    for (int i = 0; i < NUM_CONFIG_KEYS; i++) keys[i] = CONFIG_KEYS[i].key;
    keys[NUM_CONFIG_KEYS] = NULL;
    return keys;
}

// ---- plan --------------------------------------------------------------------------------------

static void add_tensor(TrainerPlan* p, const char* name, int rows, int cols, int64_t* offset) {
    int i = p->num_tensors++;
    snprintf(p->names[i], sizeof(p->names[i]), "%s", name);
    p->rows[i] = rows;
    p->cols[i] = cols;
    p->offsets[i] = *offset;
    int64_t n = (int64_t)rows * cols;
    p->num_params += n;
    *offset += (n + PUFFER_PARAM_ALIGN - 1) / PUFFER_PARAM_ALIGN * PUFFER_PARAM_ALIGN;
}

int puffer_plan_init(TrainerPlan* p, const PufferTrainerConfig* cfg, const PufferEnvHooks* env,
                     int device, char* err, size_t len) {
    memset(p, 0, sizeof(*p));
    p->cfg = *cfg;
    p->env = *env;
    p->device = device;
    if (env->vec == NULL || env->info == NULL || env->step_buffer == NULL || env->reset == NULL)
        return puffer_fail(err, len, "trainer: incomplete env hooks");
    const PufferVec* vec = env->vec;
    const PufferEnvInfo* info = env->info;

    p->A = vec->total_agents;
    p->T = (int)cfg->horizon;
    p->OBS = info->obs_size;
    p->obs_u8 = info->obs_dtype == PUFFER_OBS_U8;
    p->NH = info->num_atns;
    p->H = (int)cfg->hidden_size;
    p->L = (int)cfg->num_layers;
    p->NB = vec->num_buffers;
    p->reset_state = cfg->reset_state != 0.0;
    p->rank = (int)cfg->rank;
    p->world_size = (int)cfg->world_size;

    if (p->NH < 1 || p->NH > PK_MAX_HEADS)
        return puffer_fail(err, len, "env %s has %d action heads (1..%d supported)", info->name,
                           p->NH, PK_MAX_HEADS);
    int n_cont = 0;
    p->D = 0;
    for (int h = 0; h < p->NH; h++) {
        p->act_sizes[h] = info->act_sizes[h];
        if (p->act_sizes[h] < 1)
            return puffer_fail(err, len, "env %s: action head %d has size %d", info->name, h,
                               p->act_sizes[h]);
        n_cont += p->act_sizes[h] == 1;
        p->D += p->act_sizes[h];
    }
    if (n_cont > 0 && n_cont != p->NH)
        return puffer_fail(err, len, "env %s mixes continuous and discrete action heads, which "
                           "the native trainer does not support", info->name);
    p->continuous = n_cont == p->NH;
    p->ld = p->D + 1;

    if (p->T < 1) return puffer_fail(err, len, "train.horizon must be >= 1 (got %d)", p->T);
    if (p->H < 1) return puffer_fail(err, len, "policy.hidden_size must be >= 1 (got %d)", p->H);
    if (p->L < 0 || p->L > PUFFER_MAX_LAYERS)
        return puffer_fail(err, len, "policy.num_layers must be in [0, %d] (got %d)",
                           PUFFER_MAX_LAYERS, p->L);
    if (p->NB < 1 || p->NB > PUFFER_MAX_BUFFERS)
        return puffer_fail(err, len, "vec.num_buffers must be in [1, %d] for the native trainer "
                           "(got %d)", PUFFER_MAX_BUFFERS, p->NB);
    int mb = (int)cfg->minibatch_size;
    int64_t batch = (int64_t)p->A * p->T;
    if (mb < p->T || mb % p->T != 0)
        return puffer_fail(err, len, "train.minibatch_size (%d) must be a positive multiple of "
                           "train.horizon (%d)", mb, p->T);
    if (mb > batch)
        return puffer_fail(err, len, "train.minibatch_size (%d) exceeds the batch (total_agents "
                           "%d x horizon %d = %lld)", mb, p->A, p->T, (long long)batch);
    if (p->world_size < 1 || p->rank < 0 || p->rank >= p->world_size)
        return puffer_fail(err, len, "bad rank %d / world_size %d", p->rank, p->world_size);
    if (cfg->replay_ratio <= 0.0)
        return puffer_fail(err, len, "train.replay_ratio must be > 0 (got %g)", cfg->replay_ratio);
    if (cfg->gamma < 0.0 || cfg->gamma > 1.0 || cfg->gae_lambda < 0.0 || cfg->gae_lambda > 1.0)
        return puffer_fail(err, len, "train.gamma and train.gae_lambda must be in [0, 1]");
    if (cfg->learning_rate < 0.0)
        return puffer_fail(err, len, "train.learning_rate must be >= 0");
    p->S = mb / p->T;
    p->M = mb;
    int64_t nmb = (int64_t)(cfg->replay_ratio * (double)batch / (double)mb);
    p->num_minibatches = nmb < 1 ? 1 : (int)nmb;
    int64_t epochs = (int64_t)(cfg->total_timesteps / (double)batch);
    p->total_epochs = epochs < 1 ? 1 : epochs;

    p->max_buf = 0;
    for (int b = 0; b <= p->NB; b++) p->buf_start[b] = vec->buffer_agent_start[b];
    for (int b = 0; b < p->NB; b++) {
        int n = p->buf_start[b + 1] - p->buf_start[b];
        if (n > p->max_buf) p->max_buf = n;
    }

    uint64_t seed = (uint64_t)(int64_t)cfg->seed;
    p->sample_seed = seed + (uint64_t)p->rank;
    p->prio_seed = (seed + (uint64_t)p->rank) ^ 0x9E3779B97F4A7C15ull;

    int64_t off = 0;
    p->enc_i = p->num_tensors;
    add_tensor(p, "encoder", p->H, p->OBS, &off);
    p->dec_i = p->num_tensors;
    add_tensor(p, "decoder", p->ld, p->H, &off);
    p->logstd_i = -1;
    if (p->continuous) {
        p->logstd_i = p->num_tensors;
        add_tensor(p, "logstd", 1, p->NH, &off);
    }
    p->layer_i0 = p->num_tensors;
    for (int l = 0; l < p->L; l++) {
        char name[24];
        snprintf(name, sizeof(name), "layers.%d", l);
        add_tensor(p, name, 3 * p->H, p->H, &off);
    }
    p->flat_numel = off;
    return 0;
}

void puffer_init_weights(const TrainerPlan* p, float* flat) {
    memset(flat, 0, (size_t)p->flat_numel * sizeof(float));
    uint64_t seed = (uint64_t)(int64_t)p->cfg.seed;
    for (int i = 0; i < p->num_tensors; i++) {
        if (i == p->logstd_i) continue;  // zeros
        double bound = i == p->enc_i ? sqrt(2.0) / sqrt((double)p->OBS) : 1.0 / sqrt((double)p->H);
        int64_t n = (int64_t)p->rows[i] * p->cols[i];
        float* w = flat + p->offsets[i];
        for (int64_t e = 0; e < n; e += 4) {
            uint32_t r[4];
            pk_philox_draw(seed, (uint32_t)(e / 4), (uint32_t)i, 0x1217ull, r);
            for (int j = 0; j < 4 && e + j < n; j++)
                w[e + j] = (float)((2.0 * pk_uniform(r[j]) - 1.0) * bound);
        }
    }
}

static double progress(const TrainerPlan* p) {
    double x = (double)p->epoch / (double)(p->total_epochs > 0 ? p->total_epochs : 1);
    return x < 0.0 ? 0.0 : (x > 1.0 ? 1.0 : x);
}

static float cosine(double value, double min_ratio, double x) {
    double low = min_ratio * value;
    return (float)(low + 0.5 * (value - low) * (1.0 + cos(M_PI * x)));
}

float puffer_plan_lr(const TrainerPlan* p) {
    if (p->cfg.anneal_lr == 0.0) return (float)p->cfg.learning_rate;
    return cosine(p->cfg.learning_rate, p->cfg.min_lr_ratio, progress(p));
}

float puffer_plan_ent_coef(const TrainerPlan* p) {
    if (p->cfg.anneal_ent_coef == 0.0) return (float)p->cfg.ent_coef;
    return cosine(p->cfg.ent_coef, p->cfg.min_ent_coef_ratio, progress(p));
}

float puffer_plan_beta(const TrainerPlan* p) {
    double b0 = p->cfg.prio_beta0, alpha = p->cfg.prio_alpha;
    return (float)(b0 + (1.0 - b0) * alpha * (double)p->epoch /
                   (double)(p->total_epochs > 0 ? p->total_epochs : 1));
}

double puffer_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

// ---- ABI ---------------------------------------------------------------------------------------

struct PufferTrainer {
    TrainerPlan plan;
    CpuTrainer* cpu;
    CudaTrainer* cuda;
};

int puffer_has_cuda(void) {
#ifdef PUFFER_WITH_CUDA
    return 1;
#else
    return 0;
#endif
}

int puffer_cuda_device_count(void) {
#ifdef PUFFER_WITH_CUDA
    int count = 0;
    pk_cuda_device_count(&count);
    return count;
#else
    return 0;
#endif
}

int puffer_nccl_unique_id(void* out128, char* err, size_t len) {
#ifdef PUFFER_WITH_CUDA
    return puffer_cuda_nccl_id(out128, err, len);
#else
    (void)out128;
    return puffer_fail(err, len, "this PufferLib was built without CUDA: no NCCL");
#endif
}

PufferTrainer* puffer_trainer_create(const PufferTrainerConfig* cfg, const PufferEnvHooks* env,
                                     int device, PufferAllReduceFn allreduce, void* allreduce_ctx,
                                     const void* nccl_id, char* err, size_t len) {
    PufferTrainer* t = (PufferTrainer*)calloc(1, sizeof(PufferTrainer));
    if (t == NULL) {
        puffer_fail(err, len, "out of memory");
        return NULL;
    }
    if (puffer_plan_init(&t->plan, cfg, env, device, err, len) != 0) {
        free(t);
        return NULL;
    }
    t->plan.allreduce = allreduce;
    t->plan.allreduce_ctx = allreduce_ctx;
    if (device == PUFFER_DEVICE_CPU) {
        if (t->plan.world_size > 1 && allreduce == NULL) {
            puffer_fail(err, len, "world_size %d on CPU needs a host all-reduce", t->plan.world_size);
            free(t);
            return NULL;
        }
        t->cpu = puffer_cpu_create(&t->plan, err, len);
        if (t->cpu == NULL) {
            free(t);
            return NULL;
        }
        return t;
    }
    if (device != PUFFER_DEVICE_CUDA) {
        puffer_fail(err, len, "unknown device %d", device);
        free(t);
        return NULL;
    }
#ifdef PUFFER_WITH_CUDA
    if (t->plan.world_size > 1 && nccl_id == NULL) {
        puffer_fail(err, len, "world_size %d on CUDA needs the NCCL unique id of rank 0",
                    t->plan.world_size);
        free(t);
        return NULL;
    }
    t->cuda = puffer_cuda_create(&t->plan, nccl_id, err, len);
    if (t->cuda == NULL) {
        free(t);
        return NULL;
    }
    return t;
#else
    (void)nccl_id;
    puffer_fail(err, len, "this PufferLib was built without CUDA (nvcc, cuBLAS and NCCL are "
                "needed at build time: pip install 'pufferlib[cuda]' then rebuild); use device cpu");
    free(t);
    return NULL;
#endif
}

void puffer_trainer_destroy(PufferTrainer* t) {
    if (t == NULL) return;
    if (t->cpu) puffer_cpu_destroy(t->cpu);
#ifdef PUFFER_WITH_CUDA
    if (t->cuda) puffer_cuda_destroy(t->cuda);
#endif
    free(t);
}

int puffer_trainer_epoch(PufferTrainer* t, int train, PufferEpochLogs* logs, char* err,
                         size_t len) {
    memset(logs, 0, sizeof(*logs));
    if (t->cpu) return puffer_cpu_epoch(t->cpu, train, logs, err, len);
#ifdef PUFFER_WITH_CUDA
    return puffer_cuda_epoch(t->cuda, train, logs, err, len);
#else
    return puffer_fail(err, len, "no trainer");
#endif
}

void puffer_trainer_info(const PufferTrainer* t, PufferTrainerInfo* out) {
    memset(out, 0, sizeof(*out));
    out->global_step = t->plan.global_step;
    out->epoch = t->plan.epoch;
    out->total_epochs = t->plan.total_epochs;
    out->num_params = t->plan.num_params;
    out->num_tensors = t->plan.num_tensors;
    out->agents = t->plan.A;
    out->horizon = t->plan.T;
    out->device = t->plan.device;
#if defined(PUFFER_WITH_CUDA) && !defined(PUFFER_FLOAT_BUILD)
    out->precision_bytes = t->cuda ? 2 : 4;
#else
    out->precision_bytes = 4;
#endif
#ifdef PUFFER_WITH_CUDA
    out->use_graphs = t->cuda ? puffer_cuda_graphs_on(t->cuda) : 0;
    out->fused_rollout = t->cuda ? puffer_cuda_fused_on(t->cuda) : 0;
#endif
}

const char* puffer_trainer_tensor_name(const PufferTrainer* t, int i) {
    if (i < 0 || i >= t->plan.num_tensors) return NULL;
    return t->plan.names[i];
}

void puffer_trainer_tensor_shape(const PufferTrainer* t, int i, int64_t shape[2]) {
    shape[0] = shape[1] = 0;
    if (i < 0 || i >= t->plan.num_tensors) return;
    shape[0] = t->plan.rows[i];
    shape[1] = t->plan.cols[i];
}

// Flat host copies for the CUDA path (one transfer of the whole arena).
#ifdef PUFFER_WITH_CUDA
static float* cuda_flat_copy(PufferTrainer* t, int which, char* err, size_t len) {
    float* host = (float*)malloc((size_t)t->plan.flat_numel * sizeof(float));
    if (host == NULL) {
        puffer_fail(err, len, "out of memory");
        return NULL;
    }
    if (puffer_cuda_get_flat(t->cuda, which, host, err, len) != 0) {
        free(host);
        return NULL;
    }
    return host;
}
#endif

static int check_index(const PufferTrainer* t, int i, char* err, size_t len) {
    if (i < 0 || i >= t->plan.num_tensors)
        return puffer_fail(err, len, "tensor index %d out of range [0, %d)", i, t->plan.num_tensors);
    return 0;
}

// Copies tensor i (or every tensor when i < 0, packed without padding) between flat and packed.
static void pack(const TrainerPlan* p, int i, const float* flat, float* out) {
    for (int k = i < 0 ? 0 : i; k < (i < 0 ? p->num_tensors : i + 1); k++) {
        int64_t n = (int64_t)p->rows[k] * p->cols[k];
        memcpy(out, flat + p->offsets[k], (size_t)n * sizeof(float));
        out += n;
    }
}

static void unpack(const TrainerPlan* p, int i, const float* in, float* flat) {
    for (int k = i < 0 ? 0 : i; k < (i < 0 ? p->num_tensors : i + 1); k++) {
        int64_t n = (int64_t)p->rows[k] * p->cols[k];
        memcpy(flat + p->offsets[k], in, (size_t)n * sizeof(float));
        in += n;
    }
}

static int get_flat(PufferTrainer* t, int which, int i, float* out, char* err, size_t len) {
    if (t->cpu) {
        pack(&t->plan, i, which == PUFFER_FLAT_WEIGHTS ? puffer_cpu_weights(t->cpu)
                                                      : puffer_cpu_momentum(t->cpu), out);
        return 0;
    }
#ifdef PUFFER_WITH_CUDA
    float* host = cuda_flat_copy(t, which, err, len);
    if (host == NULL) return -1;
    pack(&t->plan, i, host, out);
    free(host);
    return 0;
#else
    (void)which; (void)out;
    return puffer_fail(err, len, "no trainer");
#endif
}

static int set_flat(PufferTrainer* t, int which, int i, const float* in, char* err, size_t len) {
    if (t->cpu) {
        unpack(&t->plan, i, in, which == PUFFER_FLAT_WEIGHTS ? puffer_cpu_weights(t->cpu)
                                                           : puffer_cpu_momentum(t->cpu));
        return 0;
    }
#ifdef PUFFER_WITH_CUDA
    float* host = cuda_flat_copy(t, which, err, len);
    if (host == NULL) return -1;
    unpack(&t->plan, i, in, host);
    int rc = puffer_cuda_set_flat(t->cuda, which, host, err, len);
    free(host);
    return rc;
#else
    (void)which; (void)in;
    return puffer_fail(err, len, "no trainer");
#endif
}

int puffer_trainer_get_tensor(PufferTrainer* t, int i, float* out, char* err, size_t len) {
    if (check_index(t, i, err, len)) return -1;
    return get_flat(t, PUFFER_FLAT_WEIGHTS, i, out, err, len);
}

int puffer_trainer_set_tensor(PufferTrainer* t, int i, const float* in, char* err, size_t len) {
    if (check_index(t, i, err, len)) return -1;
    for (int64_t e = 0; e < (int64_t)t->plan.rows[i] * t->plan.cols[i]; e++)
        if (!isfinite(in[e]))
            return puffer_fail(err, len, "%s has a non-finite value at %lld", t->plan.names[i],
                               (long long)e);
    return set_flat(t, PUFFER_FLAT_WEIGHTS, i, in, err, len);
}

int puffer_trainer_get_momentum(PufferTrainer* t, float* out, char* err, size_t len) {
    return get_flat(t, PUFFER_FLAT_MOMENTUM, -1, out, err, len);
}

int puffer_trainer_set_momentum(PufferTrainer* t, const float* in, char* err, size_t len) {
    return set_flat(t, PUFFER_FLAT_MOMENTUM, -1, in, err, len);
}

int puffer_trainer_num_counters(const PufferTrainer* t) { return t->plan.NB + 1; }

int puffer_trainer_get_counters(PufferTrainer* t, uint64_t* out, char* err, size_t len) {
    if (t->cpu) {
        memcpy(out, puffer_cpu_counters(t->cpu), (size_t)(t->plan.NB + 1) * sizeof(uint64_t));
        return 0;
    }
#ifdef PUFFER_WITH_CUDA
    return puffer_cuda_get_counters(t->cuda, out, err, len);
#else
    return puffer_fail(err, len, "no trainer");
#endif
}

int puffer_trainer_set_counters(PufferTrainer* t, const uint64_t* in, int64_t global_step,
                                int64_t epoch, char* err, size_t len) {
    if (global_step < 0 || epoch < 0) return puffer_fail(err, len, "negative counters");
    if (t->cpu) {
        memcpy(puffer_cpu_counters(t->cpu), in, (size_t)(t->plan.NB + 1) * sizeof(uint64_t));
    } else {
#ifdef PUFFER_WITH_CUDA
        if (puffer_cuda_set_counters(t->cuda, in, err, len) != 0) return -1;
#endif
    }
    t->plan.global_step = global_step;
    t->plan.epoch = epoch;
    return 0;
}

int puffer_trainer_rollout_width(const PufferTrainer* t, int field) {
    switch (field) {
        case PUFFER_ROLLOUT_OBS: return t->plan.OBS;
        case PUFFER_ROLLOUT_ACTIONS: return t->plan.NH;
        case PUFFER_ROLLOUT_LOGPROB: case PUFFER_ROLLOUT_VALUES: case PUFFER_ROLLOUT_REWARDS:
        case PUFFER_ROLLOUT_DONES: return 1;
        default: return 0;
    }
}

int puffer_trainer_get_rollout(PufferTrainer* t, int field, float* out, char* err, size_t len) {
    if (field < 0 || field >= PUFFER_ROLLOUT_FIELDS)
        return puffer_fail(err, len, "unknown rollout field %d", field);
    if (t->cpu) return puffer_cpu_rollout(t->cpu, field, out);
#ifdef PUFFER_WITH_CUDA
    return puffer_cuda_rollout(t->cuda, field, out, err, len);
#else
    return puffer_fail(err, len, "no trainer");
#endif
}
