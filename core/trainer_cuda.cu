// trainer_cuda.cu: the native trainer on one GPU (one process per GPU when data parallel).
// The same epoch as trainer_cpu.c (read that first), with what the GPU adds:
//
//   precision  bf16 storage of weights, grads, activations, observations (PK_BF16), fp32 master
//              weights, Muon momentum, recurrent state, scan states, log-probs, values, returns and
//              all reductions; PUFFER_FLOAT_BUILD stores everything in fp32 (master = weights).
//   buffers    one CUDA stream per env buffer and one host thread per buffer, or vec.num_threads
//              threads that each interleave several buffers when there are more buffers than
//              threads (lane_rollout). Per step t a buffer launches one graph, waits for it, and
//              steps its envs (OpenMP inside the env library); while one buffer's envs run on the
//              CPU, other buffers' policies run on the GPU. The graph is the fused policy step
//              (pk_policy_step_cuda, small policies, see setup_fused), which reads observations /
//              rewards / dones from and writes actions to the pinned env buffers itself
//              (zero-copy), or else async copies into device mirrors, the chain of separate
//              kernels, and an async copy of the actions back. Env buffers are pinned in place
//              with cudaHostRegister; one that cannot be (a small array sharing a page with
//              another) goes through a pinned staging copy refreshed around each env step.
//              cudagraphs = -1 makes the same copies and launches eagerly.
//   device envs vec.device = cuda (envs/vecenv_cuda.h): the env buffers are device memory, each
//              rollout step is the policy step then the env library's step kernel on the same
//              stream, and the whole rollout (T steps) is one graph: no host sync inside it.
//   graphs     cudagraphs >= 0: at create, `cudagraphs` (at least 1) warm-up iterations of every
//              rollout step and of the training minibatch run on the empty buffers (cuBLAS and
//              lazy module loading settle), then one graph per (step, buffer) and one for the
//              minibatch's forward / loss / backward / all-reduce / Muon are captured; weights,
//              momentum, state and RNG counters are then restored. cudagraphs = -1 runs the same
//              launches eagerly, with the same results. The learning rate is read from device
//              memory; the entropy coefficient is a kernel argument, so when it is annealed the
//              train graph is re-captured (cudaGraphExecUpdate) each epoch.
//   all-reduce NCCL (average, in the gradients' dtype) inside the train graph when world_size > 1.
//
// Every CUDA / cuBLAS (through kernels/) / NCCL return code is checked; failures report
// "file:line: call: message" and become a Python exception.
#include <cuda_runtime.h>
#include <nccl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "nvtx.h"
#include "ops_cuda.h"
#include "trainer_impl.h"

#ifdef PUFFER_FLOAT_BUILD
#define PREC PK_F32
#define PREC_PT PT_F32
#define PREC_NCCL ncclFloat32
#else
#define PREC PK_BF16
#define PREC_PT PT_BF16
#define PREC_NCCL ncclBfloat16
#endif

// ---- errors ------------------------------------------------------------------------------------

static thread_local char tl_err[768];

static int cu_fail(const char* file, int line, const char* call, const char* msg) {
    const char* base = strrchr(file, '/');
    snprintf(tl_err, sizeof(tl_err), "%s:%d: %s: %s", base ? base + 1 : file, line, call, msg);
    return -1;
}

