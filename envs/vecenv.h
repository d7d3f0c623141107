// vecenv.h: the vector env runtime, compiled inside each env library.
//
// binding.c defines, then includes this file:
//   #define Env <struct type>        the env struct (see envs/ocean.h for required fields)
//   #define ENV_NAME "<name>"
//   #define OBS_SIZE <int>           per agent
//   #define OBS_DTYPE PUFFER_OBS_U8  or PUFFER_OBS_F32 (must match the observations field)
//   #define NUM_ATNS <int>
//   #define ACT_SIZES {a, b, ...}    one entry per head, 1 = continuous dimension
//   static void my_init(Env* env, Kwargs* kw);   set num_agents, read kwargs with kw_get
//   static void my_log(Log* log, PufferLogOut* out);  export fields with log_put
// and c_reset, c_step, c_render, c_close from the env header.
#ifndef PUFFER_VECENV_H
#define PUFFER_VECENV_H

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "env_abi.h"

#define PUFFER_EXPORT __attribute__((visibility("default")))

// Forward declarations of the binding's hooks; the binding defines them after this include.
typedef struct Kwargs Kwargs;
static void my_init(Env* env, Kwargs* kw);
static void my_log(Log* log, PufferLogOut* out);

struct Kwargs {
    int count;
    const char* const* keys;
    const double* values;
    unsigned char used[PUFFER_MAX_LOG_KEYS];
    int failed;
    char message[256];
};

// my_init calls this for a kwarg it cannot accept; the vec creation then fails with it.
static void kw_fail(Kwargs* kw, const char* fmt, ...) {
    if (kw == NULL || kw->failed) return;
    va_list args;
    va_start(args, fmt);
    vsnprintf(kw->message, sizeof(kw->message), fmt, args);
    va_end(args);
    kw->failed = 1;
}

// Value of an [env] key, or default_value when the config does not set it.
static double kw_get(Kwargs* kw, const char* key, double default_value) {
    if (kw == NULL) return default_value;
    for (int i = 0; i < kw->count && i < PUFFER_MAX_LOG_KEYS; i++) {
        if (strcmp(kw->keys[i], key) == 0) {
            kw->used[i] = 1;
            return kw->values[i];
        }
    }
    return default_value;
}

static void log_put(PufferLogOut* out, const char* key, float value) {
    if (out->count >= PUFFER_MAX_LOG_KEYS) return;
    out->keys[out->count] = key;
    out->values[out->count] = value;
    out->count++;
}

typedef struct {
    PufferVec pub;  // first member: a PufferVec* is a VecImpl*
    Env* envs;
    int* env_agent_start;
    int* env_num_agents;
    int* buffer_env_start;
    int* buffer_agent_start;
    PufferAllocator allocator;
    int window_open;
    int capture_key;  // PUFFER_CAPTURE_* pressed during the last render
    struct PufferVecDevice* dev;  // non-NULL once puffer_vec_to_device moved the envs to the GPU
} VecImpl;

#ifdef PUFFER_VEC_CUDA
// The device side (vecenv_cuda.h, in the CUDA variant of the library only).
static void dev_close(VecImpl* v);
static void dev_reset(VecImpl* v, uint64_t seed);
static void dev_step(VecImpl* v, int first_env, int end_env);
static void dev_log_sums(VecImpl* v, float* sums, int fields, int clear);
static void dev_pull_env(VecImpl* v, int e);
static void dev_push_env(VecImpl* v, int e);
#define PUFFER_ON_DEVICE(v) ((v)->dev != NULL)
#else
#define PUFFER_ON_DEVICE(v) 0
#endif

static const int puffer_act_sizes[NUM_ATNS] = ACT_SIZES;

static const PufferEnvInfo puffer_info = {
    PUFFER_ENV_ABI_VERSION, ENV_NAME, OBS_SIZE, OBS_DTYPE,
    OBS_DTYPE == PUFFER_OBS_U8 ? 1 : 4, NUM_ATNS, puffer_act_sizes, PUFFER_RENDER,
};

PUFFER_EXPORT const PufferEnvInfo* puffer_env_info(void) { return &puffer_info; }

static void* default_alloc(size_t bytes, void* ctx) {
    (void)ctx;
    size_t rounded = (bytes + 63) / 64 * 64;
    void* p = aligned_alloc(64, rounded ? rounded : 64);
    if (p) memset(p, 0, rounded ? rounded : 64);
    return p;
}

static void default_free(void* ptr, void* ctx) {
    (void)ctx;
    free(ptr);
}

