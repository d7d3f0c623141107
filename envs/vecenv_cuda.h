// vecenv_cuda.h: the device side of the vector env runtime, in the CUDA variant of an env library
// (libocean_<name>_cuda.so: binding.c compiled by nvcc with PUFFER_VEC_CUDA, see
// cmake/PufferEnv.cmake). The env's own c_reset / c_step run one env per GPU thread on env structs
// kept in device memory (the portable contract of ocean.h makes that possible).
//
// puffer_vec_to_device copies the envs (made on the host by my_init) and their buffers to the GPU
// and points each device struct at its rows of the device buffers. From then on:
//   - the trainer launches puffer_vec_step_device on its own streams (graph-capturable, no sync);
//   - puffer_vec_reset / puffer_vec_step (the Python API) run on the device too, and refresh the
//     host buffers as mirrors (actions up, observations/rewards/terminals/truncations down);
//   - puffer_vec_log sums the Log structs on the device, in env order (bit-identical to the host);
//   - rendering copies one env's struct back to the host, draws it over the host mirrors, and
//     copies it back (c_render keeps its window flag in the struct).
#include <cuda_runtime.h>

#define PUFFER_ENV_BLOCK 128

struct PufferVecDevice {
    int gpu_id;
    cudaStream_t stream;   // for the Python API's calls; the trainer passes its own streams
    Env* envs;
    PufferDeviceBuffers buf;
    float* log_sums;       // sizeof(Log) / sizeof(float) floats
    char err[PUFFER_ERR_LEN];
};

// Records the first CUDA failure of a call that cannot return it (see puffer_vec_device_error).
static int dev_check(VecImpl* v, cudaError_t e, const char* what) {
    if (e == cudaSuccess) return 0;
    if (v->dev->err[0] == 0)
        snprintf(v->dev->err, sizeof(v->dev->err), "env %s on the GPU: %s: %s", ENV_NAME, what,
                 cudaGetErrorString(e));
    return 1;
}

__global__ void pv_reset_kernel(Env* envs, int num_envs, uint64_t seed) {
    int e = blockIdx.x * blockDim.x + threadIdx.x;
    if (e >= num_envs) return;
    Env* env = &envs[e];
    for (int a = 0; a < env->num_agents; a++) {
        env->rewards[a] = 0.0f;
        env->terminals[a] = 0.0f;
        env->truncations[a] = 0.0f;
    }
    env->rng = env_seed(seed, (uint64_t)e);
    memset(&env->log, 0, sizeof(Log));
    c_reset(env);
}

__global__ void pv_step_kernel(Env* envs, int first_env, int end_env) {
    int e = first_env + blockIdx.x * blockDim.x + threadIdx.x;
    if (e >= end_env) return;
    Env* env = &envs[e];
    for (int a = 0; a < env->num_agents; a++) {
        env->rewards[a] = 0.0f;
        env->terminals[a] = 0.0f;
        env->truncations[a] = 0.0f;
    }
    c_step(env);
}

// One thread per Log field, summing over envs in order (the host's order, so the same bits).
__global__ void pv_log_sum_kernel(const Env* envs, int num_envs, float* sums, int fields) {
    int i = threadIdx.x;
    if (i >= fields) return;
    float sum = 0.0f;
    for (int e = 0; e < num_envs; e++) {
        const float* f = (const float*)&envs[e].log;
        if (f[fields - 1] != 0.0f) sum += f[i];
    }
    sums[i] = sum;
}

__global__ void pv_log_clear_kernel(Env* envs, int num_envs, int fields) {
    int e = blockIdx.x * blockDim.x + threadIdx.x;
    if (e >= num_envs) return;
    const float* f = (const float*)&envs[e].log;
    if (f[fields - 1] != 0.0f) memset(&envs[e].log, 0, sizeof(Log));
}

static int blocks_for(int n) { return (n + PUFFER_ENV_BLOCK - 1) / PUFFER_ENV_BLOCK; }