#define CU(call)                                                                        \
    do {                                                                                \
        cudaError_t e_ = (call);                                                        \
        if (e_ != cudaSuccess) return cu_fail(__FILE__, __LINE__, #call, cudaGetErrorString(e_)); \
    } while (0)
// kernels/ launchers: their own file:line is in pk_cuda_last_error()
#define PK(call)                                                                        \
    do {                                                                                \
        if ((call) != 0) return cu_fail(__FILE__, __LINE__, #call, pk_cuda_last_error()); \
    } while (0)
// ops_cuda.cu launchers return a cudaError_t
#define PC(call)                                                                        \
    do {                                                                                \
        int r_ = (call);                                                                \
        if (r_ != 0)                                                                    \
            return cu_fail(__FILE__, __LINE__, #call, cudaGetErrorString((cudaError_t)r_)); \
    } while (0)
#define NC(call)                                                                        \
    do {                                                                                \
        ncclResult_t r_ = (call);                                                       \
        if (r_ != ncclSuccess) return cu_fail(__FILE__, __LINE__, #call, ncclGetErrorString(r_)); \
    } while (0)
#define TRY(call)                    \
    do {                             \
        if ((call) != 0) return -1;  \
    } while (0)

// ---- structures --------------------------------------------------------------------------------

enum { CMD_INIT = 1, CMD_ROLLOUT, CMD_WARMUP, CMD_CAPTURE, CMD_EXIT };

struct Worker {   // one env buffer: its thread, stream, graphs and rollout activations
    CudaTrainer* c;
    int b, a0, n;
    pthread_t thread;
    int started;
    cudaStream_t stream;
    PTensor r_obs, r_x[2], r_kzp, r_logits, r_act, r_logprob, r_value, r_reset;
    cudaGraphExec_t* graphs;   // one per rollout step
    PkPolicyStep fused;        // the fused step's arguments (t and the counter fields per step)
    double env_time, gpu_time;
    int rc;
    char err[768];
};

struct CudaTrainer {
    TrainerPlan* p;
    int dev;
    PArena weights, grads, acts;
    float* master;       // fp32 master weights (flat_numel); the weights arena itself in fp32
    int own_master;

    PTensor w[PUFFER_MAX_TENSORS], g[PUFFER_MAX_TENSORS];
    PTensor momentum, muon_ws, ppo_ws;

    // rollout storage (A, T, ...), the training copies, recurrent state
    PTensor obs, actions, logprob, values, rewards, dones, ratio, values_live, adv;
    PTensor state, state0;
    // device mirrors of the env buffers
    PTensor env_obs, env_actions, env_rewards, env_terminals, env_truncations;
    // training
    PTensor probs, cdf, idx, seg_w;
    PTensor mb_obs, mb_act, mb_logprob, mb_values, mb_adv, mb_reset, mb_h0;
    PTensor xs, kzp, hs, logits, dlogits, new_ratio, new_value, dx[2], dkzp;
    PTensor logs, lr, norm, norm_sum, ev, counters;

    cudaStream_t stream;              // training
    cudaGraphExec_t train_graph;
    int use_graphs;
    float graph_ent_coef;
    ncclComm_t comm;
    int has_comm;

    Worker workers[PUFFER_MAX_BUFFERS];
    int NL;                            // rollout threads ("lanes"); thread l runs buffers l, l + NL, ...
    pthread_mutex_t mu;
    pthread_cond_t cv_cmd, cv_done;
    int cmd, cmd_arg, pending;
    long generation;

    // Env buffers as the GPU sees them (ENV_OBS...): the env's own memory when cudaHostRegister
    // pinned it, else a pinned staging copy (cudaHostAlloc at init) that the buffer's worker
    // thread refreshes with memcpy around each env step. Either way every copy can be a graph node.
    void* host[5];
    int registered[5];
    void* staging[5];
    // The same pinned memory as the device addresses it (zero-copy): all set, or zero_copy = 0
    // and the env I/O goes through the device mirrors with copies.
    void* host_dev[5];
    int zero_copy;
    int device_envs;                   // envs step on the GPU (vec.device = cuda): host[] and
                                       // host_dev[] are the env's device buffers, no host steps
    int fused;                         // rollout steps run pk_policy_step_cuda (one kernel)
    float h_lr;                        // source of the per-epoch lr copy
    float h_logs[PK_LOG_SIZE + 2];     // logs, grad norm sum, explained variance
};

static size_t obs_elem(const TrainerPlan* p) { return p->obs_u8 ? 1 : 4; }
static void* P(const PTensor& t) { return t.data; }
static float* F(const PTensor& t) { return (float*)t.data; }
static void* W(CudaTrainer* c, int i) { return c->w[i].data; }

// ---- device memory -----------------------------------------------------------------------------

static void* dev_alloc(size_t bytes, void*) {
    void* ptr = NULL;
    if (cudaMalloc(&ptr, bytes) != cudaSuccess) {
        cudaGetLastError();
        return NULL;
    }
    return ptr;
}

static void dev_free(void* ptr, void*) { cudaFree(ptr); }

static int dev_zero(void* ptr, size_t bytes, void*) {
    return cudaMemset(ptr, 0, bytes) == cudaSuccess ? 0 : -1;
}

static void reg(PArena* a, PTensor* t, int dtype, int64_t d0, int64_t d1, int64_t d2) {
    *t = pt_make(dtype, d0, d1, d2, 0);
    pa_register(a, t);
}

// The env buffers, in this order: observations, actions, rewards, terminals, truncations.
enum { ENV_OBS = 0, ENV_ACT, ENV_REW, ENV_TERM, ENV_TRUNC, ENV_BUFFERS };
static size_t env_row_bytes(const TrainerPlan* p, int buffer) {
    if (buffer == ENV_OBS) return (size_t)p->OBS * obs_elem(p);
    if (buffer == ENV_ACT) return (size_t)p->NH * 4;
    return 4;
}

static void* env_buffer(const TrainerPlan* p, int buffer) {
    PufferVec* vec = p->env.vec;
    void* ptrs[ENV_BUFFERS] = {vec->observations, vec->actions, vec->rewards, vec->terminals,
                               vec->truncations};
    return ptrs[buffer];
}

// Pins the env buffers (cudaHostRegister of their exact byte ranges). A small buffer that shares
// a page with one registered before it cannot be registered; it gets a pinned staging copy.
static int pin_env_buffers(CudaTrainer* c) {
    const TrainerPlan* p = c->p;
    if (c->device_envs) {   // already in device memory: the fused step reads and writes them
        PufferDeviceBuffers d;
        p->env.device_buffers(p->env.vec, &d);
        void* ptrs[ENV_BUFFERS] = {d.observations, d.actions, d.rewards, d.terminals, d.truncations};
        for (int i = 0; i < ENV_BUFFERS; i++) c->host[i] = c->host_dev[i] = ptrs[i];
        c->zero_copy = 1;
        return 0;
    }
    for (int i = 0; i < ENV_BUFFERS; i++) {
        void* ptr = env_buffer(p, i);
        size_t bytes = (size_t)p->A * env_row_bytes(p, i);
        cudaError_t e = cudaHostRegister(ptr, bytes, cudaHostRegisterPortable | cudaHostRegisterMapped);
        if (e == cudaSuccess) {
            c->registered[i] = 1;
            c->host[i] = ptr;
        } else {
            cudaGetLastError();
            if (e != cudaErrorHostMemoryAlreadyRegistered)
                fprintf(stderr, "pufferlib: cudaHostRegister of an env buffer failed (%s); using "
                        "a pinned staging copy\n", cudaGetErrorString(e));
            CU(cudaHostAlloc(&c->staging[i], bytes, cudaHostAllocPortable | cudaHostAllocMapped));
            memcpy(c->staging[i], ptr, bytes);
            c->host[i] = c->staging[i];
        }
    }
    c->zero_copy = 1;   // measured 1.4x faster than copies into device mirrors (breakout, H100)
    for (int i = 0; i < ENV_BUFFERS && c->zero_copy; i++) {
        if (cudaHostGetDevicePointer(&c->host_dev[i], c->host[i], 0) != cudaSuccess) {
            cudaGetLastError();
            c->zero_copy = 0;
        }
    }
    return 0;
}

// Rows of buffer w between an env buffer and its staging copy (CPU memcpy, no-op when pinned).
static void stage(Worker* w, int buffer, int to_staging) {
    CudaTrainer* c = w->c;
    if (c->staging[buffer] == NULL) return;
    size_t row = env_row_bytes(c->p, buffer), off = (size_t)w->a0 * row, n = (size_t)w->n * row;
    char* env = (char*)env_buffer(c->p, buffer) + off;
    char* staged = (char*)c->staging[buffer] + off;
    if (to_staging) memcpy(staged, env, n);
    else memcpy(env, staged, n);
}

// This step's env I/O of buffer w: obs/rewards/dones in (pinned host -> device mirrors) ...
static int copy_in(Worker* w) {
    CudaTrainer* c = w->c;
    const TrainerPlan* p = c->p;
    cudaStream_t s = w->stream;
    size_t a0 = (size_t)w->a0, n = (size_t)w->n, ob = env_row_bytes(p, ENV_OBS);
    CU(cudaMemcpyAsync((char*)P(c->env_obs) + a0 * ob, (const char*)c->host[ENV_OBS] + a0 * ob,
                       n * ob, cudaMemcpyDefault, s));
    CU(cudaMemcpyAsync(F(c->env_rewards) + a0, (const float*)c->host[ENV_REW] + a0, n * 4,
                       cudaMemcpyDefault, s));
    CU(cudaMemcpyAsync(F(c->env_terminals) + a0, (const float*)c->host[ENV_TERM] + a0, n * 4,
                       cudaMemcpyDefault, s));
    CU(cudaMemcpyAsync(F(c->env_truncations) + a0, (const float*)c->host[ENV_TRUNC] + a0, n * 4,
                       cudaMemcpyDefault, s));
    return 0;
}

// ... and actions out (device mirror -> pinned host).
static int copy_out(Worker* w) {
    CudaTrainer* c = w->c;
    const TrainerPlan* p = c->p;
    size_t off = (size_t)w->a0 * p->NH;
    CU(cudaMemcpyAsync((float*)c->host[ENV_ACT] + off, F(c->env_actions) + off,
                       (size_t)w->n * p->NH * 4, cudaMemcpyDefault, w->stream));
    return 0;
}

// ---- one rollout step of one buffer (graph body) -----------------------------------------------

// Device envs: the buffer's env step follows its policy step on the same stream (and in the
// same graph), so a rollout needs no host round trip.
static int step_device_envs(Worker* w) {
    const TrainerPlan* p = w->c->p;
    if (!w->c->device_envs) return 0;
    int e = p->env.step_device(p->env.vec, w->b, (void*)w->stream);
    if (e != 0) return cu_fail(__FILE__, __LINE__, "env step_device", cudaGetErrorString((cudaError_t)e));
    return 0;
}

// The env I/O is part of the step: graphs hold the copies (or the fused kernel's own host reads).
static int rollout_step(Worker* w, int t) {
    CudaTrainer* c = w->c;
    const TrainerPlan* p = c->p;
    cudaStream_t s = w->stream;
    int n = w->n, a0 = w->a0, H = p->H;
    if (c->fused) {
        // zero-copy: the kernel reads and writes the pinned env buffers itself
        if (!c->zero_copy) TRY(copy_in(w));
        w->fused.t = t;
        w->fused.draw_offset = (uint64_t)t;   // the unfused chain adds 1 per step ...
        w->fused.counter_add = t == p->T - 1 ? (uint64_t)p->T : 0;   // ... this T at the end
        PK(pk_policy_step_cuda(&w->fused, PREC, s));
        if (!c->zero_copy) TRY(copy_out(w));
        return step_device_envs(w);
    }
    TRY(copy_in(w));
    PC(pc_ingest_cuda(P(w->r_obs), P(c->obs), F(w->r_reset), F(c->rewards), F(c->dones),
                      P(c->env_obs), p->obs_u8, F(c->env_rewards), F(c->env_terminals),
                      F(c->env_truncations), a0, n, t, p->T, p->OBS, PREC, s));
    void* x = P(w->r_x[0]);
    void* y = P(w->r_x[1]);
    PK(pk_linear_forward_cuda(x, P(w->r_obs), W(c, p->enc_i), n, p->OBS, H, PREC, s));
    for (int l = 0; l < p->L; l++) {
        PK(pk_linear_forward_cuda(P(w->r_kzp), x, W(c, p->layer_i0 + l), n, H, 3 * H, PREC, s));
        float* state = F(c->state) + ((int64_t)l * p->A + a0) * H;
        PK(pk_mingru_step_cuda(y, state, P(w->r_kzp), x, F(w->r_reset), n, H, PREC, s));
        void* tmp = x;
        x = y;
        y = tmp;
    }
    PK(pk_linear_forward_cuda(P(w->r_logits), x, W(c, p->dec_i), n, H, p->ld, PREC, s));
    uint64_t* counter = (uint64_t*)P(c->counters) + w->b;
    if (p->continuous)
        PK(pk_sample_continuous_cuda(F(w->r_act), F(w->r_logprob), F(w->r_value), P(w->r_logits),
                                     p->ld, W(c, p->logstd_i), p->NH, n, p->sample_seed, counter,
                                     a0, PREC, s));
    else
        PK(pk_sample_discrete_cuda((int32_t*)P(w->r_act), F(w->r_logprob), F(w->r_value),
                                   P(w->r_logits), p->ld, p->act_sizes, p->NH, n, p->sample_seed,
                                   counter, a0, PREC, s));
    PC(pc_store_cuda(P(c->actions), F(c->logprob), F(c->values), F(c->env_actions), P(w->r_act),
                     F(w->r_logprob), F(w->r_value), p->continuous, a0, n, t, p->T, p->NH, s));
    TRY(copy_out(w));
    return step_device_envs(w);
}

// Rollout start of one buffer: zero (reset_state) and save the recurrent state, launch step 0.
static int begin_rollout(Worker* w) {
    CudaTrainer* c = w->c;
    const TrainerPlan* p = c->p;
    cudaStream_t s = w->stream;
    int n = w->n, a0 = w->a0, H = p->H;
    w->env_time = w->gpu_time = 0.0;
    for (int l = 0; l < p->L; l++) {
        float* state = F(c->state) + ((int64_t)l * p->A + a0) * H;
        float* state0 = F(c->state0) + ((int64_t)l * p->A + a0) * H;
        if (p->reset_state) CU(cudaMemsetAsync(state, 0, (size_t)n * H * 4, s));
        CU(cudaMemcpyAsync(state0, state, (size_t)n * H * 4, cudaMemcpyDeviceToDevice, s));
    }
    return 0;
}

static int launch_step(Worker* w, int t) {
    if (w->c->use_graphs) CU(cudaGraphLaunch(w->graphs[t], w->stream));   // copy in, step, out
    else TRY(rollout_step(w, t));
    return 0;
}

// The rollout of one lane's buffers (lead, lead + NL, ...), interleaved: while one buffer's envs
// step on this thread, the policy steps of the lane's other buffers run on the GPU. Per buffer
// the order is that of a lone buffer: step t on the GPU, wait, envs consume actions t.
static int lane_rollout(Worker* lead) {
    CudaTrainer* c = lead->c;
    const TrainerPlan* p = c->p;
    if (c->device_envs) {   // every step of every buffer queued at once; one wait per buffer
        double t0 = puffer_now();
        for (int b = lead->b; b < p->NB; b += c->NL) {
            Worker* w = &c->workers[b];
            TRY(begin_rollout(w));
            if (c->use_graphs) CU(cudaGraphLaunch(w->graphs[0], w->stream));   // the whole rollout
            else for (int t = 0; t < p->T; t++) TRY(rollout_step(w, t));
        }
        for (int b = lead->b; b < p->NB; b += c->NL) CU(cudaStreamSynchronize(c->workers[b].stream));
        for (int b = lead->b; b < p->NB; b += c->NL) c->workers[b].gpu_time = puffer_now() - t0;
        return 0;
    }
    for (int b = lead->b; b < p->NB; b += c->NL) {
        TRY(begin_rollout(&c->workers[b]));
        TRY(launch_step(&c->workers[b], 0));
    }
    for (int t = 0; t < p->T; t++) {
        for (int b = lead->b; b < p->NB; b += c->NL) {
            Worker* w = &c->workers[b];
            double t0 = puffer_now();
            PUFFER_RANGE_PUSH("rollout step");
            CU(cudaStreamSynchronize(w->stream));   // spins: a blocking wait measured 1.8x slower
            PUFFER_RANGE_POP();
            stage(w, ENV_ACT, 0);
            double t1 = puffer_now();
            PUFFER_RANGE_PUSH("env step");
            p->env.step_buffer(p->env.vec, w->b);
            PUFFER_RANGE_POP();
            for (int i = 0; i < ENV_BUFFERS; i++)
                if (i != ENV_ACT) stage(w, i, 1);
            double t2 = puffer_now();
            if (t + 1 < p->T) TRY(launch_step(w, t + 1));
            w->gpu_time += (t1 - t0) + (puffer_now() - t2);
            w->env_time += t2 - t1;
        }
    }
    return 0;
}

static int worker_warmup(Worker* w, int iterations) {
    for (int it = 0; it < iterations; it++)
        for (int t = 0; t < w->c->p->T; t++) TRY(rollout_step(w, t));
    CU(cudaStreamSynchronize(w->stream));
    return 0;
}

// One graph per rollout step; with device envs one graph for the whole rollout (T policy steps
// and env steps), in graphs[0].
static int worker_capture(Worker* w) {
    if (w->c->device_envs) {
        cudaGraph_t graph = NULL;
        CU(cudaStreamBeginCapture(w->stream, cudaStreamCaptureModeThreadLocal));
        int rc = 0;
        for (int t = 0; t < w->c->p->T && rc == 0; t++) rc = rollout_step(w, t);
        cudaError_t e = cudaStreamEndCapture(w->stream, &graph);
        if (rc != 0) {
            if (graph) cudaGraphDestroy(graph);
            return rc;
        }
        CU(e);
        cudaError_t ie = cudaGraphInstantiate(&w->graphs[0], graph, 0);
        cudaGraphDestroy(graph);
        CU(ie);
        return 0;
    }
    for (int t = 0; t < w->c->p->T; t++) {
        cudaGraph_t graph = NULL;
        CU(cudaStreamBeginCapture(w->stream, cudaStreamCaptureModeThreadLocal));
        int rc = rollout_step(w, t);
        cudaError_t e = cudaStreamEndCapture(w->stream, &graph);
        if (rc != 0) {
            if (graph) cudaGraphDestroy(graph);
            return rc;
        }
        CU(e);
        cudaError_t ie = cudaGraphInstantiate(&w->graphs[t], graph, 0);
        cudaGraphDestroy(graph);
        CU(ie);
    }
    return 0;
}

static int worker_init(Worker* w) {
    CU(cudaSetDevice(w->c->dev));
    PK(pk_cuda_thread_init());   // this thread's cuBLAS handle and workspace, before any capture
    return 0;
}

// One thread per lane: the lead buffer's Worker carries the thread and the result; commands apply
// to every buffer of the lane.
static int lane_run(Worker* lead, int cmd, int arg_) {
    CudaTrainer* c = lead->c;
    if (cmd == CMD_INIT) return worker_init(lead);
    if (cmd == CMD_ROLLOUT) return lane_rollout(lead);
    for (int b = lead->b; b < c->p->NB; b += c->NL) {
        if (cmd == CMD_WARMUP) TRY(worker_warmup(&c->workers[b], arg_));
        if (cmd == CMD_CAPTURE) TRY(worker_capture(&c->workers[b]));
    }
    return 0;
}

static void* worker_main(void* arg) {
    Worker* w = (Worker*)arg;
    CudaTrainer* c = w->c;
    long seen = 0;
    for (;;) {
        pthread_mutex_lock(&c->mu);
        while (c->generation == seen) pthread_cond_wait(&c->cv_cmd, &c->mu);
        seen = c->generation;
        int cmd = c->cmd, arg_ = c->cmd_arg;
        pthread_mutex_unlock(&c->mu);

        int rc = 0;
        tl_err[0] = 0;
        if (cmd == CMD_EXIT) pk_cuda_thread_release();
        else rc = lane_run(w, cmd, arg_);
        w->rc = rc;
        if (rc != 0) snprintf(w->err, sizeof(w->err), "%s", tl_err);

        pthread_mutex_lock(&c->mu);
        if (--c->pending == 0) pthread_cond_signal(&c->cv_done);
        pthread_mutex_unlock(&c->mu);
        if (cmd == CMD_EXIT) break;
    }
    return NULL;
}

// Runs one command on every worker and waits for all of them.
static int run_workers(CudaTrainer* c, int cmd, int arg_, char* err, size_t len) {
    const TrainerPlan* p = c->p;
    pthread_mutex_lock(&c->mu);
    c->cmd = cmd;
    c->cmd_arg = arg_;
    c->pending = c->NL;
    c->generation++;
    pthread_cond_broadcast(&c->cv_cmd);
    while (c->pending > 0) pthread_cond_wait(&c->cv_done, &c->mu);
    pthread_mutex_unlock(&c->mu);
    for (int b = 0; b < c->NL; b++)
        if (c->workers[b].rc != 0)
            return puffer_fail(err, len, "env buffers of thread %d: %s", b, c->workers[b].err);
    return 0;
}

// ---- training minibatch ------------------------------------------------------------------------

// Forward over the gathered segments, fused PPO loss, backward into the grads arena, all-reduce,
// Muon (global-norm clip inside; writes the fp32 master and the bf16 copy). The train graph body.
static int train_body(CudaTrainer* c, float ent_coef) {
    const TrainerPlan* p = c->p;
    const PufferTrainerConfig* cfg = &p->cfg;
    cudaStream_t s = c->stream;
    int M = p->M, S = p->S, T = p->T, H = p->H, L = p->L, ld = p->ld;
    size_t pe = pt_elem_size(PREC_PT);
    char* xs = (char*)P(c->xs);
    char* kzp = (char*)P(c->kzp);
    size_t x_stride = (size_t)M * H * pe, kzp_stride = (size_t)M * 3 * H * pe;
    const float* reset = F(c->mb_reset);
#define XL(l) ((void*)(xs + (size_t)(l) * x_stride))
#define KZP(l) ((void*)(kzp + (size_t)(l) * kzp_stride))
#define HS(l) (F(c->hs) + (int64_t)(l) * M * H)
#define H0(l) (p->reset_state ? (const float*)NULL : F(c->mb_h0) + (int64_t)(l) * S * H)

    PK(pk_linear_forward_cuda(XL(0), P(c->mb_obs), W(c, p->enc_i), M, p->OBS, H, PREC, s));
    for (int l = 0; l < L; l++) {
        PK(pk_linear_forward_cuda(KZP(l), XL(l), W(c, p->layer_i0 + l), M, H, 3 * H, PREC, s));
        PK(pk_mingru_scan_forward_cuda(XL(l + 1), HS(l), KZP(l), XL(l), H0(l), reset, S, T, H,
                                       PREC, s));
    }
    PK(pk_linear_forward_cuda(P(c->logits), XL(L), W(c, p->dec_i), M, H, ld, PREC, s));

    if (p->continuous)
        PK(pk_ppo_loss_continuous_cuda(P(c->dlogits), P(c->g[p->logstd_i]), F(c->new_ratio),
                                       F(c->new_value), F(c->logs), P(c->logits), ld,
                                       W(c, p->logstd_i), F(c->mb_act), p->NH, F(c->mb_logprob),
                                       F(c->mb_adv), F(c->mb_values), F(c->seg_w), S, T,
                                       (float)cfg->clip_coef, (float)cfg->vf_clip_coef,
                                       (float)cfg->vf_coef, ent_coef, P(c->ppo_ws), PREC, s));
    else
        PK(pk_ppo_loss_discrete_cuda(P(c->dlogits), F(c->new_ratio), F(c->new_value), F(c->logs),
                                     P(c->logits), ld, (const int32_t*)P(c->mb_act), p->act_sizes,
                                     p->NH, F(c->mb_logprob), F(c->mb_adv), F(c->mb_values),
                                     F(c->seg_w), S, T, (float)cfg->clip_coef,
                                     (float)cfg->vf_clip_coef, (float)cfg->vf_coef, ent_coef,
                                     P(c->ppo_ws), PREC, s));

    void* dy = P(c->dx[0]);
    void* dx = P(c->dx[1]);
    PK(pk_linear_backward_cuda(dy, P(c->g[p->dec_i]), P(c->dlogits), XL(L), W(c, p->dec_i), M, H,
                               ld, 0.0f, 0.0f, PREC, s));
    for (int l = L - 1; l >= 0; l--) {
        PK(pk_mingru_scan_backward_cuda(P(c->dkzp), dx, dy, NULL, KZP(l), XL(l), HS(l), H0(l),
                                        reset, S, T, H, PREC, s));
        PK(pk_linear_backward_cuda(dx, P(c->g[p->layer_i0 + l]), P(c->dkzp), XL(l),
                                   W(c, p->layer_i0 + l), M, H, 3 * H, 1.0f, 0.0f, PREC, s));
        void* tmp = dy;
        dy = dx;
        dx = tmp;
    }
    PK(pk_linear_backward_cuda(NULL, P(c->g[p->enc_i]), dy, P(c->mb_obs), W(c, p->enc_i), M,
                               p->OBS, H, 0.0f, 0.0f, PREC, s));
#undef XL
#undef KZP
#undef HS
#undef H0

    if (p->world_size > 1)
        NC(ncclAllReduce(c->grads.base, c->grads.base, (size_t)p->flat_numel, PREC_NCCL, ncclAvg,
                         c->comm, s));
    void* params = PREC == PK_F32 ? NULL : c->weights.base;
    PK(pk_muon_cuda(c->master, params, c->grads.base, F(c->momentum), p->offsets, p->rows, p->cols,
                    p->num_tensors, F(c->lr), (float)cfg->beta1, (float)cfg->max_grad_norm, 0.0f,
                    F(c->norm), P(c->muon_ws), PREC, s));
    PC(pc_accumulate_cuda(F(c->norm_sum), F(c->norm), s));
    return 0;
}

// The minibatch steps that run outside the graph: advantage of the whole batch, priorities,
// segment sampling, gather.
static int train_prologue(CudaTrainer* c, int mb, float beta) {
    const TrainerPlan* p = c->p;
    const PufferTrainerConfig* cfg = &p->cfg;
    cudaStream_t s = c->stream;
    PK(pk_advantage_cuda(F(c->adv), F(c->values_live), F(c->rewards), F(c->dones), F(c->ratio),
                         p->A, p->T, (float)cfg->gamma, (float)cfg->gae_lambda,
                         (float)cfg->vtrace_rho_clip, (float)cfg->vtrace_c_clip, 1.0f, s));
    if (mb == 0)
        PC(pc_explained_variance_cuda(F(c->ev), F(c->values), F(c->adv), (int64_t)p->A * p->T, s));
    PK(pk_prio_weights_cuda(F(c->probs), (double*)P(c->cdf), F(c->adv), p->A, p->T,
                            (float)cfg->prio_alpha, s));
    PK(pk_prio_sample_cuda((int32_t*)P(c->idx), F(c->seg_w), F(c->probs), (const double*)P(c->cdf),
                           p->A, p->S, beta, p->prio_seed, (uint64_t*)P(c->counters) + p->NB, s));
    PC(pc_gather_cuda(P(c->mb_obs), P(c->mb_act), F(c->mb_logprob), F(c->mb_values), F(c->mb_adv),
                      F(c->mb_reset), p->reset_state ? NULL : F(c->mb_h0),
                      (const int32_t*)P(c->idx), P(c->obs), P(c->actions), F(c->logprob),
                      F(c->values_live), F(c->adv), F(c->dones), F(c->state0), p->S, p->A, p->T,
                      p->OBS, p->NH, p->L, p->H, PREC, s));
    return 0;
}

static int train_epilogue(CudaTrainer* c) {
    const TrainerPlan* p = c->p;
    PC(pc_scatter_cuda(F(c->ratio), F(c->values_live), F(c->new_ratio), F(c->new_value),
                       (const int32_t*)P(c->idx), p->S, p->T, c->stream));
    return 0;
}

static int capture_train(CudaTrainer* c, float ent_coef) {
    cudaGraph_t graph = NULL;
    CU(cudaStreamBeginCapture(c->stream, cudaStreamCaptureModeThreadLocal));
    int rc = train_body(c, ent_coef);
    cudaError_t e = cudaStreamEndCapture(c->stream, &graph);
    if (rc != 0) {
        if (graph) cudaGraphDestroy(graph);
        return rc;
    }
    CU(e);
    if (c->train_graph) {
        cudaGraphExecUpdateResultInfo info;
        if (cudaGraphExecUpdate(c->train_graph, graph, &info) == cudaSuccess) {
            cudaGraphDestroy(graph);
            c->graph_ent_coef = ent_coef;
            return 0;
        }
        cudaGetLastError();
        cudaGraphExecDestroy(c->train_graph);
        c->train_graph = NULL;
    }
    cudaError_t ie = cudaGraphInstantiate(&c->train_graph, graph, 0);
    cudaGraphDestroy(graph);
    CU(ie);
    c->graph_ent_coef = ent_coef;
    return 0;
}

static int set_lr(CudaTrainer* c, float lr) {
    c->h_lr = lr;
    CU(cudaMemcpyAsync(P(c->lr), &c->h_lr, sizeof(float), cudaMemcpyHostToDevice, c->stream));
    return 0;
}

static int train_epoch(CudaTrainer* c, PufferEpochLogs* logs) {
    TrainerPlan* p = c->p;
    cudaStream_t s = c->stream;
    double start = puffer_now();
    int64_t n = (int64_t)p->A * p->T;
    float lr = puffer_plan_lr(p), ent_coef = puffer_plan_ent_coef(p), beta = puffer_plan_beta(p);
    TRY(set_lr(c, lr));
    PC(pc_fill_cuda(F(c->ratio), 1.0f, n, s));
    CU(cudaMemcpyAsync(P(c->values_live), P(c->values), (size_t)n * 4, cudaMemcpyDeviceToDevice, s));
    CU(cudaMemsetAsync(P(c->logs), 0, PK_LOG_SIZE * sizeof(float), s));
    CU(cudaMemsetAsync(P(c->norm_sum), 0, sizeof(float), s));
    if (c->use_graphs && ent_coef != c->graph_ent_coef) TRY(capture_train(c, ent_coef));
    for (int mb = 0; mb < p->num_minibatches; mb++) {
        PUFFER_RANGE_PUSH("train minibatch");
        TRY(train_prologue(c, mb, beta));
        if (c->use_graphs) CU(cudaGraphLaunch(c->train_graph, s));
        else TRY(train_body(c, ent_coef));
        TRY(train_epilogue(c));
        PUFFER_RANGE_POP();
    }
    CU(cudaMemcpyAsync(c->h_logs, P(c->logs), PK_LOG_SIZE * sizeof(float), cudaMemcpyDeviceToHost, s));
    CU(cudaMemcpyAsync(c->h_logs + PK_LOG_SIZE, P(c->norm_sum), sizeof(float), cudaMemcpyDeviceToHost, s));
    CU(cudaMemcpyAsync(c->h_logs + PK_LOG_SIZE + 1, P(c->ev), sizeof(float), cudaMemcpyDeviceToHost, s));
    CU(cudaStreamSynchronize(s));

    const float* h = c->h_logs;
    float count = h[PK_LOG_COUNT] > 0 ? h[PK_LOG_COUNT] : 1.0f;
    logs->policy_loss = h[PK_LOG_POLICY] / count;
    logs->value_loss = h[PK_LOG_VALUE] / count;
    logs->entropy = h[PK_LOG_ENTROPY] / count;
    logs->total_loss = h[PK_LOG_TOTAL] / count;
    logs->old_kl = h[PK_LOG_OLD_KL] / count;
    logs->kl = h[PK_LOG_KL] / count;
    logs->clipfrac = h[PK_LOG_CLIPFRAC] / count;
    logs->grad_norm = h[PK_LOG_SIZE] / p->num_minibatches;
    logs->explained_variance = h[PK_LOG_SIZE + 1];
    logs->learning_rate = lr;
    logs->trained = 1;
    p->epoch += 1;
    logs->train = puffer_now() - start;
    return 0;
}

// ---- warm-up and capture -----------------------------------------------------------------------

// Blocking copies on the legacy stream. A pageable H2D cudaMemcpy may return before its DMA
// lands, and our streams do not wait for the legacy stream: synchronize the device after it.
static int host_to_device(void* dst, const void* src, size_t bytes) {
    CU(cudaMemcpy(dst, src, bytes, cudaMemcpyHostToDevice));
    CU(cudaDeviceSynchronize());
    return 0;
}

static int device_to_host(void* dst, const void* src, size_t bytes) {
    CU(cudaMemcpy(dst, src, bytes, cudaMemcpyDeviceToHost));
    return 0;
}

// Refreshes the precision copy of the weights from the fp32 master (bf16 builds).
static int recast_weights(CudaTrainer* c) {
    if (PREC != PK_F32)
        PK(pk_cast_cuda(c->weights.base, PREC, c->master, PK_F32, c->p->flat_numel, c->stream));
    CU(cudaStreamSynchronize(c->stream));
    return 0;
}

static int sync_stream(cudaStream_t s) {
    CU(cudaStreamSynchronize(s));
    return 0;
}

static int reset_after_warmup(CudaTrainer* c) {
    CU(cudaMemset(P(c->state), 0, pt_bytes(&c->state)));
    CU(cudaMemset(P(c->state0), 0, pt_bytes(&c->state0)));
    CU(cudaMemset(P(c->logs), 0, pt_bytes(&c->logs)));
    CU(cudaDeviceSynchronize());
    return 0;
}

static int warmup_and_capture(CudaTrainer* c, char* err, size_t len) {
    TrainerPlan* p = c->p;
    int iterations = (int)p->cfg.cudagraphs;
    if (iterations < 1) iterations = 1;
    size_t flat = (size_t)p->flat_numel * sizeof(float);
    size_t counters = (size_t)(p->NB + 1) * sizeof(uint64_t);
    float* master = (float*)malloc(flat);
    float* momentum = (float*)malloc(flat);
    uint64_t* ctr = (uint64_t*)malloc(counters);
    int rc = -1;
    if (!master || !momentum || !ctr) {
        puffer_fail(err, len, "out of memory");
        goto done;
    }
    if (device_to_host(master, c->master, flat) || device_to_host(momentum, P(c->momentum), flat) ||
        device_to_host(ctr, P(c->counters), counters)) {
        puffer_fail(err, len, "graph warm-up: %s", tl_err);
        goto done;
    }
    // Rollout: every (step, buffer) eagerly, then one graph each, in the buffers' own threads.
    if (run_workers(c, CMD_WARMUP, iterations, err, len) != 0) goto done;
    if (run_workers(c, CMD_CAPTURE, 0, err, len) != 0) goto done;
    // Training: whole minibatches eagerly, then the train graph.
    if (set_lr(c, puffer_plan_lr(p)) != 0) {
        puffer_fail(err, len, "graph warm-up: %s", tl_err);
        goto done;
    }
    for (int it = 0; it < iterations; it++) {
        if (train_prologue(c, it, puffer_plan_beta(p)) || train_body(c, puffer_plan_ent_coef(p)) ||
            train_epilogue(c)) {
            puffer_fail(err, len, "graph warm-up: %s", tl_err);
            goto done;
        }
    }
    if (capture_train(c, puffer_plan_ent_coef(p)) != 0 || sync_stream(c->stream) != 0) {
        puffer_fail(err, len, "train graph capture: %s", tl_err);
        goto done;
    }
    // Restore what the warm-up changed.
    if (host_to_device(c->master, master, flat) || host_to_device(P(c->momentum), momentum, flat) ||
        host_to_device(P(c->counters), ctr, counters) || recast_weights(c)) {
        puffer_fail(err, len, "graph warm-up restore: %s", tl_err);
        goto done;
    }
    if (reset_after_warmup(c) != 0) {
        puffer_fail(err, len, "graph warm-up reset: %s", tl_err);
        goto done;
    }
    c->use_graphs = 1;
    rc = 0;
done:
    free(master);
    free(momentum);
    free(ctr);
    return rc;
}

// ---- create / destroy --------------------------------------------------------------------------

static int copy_env_to_device(CudaTrainer* c) {
    const TrainerPlan* p = c->p;
    const PufferVec* vec = p->env.vec;
    size_t A = (size_t)p->A;
    TRY(host_to_device(P(c->env_obs), vec->observations, A * p->OBS * obs_elem(p)));
    TRY(host_to_device(P(c->env_rewards), vec->rewards, A * 4));
    TRY(host_to_device(P(c->env_terminals), vec->terminals, A * 4));
    TRY(host_to_device(P(c->env_truncations), vec->truncations, A * 4));
    return 0;
}

// Device, training stream, this thread's cuBLAS handle, NCCL communicator. Errors in tl_err.
static int create_device(CudaTrainer* c, const void* nccl_id) {
    TrainerPlan* p = c->p;
    int count = 0;
    cudaError_t e = cudaGetDeviceCount(&count);
    if (e != cudaSuccess || count == 0) {
        cudaGetLastError();
        snprintf(tl_err, sizeof(tl_err), "no CUDA GPU is available (%s): use device cpu",
                 e != cudaSuccess ? cudaGetErrorString(e) : "0 devices");
        return -1;
    }
    c->dev = (int)p->cfg.gpu_id;
    if (c->dev < 0 || c->dev >= count) {
        snprintf(tl_err, sizeof(tl_err), "gpu_id %d out of range (%d GPUs)", c->dev, count);
        return -1;
    }
    CU(cudaSetDevice(c->dev));
    CU(cudaStreamCreateWithFlags(&c->stream, cudaStreamNonBlocking));
    PK(pk_cuda_thread_init());
    if (p->world_size > 1) {
        ncclUniqueId id;
        memcpy(&id, nccl_id, sizeof(id));
        NC(ncclCommInitRank(&c->comm, p->world_size, id, p->rank));
        c->has_comm = 1;
    }
    return 0;
}

static int register_tensors(CudaTrainer* c) {
    TrainerPlan* p = c->p;
    int A = p->A, T = p->T, OBS = p->OBS, H = p->H, L = p->L, NH = p->NH, ld = p->ld;
    int S = p->S, M = p->M, Lr = L > 0 ? L : 1;
    int act_dtype = p->continuous ? PT_F32 : PT_I32;

    pa_init_flat(&c->weights, "weights", PREC_PT, PUFFER_PARAM_ALIGN);
    pa_init_flat(&c->grads, "grads", PREC_PT, PUFFER_PARAM_ALIGN);
    pa_init(&c->acts, "activations");
    c->acts.align = 256;   // 128-bit vector loads, cuBLAS-friendly
    for (int i = 0; i < p->num_tensors; i++) {
        reg(&c->weights, &c->w[i], PREC_PT, p->rows[i], p->cols[i], 0);
        reg(&c->grads, &c->g[i], PREC_PT, p->rows[i], p->cols[i], 0);
    }
    PArena* a = &c->acts;
    reg(a, &c->momentum, PT_F32, p->flat_numel, 0, 0);
    reg(a, &c->muon_ws, PT_BYTES, (int64_t)pk_muon_workspace_bytes_cuda(p->rows, p->cols,
                                                                         p->num_tensors, PREC), 0, 0);
    reg(a, &c->ppo_ws, PT_BYTES, (int64_t)pk_ppo_workspace_bytes_cuda(NH), 0, 0);

    reg(a, &c->obs, PREC_PT, A, T, OBS);
    reg(a, &c->actions, act_dtype, A, T, NH);
    reg(a, &c->logprob, PT_F32, A, T, 0);
    reg(a, &c->values, PT_F32, A, T, 0);
    reg(a, &c->rewards, PT_F32, A, T, 0);
    reg(a, &c->dones, PT_F32, A, T, 0);
    reg(a, &c->ratio, PT_F32, A, T, 0);
    reg(a, &c->values_live, PT_F32, A, T, 0);
    reg(a, &c->adv, PT_F32, A, T, 0);
    reg(a, &c->state, PT_F32, Lr, A, H);
    reg(a, &c->state0, PT_F32, Lr, A, H);

    reg(a, &c->env_obs, p->obs_u8 ? PT_U8 : PT_F32, A, OBS, 0);
    reg(a, &c->env_actions, PT_F32, A, NH, 0);
    reg(a, &c->env_rewards, PT_F32, A, 0, 0);
    reg(a, &c->env_terminals, PT_F32, A, 0, 0);
    reg(a, &c->env_truncations, PT_F32, A, 0, 0);

    for (int b = 0; b < p->NB; b++) {
        Worker* w = &c->workers[b];
        int n = w->n;
        reg(a, &w->r_obs, PREC_PT, n, OBS, 0);
        reg(a, &w->r_x[0], PREC_PT, n, H, 0);
        reg(a, &w->r_x[1], PREC_PT, n, H, 0);
        reg(a, &w->r_kzp, PREC_PT, n, 3 * H, 0);
        reg(a, &w->r_logits, PREC_PT, n, ld, 0);
        reg(a, &w->r_act, act_dtype, n, NH, 0);
        reg(a, &w->r_logprob, PT_F32, n, 0, 0);
        reg(a, &w->r_value, PT_F32, n, 0, 0);
        reg(a, &w->r_reset, PT_F32, n, 0, 0);
    }

    reg(a, &c->probs, PT_F32, A, 0, 0);
    reg(a, &c->cdf, PT_F64, A, 0, 0);
    reg(a, &c->idx, PT_I32, S, 0, 0);
    reg(a, &c->seg_w, PT_F32, S, 0, 0);
    reg(a, &c->mb_obs, PREC_PT, M, OBS, 0);
    reg(a, &c->mb_act, act_dtype, M, NH, 0);
    reg(a, &c->mb_logprob, PT_F32, M, 0, 0);
    reg(a, &c->mb_values, PT_F32, M, 0, 0);
    reg(a, &c->mb_adv, PT_F32, M, 0, 0);
    reg(a, &c->mb_reset, PT_F32, M, 0, 0);
    reg(a, &c->mb_h0, PT_F32, Lr, S, H);
    reg(a, &c->xs, PREC_PT, L + 1, M, H);
    reg(a, &c->kzp, PREC_PT, Lr, M, 3 * H);
    reg(a, &c->hs, PT_F32, Lr, M, H);
    reg(a, &c->logits, PREC_PT, M, ld, 0);
    reg(a, &c->dlogits, PREC_PT, M, ld, 0);
    reg(a, &c->new_ratio, PT_F32, M, 0, 0);
    reg(a, &c->new_value, PT_F32, M, 0, 0);
    reg(a, &c->dx[0], PREC_PT, M, H, 0);
    reg(a, &c->dx[1], PREC_PT, M, H, 0);
    reg(a, &c->dkzp, PREC_PT, M, 3 * H, 0);
    reg(a, &c->logs, PT_F32, PK_LOG_SIZE, 0, 0);
    reg(a, &c->lr, PT_F32, 1, 0, 0);
    reg(a, &c->norm, PT_F32, 1, 0, 0);
    reg(a, &c->norm_sum, PT_F32, 1, 0, 0);
    reg(a, &c->ev, PT_F32, 1, 0, 0);
    reg(a, &c->counters, PT_U64, p->NB + 1, 0, 0);

    PAllocator device = {dev_alloc, dev_free, NULL};
    if (pa_create(&c->weights, device, dev_zero) || pa_create(&c->grads, device, dev_zero) ||
        pa_create(&c->acts, device, dev_zero))
        return cu_fail(__FILE__, __LINE__, "pa_create",
                       "out of GPU memory for the trainer's arenas");
    for (int i = 0; i < p->num_tensors; i++)
        if (pa_elem_offset(&c->weights, i) != p->offsets[i])
            return cu_fail(__FILE__, __LINE__, "pa_elem_offset", "parameter layout mismatch");
    if (PREC == PK_F32) {
        c->master = (float*)c->weights.base;
    } else {
        CU(cudaMalloc((void**)&c->master, (size_t)p->flat_numel * sizeof(float)));
        c->own_master = 1;
    }
    return 0;
}

// Above this many multiply-adds per buffer and step the fused kernel (CUDA cores, weights restaged
// by every block) loses to the cuBLAS chain. Measured on an H100: breakout (512 agents x 32 K
// weights = 17 M) 1.18x faster fused; squared (2048 x 65 K = 134 M) 0.6x.
#define FUSED_MAX_WORK (32.0 * 1024 * 1024)

// The fused step's arguments of each buffer (rows offset to the buffer's first agent), and whether
// to use it: asked for (fused_rollout 1: when small enough to win, 2: always), and the policy fits
// one block's shared memory.
static void setup_fused(CudaTrainer* c) {
    const TrainerPlan* p = c->p;
    double weights = (double)p->OBS * p->H + (double)p->L * 3 * p->H * p->H + (double)p->ld * p->H;
    c->fused = p->cfg.fused_rollout != 0 && p->L <= PK_MAX_LAYERS;
    if (p->cfg.fused_rollout == 1 && (double)p->max_buf * weights > FUSED_MAX_WORK) c->fused = 0;
    for (int b = 0; b < p->NB && c->fused; b++) {
        Worker* w = &c->workers[b];
        PkPolicyStep* f = &w->fused;
        int64_t a0 = w->a0, T = p->T;
        memset(f, 0, sizeof(*f));
        f->n = w->n;
        f->OBS = p->OBS;
        f->H = p->H;
        f->L = p->L;
        f->ld = p->ld;
        f->NH = p->NH;
        f->continuous = p->continuous;
        memcpy(f->act_sizes, p->act_sizes, sizeof(f->act_sizes));
        f->obs_u8 = p->obs_u8;
        int zc = c->zero_copy;
        size_t ob = env_row_bytes(p, ENV_OBS);
        f->env_obs = (const char*)(zc ? c->host_dev[ENV_OBS] : P(c->env_obs)) + a0 * ob;
        f->env_rewards = (const float*)(zc ? c->host_dev[ENV_REW] : P(c->env_rewards)) + a0;
        f->env_terminals = (const float*)(zc ? c->host_dev[ENV_TERM] : P(c->env_terminals)) + a0;
        f->env_truncations =
            (const float*)(zc ? c->host_dev[ENV_TRUNC] : P(c->env_truncations)) + a0;
        f->env_actions = (float*)(zc ? c->host_dev[ENV_ACT] : P(c->env_actions)) + a0 * p->NH;
        f->enc = W(c, p->enc_i);
        for (int l = 0; l < p->L; l++) f->layers[l] = W(c, p->layer_i0 + l);
        f->dec = W(c, p->dec_i);
        f->logstd = p->continuous ? W(c, p->logstd_i) : NULL;
        f->state = F(c->state) + a0 * p->H;
        f->state_stride = (int64_t)p->A * p->H;
        f->obs = (char*)P(c->obs) + a0 * T * p->OBS * (PREC == PK_BF16 ? 2 : 4);
        f->rewards = F(c->rewards) + a0 * T;
        f->dones = F(c->dones) + a0 * T;
        f->logprob = F(c->logprob) + a0 * T;
        f->values = F(c->values) + a0 * T;
        f->actions = (char*)P(c->actions) + a0 * T * p->NH * 4;
        f->T = p->T;
        f->seed = p->sample_seed;
        f->counter = (uint64_t*)P(c->counters) + b;
        f->agent_offset = w->a0;
        if (!pk_policy_step_fits_cuda(f, PREC)) c->fused = 0;
    }
}

static int create_stream(cudaStream_t* s) {
    CU(cudaStreamCreateWithFlags(s, cudaStreamNonBlocking));
    return 0;
}

CudaTrainer* puffer_cuda_create(TrainerPlan* p, const void* nccl_id, char* err, size_t len) {
    CudaTrainer* c = (CudaTrainer*)calloc(1, sizeof(CudaTrainer));
    if (c == NULL) {
        puffer_fail(err, len, "out of memory");
        return NULL;
    }
    c->p = p;
    c->graph_ent_coef = -1.0f;
    pthread_mutex_init(&c->mu, NULL);
    pthread_cond_init(&c->cv_cmd, NULL);
    pthread_cond_init(&c->cv_done, NULL);
    tl_err[0] = 0;
    // Rollout threads: one per env buffer, or vec.num_threads of them each interleaving several
    // buffers when there are more buffers than threads.
    c->NL = p->env.vec->num_threads < p->NB ? p->env.vec->num_threads : p->NB;
    if (c->NL < 1) c->NL = 1;
    c->device_envs = p->env.vec->device != 0;
    if (c->device_envs && (p->env.step_device == NULL || p->env.device_buffers == NULL)) {
        puffer_fail(err, len, "the vec env is on the GPU but its library has no device step");
        goto fail;
    }
    if (c->device_envs) c->NL = 1;   // no host env work: one thread queues every buffer
    for (int b = 0; b < p->NB; b++) {
        Worker* w = &c->workers[b];
        w->c = c;
        w->b = b;
        w->a0 = p->buf_start[b];
        w->n = p->buf_start[b + 1] - w->a0;
    }
    if (create_device(c, nccl_id) != 0) {
        puffer_fail(err, len, "%s", tl_err);
        goto fail;
    }
    if (register_tensors(c) != 0) {
        puffer_fail(err, len, "%s", tl_err);
        goto fail;
    }
    {
        // Weights: fp32 init on the host, into the master, cast into the precision copy.
        float* host = (float*)malloc((size_t)p->flat_numel * sizeof(float));
        if (host == NULL) {
            puffer_fail(err, len, "out of memory");
            goto fail;
        }
        puffer_init_weights(p, host);
        int rc = host_to_device(c->master, host, (size_t)p->flat_numel * sizeof(float));
        free(host);
        if (rc != 0 || recast_weights(c) != 0) {
            puffer_fail(err, len, "weight init: %s", tl_err);
            goto fail;
        }
    }
    {
        PufferVec* vec = p->env.vec;
        p->env.reset(vec, p->sample_seed);
        if (pin_env_buffers(c) != 0 || copy_env_to_device(c) != 0) {
            puffer_fail(err, len, "initial observations: %s", tl_err);
            goto fail;
        }
    }
    for (int b = 0; b < p->NB; b++) {
        Worker* w = &c->workers[b];
        w->graphs = (cudaGraphExec_t*)calloc((size_t)p->T, sizeof(cudaGraphExec_t));
        if (w->graphs == NULL || create_stream(&w->stream) != 0) {
            puffer_fail(err, len, "buffer %d: %s", b, w->graphs ? tl_err : "out of memory");
            goto fail;
        }
    }
    for (int b = 0; b < c->NL; b++) {
        Worker* w = &c->workers[b];
        if (pthread_create(&w->thread, NULL, worker_main, w) != 0) {
            puffer_fail(err, len, "could not start rollout thread %d", b);
            goto fail;
        }
        w->started = 1;
    }
    if (run_workers(c, CMD_INIT, 0, err, len) != 0) goto fail;
    setup_fused(c);
    if (p->cfg.cudagraphs >= 0 && warmup_and_capture(c, err, len) != 0) goto fail;
    if (c->use_graphs && c->device_envs) {
        // The warm-up stepped the device envs: start the run from the same state as host envs.
        p->env.reset(p->env.vec, p->sample_seed);
        if (copy_env_to_device(c) != 0) {
            puffer_fail(err, len, "initial observations: %s", tl_err);
            goto fail;
        }
    }
    return c;
fail:
    puffer_cuda_destroy(c);
    return NULL;
}

void puffer_cuda_destroy(CudaTrainer* c) {
    if (c == NULL) return;
    const TrainerPlan* p = c->p;
    int any_started = 0;
    for (int b = 0; b < p->NB; b++) any_started |= c->workers[b].started;
    if (any_started) {
        // Every started worker exits; ones that never started are not counted.
        pthread_mutex_lock(&c->mu);
        c->cmd = CMD_EXIT;
        c->pending = 0;
        for (int b = 0; b < p->NB; b++) c->pending += c->workers[b].started;
        c->generation++;
        pthread_cond_broadcast(&c->cv_cmd);
        while (c->pending > 0) pthread_cond_wait(&c->cv_done, &c->mu);
        pthread_mutex_unlock(&c->mu);
        for (int b = 0; b < p->NB; b++)
            if (c->workers[b].started) pthread_join(c->workers[b].thread, NULL);
    }
    cudaDeviceSynchronize();
    for (int b = 0; b < p->NB; b++) {
        Worker* w = &c->workers[b];
        if (w->graphs) {
            for (int t = 0; t < p->T; t++)
                if (w->graphs[t]) cudaGraphExecDestroy(w->graphs[t]);
            free(w->graphs);
        }
        if (w->stream) cudaStreamDestroy(w->stream);
    }
    if (c->train_graph) cudaGraphExecDestroy(c->train_graph);
    if (c->has_comm) ncclCommDestroy(c->comm);
    for (int i = 0; i < ENV_BUFFERS; i++) {
        if (c->registered[i]) cudaHostUnregister(env_buffer(p, i));
        if (c->staging[i]) cudaFreeHost(c->staging[i]);
    }
    if (c->own_master) cudaFree(c->master);
    pa_destroy(&c->weights);
    pa_destroy(&c->grads);
    pa_destroy(&c->acts);
    if (c->stream) cudaStreamDestroy(c->stream);
    cudaGetLastError();
    pthread_mutex_destroy(&c->mu);
    pthread_cond_destroy(&c->cv_cmd);
    pthread_cond_destroy(&c->cv_done);
    free(c);
}

// ---- epoch -------------------------------------------------------------------------------------

static int set_device(int dev) {
    CU(cudaSetDevice(dev));
    return 0;
}

int puffer_cuda_epoch(CudaTrainer* c, int do_train, PufferEpochLogs* logs, char* err, size_t len) {
    TrainerPlan* p = c->p;
    tl_err[0] = 0;
    if (set_device(c->dev) != 0) return puffer_fail(err, len, "%s", tl_err);
    double start = puffer_now();
    if (run_workers(c, CMD_ROLLOUT, 0, err, len) != 0) return -1;
    logs->rollout = puffer_now() - start;
    for (int b = 0; b < p->NB; b++) {
        logs->eval_env += c->workers[b].env_time / p->NB;
        logs->eval_gpu += c->workers[b].gpu_time / p->NB;
    }
    p->global_step += (int64_t)p->A * p->T;
    if (!do_train) return 0;
    if (train_epoch(c, logs) != 0) return puffer_fail(err, len, "training: %s", tl_err);
    return 0;
}

// ---- host access -------------------------------------------------------------------------------

int puffer_cuda_graphs_on(const CudaTrainer* c) { return c->use_graphs; }
int puffer_cuda_fused_on(const CudaTrainer* c) { return c->fused; }

int puffer_cuda_get_flat(CudaTrainer* c, int which, float* host, char* err, size_t len) {
    const void* src = which == PUFFER_FLAT_WEIGHTS ? (const void*)c->master : P(c->momentum);
    if (set_device(c->dev) != 0 ||
        device_to_host(host, src, (size_t)c->p->flat_numel * sizeof(float)) != 0)
        return puffer_fail(err, len, "copy from the GPU: %s", tl_err);
    return 0;
}

int puffer_cuda_set_flat(CudaTrainer* c, int which, const float* host, char* err, size_t len) {
    void* dst = which == PUFFER_FLAT_WEIGHTS ? (void*)c->master : P(c->momentum);
    if (set_device(c->dev) != 0 ||
        host_to_device(dst, host, (size_t)c->p->flat_numel * sizeof(float)) != 0 ||
        (which == PUFFER_FLAT_WEIGHTS && recast_weights(c) != 0))
        return puffer_fail(err, len, "copy to the GPU: %s", tl_err);
    return 0;
}

int puffer_cuda_get_counters(CudaTrainer* c, uint64_t* host, char* err, size_t len) {
    if (set_device(c->dev) != 0 ||
        device_to_host(host, P(c->counters), (size_t)(c->p->NB + 1) * sizeof(uint64_t)) != 0)
        return puffer_fail(err, len, "copy from the GPU: %s", tl_err);
    return 0;
}

int puffer_cuda_set_counters(CudaTrainer* c, const uint64_t* host, char* err, size_t len) {
    if (set_device(c->dev) != 0 ||
        host_to_device(P(c->counters), host, (size_t)(c->p->NB + 1) * sizeof(uint64_t)) != 0)
        return puffer_fail(err, len, "copy to the GPU: %s", tl_err);
    return 0;
}

static float bf16_bits_to_float(uint16_t bits) {
    uint32_t u = (uint32_t)bits << 16;
    float f;
    memcpy(&f, &u, sizeof(f));
    return f;
}

int puffer_cuda_rollout(CudaTrainer* c, int field, float* out, char* err, size_t len) {
    const TrainerPlan* p = c->p;
    int64_t n = (int64_t)p->A * p->T;
    int rc = set_device(c->dev);
    if (rc != 0) return puffer_fail(err, len, "%s", tl_err);
    switch (field) {
        case PUFFER_ROLLOUT_OBS: {
            int64_t count = n * p->OBS;
            if (PREC == PK_F32) {
                rc = device_to_host(out, P(c->obs), (size_t)count * 4);
            } else {
                uint16_t* tmp = (uint16_t*)malloc((size_t)count * 2);
                if (tmp == NULL) return puffer_fail(err, len, "out of memory");
                rc = device_to_host(tmp, P(c->obs), (size_t)count * 2);
                for (int64_t i = 0; rc == 0 && i < count; i++) out[i] = bf16_bits_to_float(tmp[i]);
                free(tmp);
            }
            break;
        }
        case PUFFER_ROLLOUT_ACTIONS:
            rc = device_to_host(out, P(c->actions), (size_t)(n * p->NH) * 4);
            if (rc == 0 && !p->continuous) {
                for (int64_t i = 0; i < n * p->NH; i++) {
                    int32_t a;
                    memcpy(&a, &out[i], 4);
                    out[i] = (float)a;
                }
            }
            break;
        case PUFFER_ROLLOUT_LOGPROB: rc = device_to_host(out, P(c->logprob), (size_t)n * 4); break;
        case PUFFER_ROLLOUT_VALUES: rc = device_to_host(out, P(c->values), (size_t)n * 4); break;
        case PUFFER_ROLLOUT_REWARDS: rc = device_to_host(out, P(c->rewards), (size_t)n * 4); break;
        case PUFFER_ROLLOUT_DONES: rc = device_to_host(out, P(c->dones), (size_t)n * 4); break;
        default: return puffer_fail(err, len, "unknown rollout field %d", field);
    }
    if (rc != 0) return puffer_fail(err, len, "copy from the GPU: %s", tl_err);
    return 0;
}

int puffer_cuda_nccl_id(void* out128, char* err, size_t len) {
    ncclUniqueId id;
    ncclResult_t r = ncclGetUniqueId(&id);
    if (r != ncclSuccess) return puffer_fail(err, len, "ncclGetUniqueId: %s", ncclGetErrorString(r));
    memcpy(out128, &id, sizeof(id) < 128 ? sizeof(id) : 128);
    return 0;
}