static void set_err(char* err, size_t len, const char* fmt, ...) {
    if (err == NULL || len == 0) return;
    va_list args;
    va_start(args, fmt);
    vsnprintf(err, len, fmt, args);
    va_end(args);
}

// splitmix64: one well-mixed 32-bit seed per env from the run seed (host and device alike).
PUFFER_FN uint32_t env_seed(uint64_t seed, uint64_t index) {
    uint64_t z = seed * 0x9E3779B97F4A7C15ull + index + 0x632BE59BD9B4E019ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    uint32_t s = (uint32_t)(z ^ (z >> 32));
    return s ? s : 1u;
}

// Points env's five buffers at its rows of the given (host or device) buffers.
static void point_env_at(Env* env, int row, void* obs_base, float* actions, float* rewards,
                         float* terminals, float* truncations) {
    void* obs = (char*)obs_base + (size_t)row * OBS_SIZE * puffer_info.obs_elem_size;
#ifdef __cplusplus
    env->observations = (decltype(env->observations))obs;  // nvcc compiles this file as C++
#else
    env->observations = obs;
#endif
    env->actions = actions + (size_t)row * NUM_ATNS;
    env->rewards = rewards + row;
    env->terminals = terminals + row;
    env->truncations = truncations + row;
}

static void point_env_at_rows(VecImpl* v, int e) {
    point_env_at(&v->envs[e], v->env_agent_start[e], v->pub.observations, v->pub.actions,
                 v->pub.rewards, v->pub.terminals, v->pub.truncations);
}

PUFFER_EXPORT void puffer_vec_close(PufferVec* vec) {
    if (vec == NULL) return;
    VecImpl* v = (VecImpl*)vec;
#ifdef PUFFER_VEC_CUDA
    if (v->dev) dev_close(v);
#endif
    if (v->envs) {
        for (int e = 0; e < v->pub.num_envs; e++) c_close(&v->envs[e]);
    }
    PufferAllocator* a = &v->allocator;
    if (v->pub.observations) a->free(v->pub.observations, a->ctx);
    if (v->pub.actions) a->free(v->pub.actions, a->ctx);
    if (v->pub.rewards) a->free(v->pub.rewards, a->ctx);
    if (v->pub.terminals) a->free(v->pub.terminals, a->ctx);
    if (v->pub.truncations) a->free(v->pub.truncations, a->ctx);
    free(v->envs);
    free(v->env_agent_start);
    free(v->env_num_agents);
    free(v->buffer_env_start);
    free(v->buffer_agent_start);
    free(v);
}

static int check_spec(const PufferVecSpec* s, char* err, size_t len) {
    if (s->total_agents < 1) {
        set_err(err, len, "vec.total_agents must be >= 1 (got %d)", s->total_agents);
        return 1;
    }
    if (s->num_buffers < 1 || s->num_buffers > s->total_agents) {
        set_err(err, len, "vec.num_buffers must be in [1, total_agents=%d] (got %d)",
                s->total_agents, s->num_buffers);
        return 1;
    }
    if (s->total_agents % s->num_buffers != 0) {
        set_err(err, len, "vec.total_agents (%d) must be a multiple of vec.num_buffers (%d)",
                s->total_agents, s->num_buffers);
        return 1;
    }
    if (s->num_threads < 1) {
        set_err(err, len, "vec.num_threads must be >= 1 (got %d)", s->num_threads);
        return 1;
    }
    if (s->num_kwargs > PUFFER_MAX_LOG_KEYS) {
        set_err(err, len, "too many [env] keys (%d, at most %d)", s->num_kwargs, PUFFER_MAX_LOG_KEYS);
        return 1;
    }
    return 0;
}

// Every [env] key must have been read by my_init; the first unread one is an error.
static int check_unused_kwargs(const Kwargs* kw, char* err, size_t len) {
    for (int i = 0; i < kw->count; i++) {
        if (!kw->used[i]) {
            set_err(err, len, "unknown [env] key '%s' for env %s", kw->keys[i], ENV_NAME);
            return 1;
        }
    }
    return 0;
}