static size_t buffer_bytes(const VecImpl* v, int which) {
    size_t n = (size_t)v->pub.total_agents;
    if (which == 0) return n * OBS_SIZE * puffer_info.obs_elem_size;
    if (which == 1) return n * NUM_ATNS * sizeof(float);
    return n * sizeof(float);
}

static void* host_buffer(VecImpl* v, int which) {
    void* ptrs[5] = {v->pub.observations, v->pub.actions, v->pub.rewards, v->pub.terminals,
                     v->pub.truncations};
    return ptrs[which];
}

static void* device_buffer(VecImpl* v, int which) {
    PufferDeviceBuffers* b = &v->dev->buf;
    void* ptrs[5] = {b->observations, b->actions, b->rewards, b->terminals, b->truncations};
    return ptrs[which];
}

// The host copy of env e as the device sees it: pointers at its rows of the device buffers.
static void device_view_of(VecImpl* v, int e, Env* out) {
    PufferDeviceBuffers* b = &v->dev->buf;
    *out = v->envs[e];
    point_env_at(out, v->env_agent_start[e], b->observations, b->actions, b->rewards,
                 b->terminals, b->truncations);
}

static void dev_close(VecImpl* v) {
    struct PufferVecDevice* d = v->dev;
    if (d == NULL) return;
    cudaSetDevice(d->gpu_id);
    if (d->stream) cudaStreamSynchronize(d->stream);
    cudaFree(d->envs);
    for (int i = 0; i < 5; i++) cudaFree(device_buffer(v, i));
    cudaFree(d->log_sums);
    if (d->stream) cudaStreamDestroy(d->stream);
    free(d);
    v->dev = NULL;
    v->pub.device = 0;
}

// Brings the host mirrors of the four env outputs up to date (synchronous).
static void pull_outputs(VecImpl* v) {
    struct PufferVecDevice* d = v->dev;
    for (int i = 0; i < 5; i++) {
        if (i == 1) continue;  // actions flow the other way
        if (dev_check(v, cudaMemcpyAsync(host_buffer(v, i), device_buffer(v, i), buffer_bytes(v, i),
                                         cudaMemcpyDeviceToHost, d->stream), "copy env outputs"))
            return;
    }
    dev_check(v, cudaStreamSynchronize(d->stream), "sync after an env step");
}

static void dev_reset(VecImpl* v, uint64_t seed) {
    struct PufferVecDevice* d = v->dev;
    if (dev_check(v, cudaSetDevice(d->gpu_id), "cudaSetDevice")) return;
    int n = v->pub.num_envs;
    pv_reset_kernel<<<blocks_for(n), PUFFER_ENV_BLOCK, 0, d->stream>>>(d->envs, n, seed);
    if (dev_check(v, cudaGetLastError(), "reset kernel")) return;
    pull_outputs(v);
}

static void dev_step(VecImpl* v, int first_env, int end_env) {
    struct PufferVecDevice* d = v->dev;
    if (dev_check(v, cudaSetDevice(d->gpu_id), "cudaSetDevice")) return;
    if (dev_check(v, cudaMemcpyAsync(d->buf.actions, v->pub.actions, buffer_bytes(v, 1),
                                     cudaMemcpyHostToDevice, d->stream), "copy actions"))
        return;
    int n = end_env - first_env;
    if (n > 0) pv_step_kernel<<<blocks_for(n), PUFFER_ENV_BLOCK, 0, d->stream>>>(d->envs, first_env, end_env);
    if (dev_check(v, cudaGetLastError(), "step kernel")) return;
    pull_outputs(v);
}