// Agents in one env made with these kwargs (0 and a message in err on failure).
PUFFER_EXPORT int puffer_env_agents(const PufferVecSpec* spec, char* err, size_t len) {
    Kwargs kw = {spec->num_kwargs, spec->kwarg_keys, spec->kwarg_values, {0}, 0, {0}};
    if (spec->num_kwargs > PUFFER_MAX_LOG_KEYS) {
        set_err(err, len, "too many [env] keys (%d)", spec->num_kwargs);
        return 0;
    }
    Env* env = (Env*)calloc(1, sizeof(Env));
    if (env == NULL) { set_err(err, len, "out of memory"); return 0; }
    env->rng = 1;
    my_init(env, &kw);
    int agents = env->num_agents;
    c_close(env);
    free(env);
    if (kw.failed) { set_err(err, len, "env %s: %s", ENV_NAME, kw.message); return 0; }
    if (check_unused_kwargs(&kw, err, len)) return 0;
    if (agents < 1) set_err(err, len, "env %s: my_init set num_agents = %d", ENV_NAME, agents);
    return agents;
}

// Creates envs until total_agents agents exist, then splits them into buffers.
PUFFER_EXPORT PufferVec* puffer_vec_create(const PufferVecSpec* spec, char* err, size_t len) {
    if (check_spec(spec, err, len)) return NULL;
    VecImpl* v = (VecImpl*)calloc(1, sizeof(VecImpl));
    if (v == NULL) { set_err(err, len, "out of memory"); return NULL; }
    v->allocator = spec->allocator ? *spec->allocator
                                   : (PufferAllocator){default_alloc, default_free, NULL};
    int n = spec->total_agents;
    v->envs = (Env*)calloc((size_t)n, sizeof(Env));
    v->env_agent_start = (int*)calloc((size_t)n + 1, sizeof(int));
    v->env_num_agents = (int*)calloc((size_t)n, sizeof(int));
    v->buffer_env_start = (int*)calloc((size_t)spec->num_buffers + 1, sizeof(int));
    v->buffer_agent_start = (int*)calloc((size_t)spec->num_buffers + 1, sizeof(int));
    if (!v->envs || !v->env_agent_start || !v->env_num_agents || !v->buffer_env_start
            || !v->buffer_agent_start) {
        set_err(err, len, "out of memory");
        puffer_vec_close(&v->pub);
        return NULL;
    }

    Kwargs kw = {spec->num_kwargs, spec->kwarg_keys, spec->kwarg_values, {0}, 0, {0}};
    int agents = 0, num_envs = 0;
    while (agents < n) {
        Env* env = &v->envs[num_envs];
        env->rng = env_seed(spec->seed, (uint64_t)num_envs);
        my_init(env, &kw);
        v->pub.num_envs = ++num_envs;  // so close() releases what my_init allocated
        if (kw.failed) {
            set_err(err, len, "env %s: %s", ENV_NAME, kw.message);
            puffer_vec_close(&v->pub);
            return NULL;
        }
        if (env->num_agents < 1) {
            set_err(err, len, "env %s: my_init set num_agents = %d (must be >= 1)",
                    ENV_NAME, env->num_agents);
            puffer_vec_close(&v->pub);
            return NULL;
        }
        if (num_envs == 1 && check_unused_kwargs(&kw, err, len)) {
            puffer_vec_close(&v->pub);
            return NULL;
        }
        v->env_agent_start[num_envs - 1] = agents;
        v->env_num_agents[num_envs - 1] = env->num_agents;
        agents += env->num_agents;
    }
    v->env_agent_start[num_envs] = agents;
    if (agents != n) {
        set_err(err, len, "vec.total_agents (%d) must be a multiple of the %d agents per %s env",
                n, v->envs[0].num_agents, ENV_NAME);
        puffer_vec_close(&v->pub);
        return NULL;
    }

    // Buffers: equal agent counts, cut only at env boundaries.
    int per_buffer = n / spec->num_buffers, b = 0;
    for (int e = 0; e < num_envs; e++) {
        if (v->env_agent_start[e] == b * per_buffer) v->buffer_env_start[b++] = e;
        else if (v->env_agent_start[e] > b * per_buffer && b < spec->num_buffers) {
            set_err(err, len, "vec.num_buffers (%d) splits a multi-agent %s env: "
                    "total_agents/num_buffers must be a multiple of its agents per env",
                    spec->num_buffers, ENV_NAME);
            puffer_vec_close(&v->pub);
            return NULL;
        }
    }
    if (b != spec->num_buffers) {
        set_err(err, len, "vec.num_buffers (%d) does not split %d %s envs evenly",
                spec->num_buffers, num_envs, ENV_NAME);
        puffer_vec_close(&v->pub);
        return NULL;
    }
    v->buffer_env_start[spec->num_buffers] = num_envs;
    for (int i = 0; i <= spec->num_buffers; i++) v->buffer_agent_start[i] = i * per_buffer;

    PufferAllocator* a = &v->allocator;
    v->pub.total_agents = n;
    v->pub.num_buffers = spec->num_buffers;
    v->pub.num_threads = spec->num_threads;
    v->pub.observations = a->alloc((size_t)n * OBS_SIZE * puffer_info.obs_elem_size, a->ctx);
    v->pub.actions = (float*)a->alloc((size_t)n * NUM_ATNS * sizeof(float), a->ctx);
    v->pub.rewards = (float*)a->alloc((size_t)n * sizeof(float), a->ctx);
    v->pub.terminals = (float*)a->alloc((size_t)n * sizeof(float), a->ctx);
    v->pub.truncations = (float*)a->alloc((size_t)n * sizeof(float), a->ctx);
    if (!v->pub.observations || !v->pub.actions || !v->pub.rewards || !v->pub.terminals
            || !v->pub.truncations) {
        set_err(err, len, "out of memory for %d agents", n);
        puffer_vec_close(&v->pub);
        return NULL;
    }
    v->pub.env_agent_start = v->env_agent_start;
    v->pub.env_num_agents = v->env_num_agents;
    v->pub.buffer_env_start = v->buffer_env_start;
    v->pub.buffer_agent_start = v->buffer_agent_start;
    for (int e = 0; e < num_envs; e++) point_env_at_rows(v, e);
    return &v->pub;
}

PUFFER_EXPORT void puffer_vec_reset(PufferVec* vec, uint64_t seed) {
    VecImpl* v = (VecImpl*)vec;
#ifdef PUFFER_VEC_CUDA
    if (v->dev) {
        dev_reset(v, seed);
        return;
    }
#endif
    int n = vec->total_agents;
    memset(vec->rewards, 0, (size_t)n * sizeof(float));
    memset(vec->terminals, 0, (size_t)n * sizeof(float));
    memset(vec->truncations, 0, (size_t)n * sizeof(float));
    for (int e = 0; e < vec->num_envs; e++) {
        v->envs[e].rng = env_seed(seed, (uint64_t)e);
        memset(&v->envs[e].log, 0, sizeof(Log));
        c_reset(&v->envs[e]);
    }
}

static void step_envs(VecImpl* v, int first_env, int end_env, int threads) {
#ifdef PUFFER_VEC_CUDA
    if (v->dev) {
        dev_step(v, first_env, end_env);
        return;
    }
#endif
    int first_row = v->env_agent_start[first_env];
    int rows = v->env_agent_start[end_env] - first_row;
    memset(v->pub.rewards + first_row, 0, (size_t)rows * sizeof(float));
    memset(v->pub.terminals + first_row, 0, (size_t)rows * sizeof(float));
    memset(v->pub.truncations + first_row, 0, (size_t)rows * sizeof(float));
    Env* envs = v->envs;
    (void)threads;
    #pragma omp parallel for schedule(static) num_threads(threads)
    for (int e = first_env; e < end_env; e++) c_step(&envs[e]);
}

PUFFER_EXPORT void puffer_vec_step(PufferVec* vec) {
    step_envs((VecImpl*)vec, 0, vec->num_envs, vec->num_threads);
}

PUFFER_EXPORT void puffer_vec_step_buffer(PufferVec* vec, int buffer) {
    int threads = vec->num_threads / vec->num_buffers;
    step_envs((VecImpl*)vec, vec->buffer_env_start[buffer], vec->buffer_env_start[buffer + 1],
              threads > 0 ? threads : 1);
}

PUFFER_EXPORT int puffer_vec_check_actions(const PufferVec* vec, char* err, size_t len) {
    size_t total = (size_t)vec->total_agents * NUM_ATNS;
    for (size_t i = 0; i < total; i++) {
        float a = vec->actions[i];
        int head = (int)(i % NUM_ATNS), size = puffer_act_sizes[head];
        if (a != a || a > 3.0e38f || a < -3.0e38f) {
            set_err(err, len, "action of agent %zu head %d is not finite (%g)",
                    i / NUM_ATNS, head, (double)a);
            return 1;
        }
        if (size == 1) continue;
        if (a < 0 || a >= size || a != (float)(int)a) {
            set_err(err, len, "action %g of agent %zu head %d is out of range: "
                    "allowed integers 0..%d", (double)a, i / NUM_ATNS, head, size - 1);
            return 1;
        }
    }
    return 0;
}