static void dev_log_sums(VecImpl* v, float* sums, int fields, int clear) {
    struct PufferVecDevice* d = v->dev;
    if (dev_check(v, cudaSetDevice(d->gpu_id), "cudaSetDevice")) return;
    // The trainer steps envs on its own streams: wait for all of them.
    if (dev_check(v, cudaDeviceSynchronize(), "sync before reading logs")) return;
    int n = v->pub.num_envs;
    pv_log_sum_kernel<<<1, 32 * ((fields + 31) / 32), 0, d->stream>>>(d->envs, n, d->log_sums, fields);
    if (dev_check(v, cudaGetLastError(), "log kernel")) return;
    if (clear) {
        pv_log_clear_kernel<<<blocks_for(n), PUFFER_ENV_BLOCK, 0, d->stream>>>(d->envs, n, fields);
        if (dev_check(v, cudaGetLastError(), "log clear kernel")) return;
    }
    if (dev_check(v, cudaMemcpyAsync(sums, d->log_sums, (size_t)fields * sizeof(float),
                                     cudaMemcpyDeviceToHost, d->stream), "copy logs"))
        return;
    dev_check(v, cudaStreamSynchronize(d->stream), "sync after reading logs");
}

static void dev_pull_env(VecImpl* v, int e) {
    struct PufferVecDevice* d = v->dev;
    Env copy;
    if (dev_check(v, cudaDeviceSynchronize(), "sync before render")) return;
    if (dev_check(v, cudaMemcpy(&copy, d->envs + e, sizeof(Env), cudaMemcpyDeviceToHost), "copy env"))
        return;
    pull_outputs(v);
    point_env_at(&copy, v->env_agent_start[e], v->pub.observations, v->pub.actions, v->pub.rewards,
                 v->pub.terminals, v->pub.truncations);
    v->envs[e] = copy;
}

static void dev_push_env(VecImpl* v, int e) {
    Env view;
    device_view_of(v, e, &view);
    dev_check(v, cudaMemcpy(v->dev->envs + e, &view, sizeof(Env), cudaMemcpyHostToDevice), "copy env");
}

PUFFER_EXPORT int puffer_vec_to_device(PufferVec* vec, int gpu_id, char* err, size_t len) {
    VecImpl* v = (VecImpl*)vec;
    if (v->dev) {
        set_err(err, len, "env %s is already on the GPU", ENV_NAME);
        return 1;
    }
    struct PufferVecDevice* d = (struct PufferVecDevice*)calloc(1, sizeof(struct PufferVecDevice));
    if (d == NULL) {
        set_err(err, len, "out of memory");
        return 1;
    }
    d->gpu_id = gpu_id;
    v->dev = d;
    int n = v->pub.num_envs;
    Env* staged = (Env*)malloc((size_t)n * sizeof(Env));
    cudaError_t e = staged ? cudaSetDevice(gpu_id) : cudaErrorMemoryAllocation;
    void* buffers[5] = {NULL, NULL, NULL, NULL, NULL};
    for (int i = 0; i < 5 && e == cudaSuccess; i++) e = cudaMalloc(&buffers[i], buffer_bytes(v, i));
    d->buf.observations = buffers[0];
    d->buf.actions = (float*)buffers[1];
    d->buf.rewards = (float*)buffers[2];
    d->buf.terminals = (float*)buffers[3];
    d->buf.truncations = (float*)buffers[4];
    if (e == cudaSuccess) e = cudaMalloc((void**)&d->envs, (size_t)n * sizeof(Env));
    if (e == cudaSuccess) e = cudaMalloc((void**)&d->log_sums, sizeof(Log));
    if (e == cudaSuccess) e = cudaStreamCreateWithFlags(&d->stream, cudaStreamNonBlocking);
    for (int i = 0; i < 5 && e == cudaSuccess; i++)
        e = cudaMemcpy(buffers[i], host_buffer(v, i), buffer_bytes(v, i), cudaMemcpyHostToDevice);
    if (e == cudaSuccess) {
        for (int k = 0; k < n; k++) device_view_of(v, k, &staged[k]);
        e = cudaMemcpy(d->envs, staged, (size_t)n * sizeof(Env), cudaMemcpyHostToDevice);
    }
    free(staged);
    if (e != cudaSuccess) {
        set_err(err, len, "env %s: moving %d envs (%zu bytes each) to GPU %d failed: %s", ENV_NAME, n,
                sizeof(Env), gpu_id, cudaGetErrorString(e));
        dev_close(v);
        return 1;
    }
    v->pub.device = 1;
    return 0;
}