// Sums every Log field over envs that finished episodes, divides by the episode count.
PUFFER_EXPORT void puffer_vec_log(PufferVec* vec, PufferLogOut* out, int clear) {
    VecImpl* v = (VecImpl*)vec;
    enum { FIELDS = sizeof(Log) / sizeof(float) };
    float sum[FIELDS];
    memset(sum, 0, sizeof(sum));
#ifdef PUFFER_VEC_CUDA
    if (v->dev) dev_log_sums(v, sum, FIELDS, clear);
#endif
    for (int e = 0; e < vec->num_envs && !PUFFER_ON_DEVICE(v); e++) {
        const float* f = (const float*)&v->envs[e].log;
        if (f[FIELDS - 1] == 0) continue;  // n is the last field
        for (int i = 0; i < FIELDS; i++) sum[i] += f[i];
        if (clear) memset(&v->envs[e].log, 0, sizeof(Log));
    }
    out->count = 0;
    float episodes = sum[FIELDS - 1];
    if (episodes > 0) {
        for (int i = 0; i < FIELDS - 1; i++) sum[i] /= episodes;
        Log mean;
        memcpy(&mean, sum, sizeof(Log));
        my_log(&mean, out);
    }
    log_put(out, "n", episodes);
}

#if PUFFER_RENDER
PUFFER_EXPORT int puffer_vec_render(PufferVec* vec, int env_index, char* err, size_t len) {
    VecImpl* v = (VecImpl*)vec;
    if (env_index < 0 || env_index >= vec->num_envs) {
        set_err(err, len, "env index %d out of range [0, %d)", env_index, vec->num_envs);
        return 1;
    }
    if (!v->window_open) SetTraceLogLevel(LOG_WARNING);
#ifdef PUFFER_VEC_CUDA
    if (v->dev) dev_pull_env(v, env_index);   // a host copy of its state, over the host mirrors
#endif
    c_render(&v->envs[env_index]);
#ifdef PUFFER_VEC_CUDA
    if (v->dev) dev_push_env(v, env_index);   // render state (the window flag) goes back too
#endif
    if (!IsWindowReady()) {
        set_err(err, len, "could not open a raylib window (no display?)");
        return 1;
    }
    v->window_open = 1;
    v->capture_key = PUFFER_CAPTURE_NONE;
    if (IsKeyPressed(KEY_F12)) {
        int ctrl = IsKeyDown(KEY_LEFT_CONTROL) || IsKeyDown(KEY_RIGHT_CONTROL);
        v->capture_key = ctrl ? PUFFER_CAPTURE_GIF : PUFFER_CAPTURE_SCREENSHOT;
    }
    return 0;
}

PUFFER_EXPORT int puffer_vec_capture_key(PufferVec* vec) { return ((VecImpl*)vec)->capture_key; }

PUFFER_EXPORT int puffer_vec_save_frame(PufferVec* vec, const char* path, char* err, size_t len) {
    VecImpl* v = (VecImpl*)vec;
    if (!v->window_open || !IsWindowReady()) {
        set_err(err, len, "no frame to save: render first");
        return 1;
    }
    Image img = LoadImageFromScreen();
    int ok = ExportImage(img, path);
    UnloadImage(img);
    if (!ok) {
        set_err(err, len, "could not write %s", path);
        return 1;
    }
    return 0;
}

PUFFER_EXPORT int puffer_vec_window_closed(PufferVec* vec) {
    VecImpl* v = (VecImpl*)vec;
    return v->window_open && IsWindowReady() && WindowShouldClose();
}
#else
PUFFER_EXPORT int puffer_vec_render(PufferVec* vec, int env_index, char* err, size_t len) {
    (void)vec; (void)env_index; (void)c_render;
    set_err(err, len, "this build of %s has no rendering (raylib was not found at build time)",
            ENV_NAME);
    return 1;
}

PUFFER_EXPORT int puffer_vec_save_frame(PufferVec* vec, const char* path, char* err, size_t len) {
    (void)vec; (void)path;
    set_err(err, len, "this build of %s has no rendering", ENV_NAME);
    return 1;
}

PUFFER_EXPORT int puffer_vec_window_closed(PufferVec* vec) { (void)vec; return 0; }

PUFFER_EXPORT int puffer_vec_capture_key(PufferVec* vec) { (void)vec; return PUFFER_CAPTURE_NONE; }
#endif

#ifdef PUFFER_VEC_CUDA
#include "vecenv_cuda.h"
#endif

#endif