PUFFER_EXPORT void puffer_vec_device_buffers(const PufferVec* vec, PufferDeviceBuffers* out) {
    const VecImpl* v = (const VecImpl*)vec;
    if (v->dev) *out = v->dev->buf;
    else memset(out, 0, sizeof(*out));
}

PUFFER_EXPORT int puffer_vec_step_device(PufferVec* vec, int buffer, void* stream) {
    VecImpl* v = (VecImpl*)vec;
    if (v->dev == NULL || buffer < 0 || buffer >= vec->num_buffers) return (int)cudaErrorInvalidValue;
    int first = vec->buffer_env_start[buffer], end = vec->buffer_env_start[buffer + 1];
    if (end <= first) return 0;
    pv_step_kernel<<<blocks_for(end - first), PUFFER_ENV_BLOCK, 0, (cudaStream_t)stream>>>(
        v->dev->envs, first, end);
    return (int)cudaGetLastError();
}

PUFFER_EXPORT int puffer_vec_device_error(PufferVec* vec, char* err, size_t len) {
    VecImpl* v = (VecImpl*)vec;
    if (v->dev == NULL || v->dev->err[0] == 0) return 0;
    set_err(err, len, "%s", v->dev->err);
    return 1;
}

// Env-only device throughput: `graphs` replays of one CUDA graph holding 64 steps of every env
// (the actions stay as they are in the device buffer). Returns seconds per step of all envs, or a
// negative value with the error in puffer_vec_device_error.
PUFFER_EXPORT double puffer_vec_bench_device(PufferVec* vec, int graphs) {
    VecImpl* v = (VecImpl*)vec;
    struct PufferVecDevice* d = v->dev;
    if (d == NULL || graphs < 1) return -1.0;
    const int steps = 64;
    cudaGraph_t graph = NULL;
    cudaGraphExec_t exec = NULL;
    cudaEvent_t start = NULL, stop = NULL;
    float ms = -1.0f;
    int n = vec->num_envs;
    if (dev_check(v, cudaSetDevice(d->gpu_id), "cudaSetDevice")) return -1.0;
    if (dev_check(v, cudaStreamBeginCapture(d->stream, cudaStreamCaptureModeThreadLocal), "capture"))
        return -1.0;
    for (int t = 0; t < steps; t++)
        pv_step_kernel<<<blocks_for(n), PUFFER_ENV_BLOCK, 0, d->stream>>>(d->envs, 0, n);
    int bad = dev_check(v, cudaStreamEndCapture(d->stream, &graph), "end capture");
    if (!bad) bad = dev_check(v, cudaGraphInstantiate(&exec, graph, 0), "instantiate");
    if (!bad) bad = dev_check(v, cudaEventCreate(&start), "event");
    if (!bad) bad = dev_check(v, cudaEventCreate(&stop), "event");
    if (!bad) bad = dev_check(v, cudaGraphLaunch(exec, d->stream), "warm-up launch");
    if (!bad) bad = dev_check(v, cudaEventRecord(start, d->stream), "event");
    for (int g = 0; g < graphs && !bad; g++) bad = dev_check(v, cudaGraphLaunch(exec, d->stream), "launch");
    if (!bad) bad = dev_check(v, cudaEventRecord(stop, d->stream), "event");
    if (!bad) bad = dev_check(v, cudaEventSynchronize(stop), "sync");
    if (!bad) bad = dev_check(v, cudaEventElapsedTime(&ms, start, stop), "elapsed");
    if (exec) cudaGraphExecDestroy(exec);
    if (graph) cudaGraphDestroy(graph);
    if (start) cudaEventDestroy(start);
    if (stop) cudaEventDestroy(stop);
    return bad ? -1.0 : (double)ms * 1e-3 / ((double)graphs * steps);
}

