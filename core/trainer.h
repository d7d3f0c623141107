// trainer.h: the C ABI of libpuffercore's native trainer (DESIGN.md "Data flow").
//
// Python (python/_C/trainer.cpp) creates one trainer per process over a vector env it already
// made, then calls puffer_trainer_epoch() in a loop: one rollout of `horizon` steps over every
// agent and one training pass over it (reference 6.1), returning a flat set of logs.
//
//   PufferTrainerConfig cfg;  puffer_config_defaults(&cfg);
//   puffer_config_set(&cfg, "learning_rate", 0.01, err, sizeof err);   ... one per key
//   PufferTrainer* t = puffer_trainer_create(&cfg, &hooks, PUFFER_DEVICE_CPU, NULL, NULL, err, n);
//   PufferEpochLogs logs;  puffer_trainer_epoch(t, 1, &logs, err, n);
//
// Two implementations share this ABI: trainer_cpu.c (fp32, the C reference kernels, OpenMP) and
// trainer_cuda.cu (bf16 storage with fp32 master weights, or fp32 with PUFFER_FLOAT; one CUDA
// stream and host thread per env buffer, CUDA graphs, NCCL). Every function that can fail returns
// 0 on success and writes a message into err.
#ifndef PUFFER_TRAINER_H
#define PUFFER_TRAINER_H

#include <stddef.h>
#include <stdint.h>

#include "env_abi.h"

#ifdef __cplusplus
extern "C" {
#endif

#if defined(_WIN32)
#define PUFFER_API __declspec(dllexport)
#else
#define PUFFER_API __attribute__((visibility("default")))
#endif

enum { PUFFER_DEVICE_CPU = 0, PUFFER_DEVICE_CUDA = 1 };

// Every number the trainer reads, under its ini name (reference 7.1; [base], [policy], [train]).
// Values arrive as doubles; integer keys are truncated (reference pitfall 12).
typedef struct {
    double seed;              // [base] weights init; action/replay sampling use seed + rank
    double reset_state;       // [base] zero recurrent state at the start of every rollout
    double cudagraphs;        // [base] warm-up iterations before graph capture; -1 = eager
    double fused_rollout;     // CUDA rollout step: 1 = one fused kernel when the policy is small enough
                              // for it to win (trainer_cuda.cu), 2 = fused whenever it fits, 0 = the
                              // chain of separate kernels (same results up to rounding)
    double hidden_size;       // [policy]
    double num_layers;        // [policy]
    double total_timesteps;   // [train] this rank's budget: total_epochs = it / (agents * horizon)
    double learning_rate;
    double anneal_lr;
    double min_lr_ratio;
    double gamma;
    double gae_lambda;
    double replay_ratio;
    double clip_coef;
    double vf_coef;
    double vf_clip_coef;
    double max_grad_norm;
    double ent_coef;
    double anneal_ent_coef;
    double min_ent_coef_ratio;
    double beta1;
    double minibatch_size;
    double horizon;
    double vtrace_rho_clip;
    double vtrace_c_clip;
    double prio_alpha;
    double prio_beta0;
    double rank;              // data parallel: this process's rank and the number of processes
    double world_size;
    double gpu_id;            // CUDA device ordinal
} PufferTrainerConfig;

PUFFER_API void puffer_config_defaults(PufferTrainerConfig* cfg);
// Sets one key; unknown keys are an error (typos fail loudly).
PUFFER_API int puffer_config_set(PufferTrainerConfig* cfg, const char* key, double value, char* err,
                                 size_t err_len);
// NULL-terminated list of the keys puffer_config_set accepts.
PUFFER_API const char* const* puffer_config_keys(void);

// The env side, as loaded by the Python module from an env library.
typedef struct {
    PufferVec* vec;
    const PufferEnvInfo* info;
    void (*reset)(PufferVec* vec, uint64_t seed);
    void (*step_buffer)(PufferVec* vec, int buffer);
    // Device envs (vec->device = 1, the env's CUDA variant): one buffer's step launched on a
    // cudaStream_t (returns a cudaError_t), and the vec's device buffers. NULL for host envs.
    int (*step_device)(PufferVec* vec, int buffer, void* stream);
    void (*device_buffers)(const PufferVec* vec, PufferDeviceBuffers* out);
} PufferEnvHooks;

// Host all-reduce for data parallelism without NCCL (the CPU build): replaces data[0..n) by its
// mean over all ranks, identically on every rank. Returns 0 on success.
typedef int (*PufferAllReduceFn)(float* data, int64_t n, void* ctx);

typedef struct {
    // PPO losses averaged over the epoch's minibatches (reference 6.4)
    float policy_loss, value_loss, entropy, total_loss, old_kl, kl, clipfrac;
    float explained_variance;   // of the first minibatch's returns by the rollout values
    float grad_norm;            // before clipping, averaged over minibatches
    float learning_rate;        // this epoch's
    int trained;                // 0: rollout only (no losses)
    // seconds
    double rollout;             // wall time of the rollout
    double eval_env;            // env stepping (averaged over buffers on CUDA)
    double eval_gpu;            // policy forward + sampling (averaged over buffers on CUDA)
    double train;               // the training pass
} PufferEpochLogs;

typedef struct PufferTrainer PufferTrainer;

// Resets the envs (seed + rank) and builds the policy. allreduce may be NULL when world_size is 1;
// for CUDA with world_size > 1, nccl_id is the 128-byte ncclUniqueId from rank 0.
PUFFER_API PufferTrainer* puffer_trainer_create(const PufferTrainerConfig* cfg,
                                                const PufferEnvHooks* env, int device,
                                                PufferAllReduceFn allreduce, void* allreduce_ctx,
                                                const void* nccl_id, char* err, size_t err_len);
PUFFER_API void puffer_trainer_destroy(PufferTrainer* t);

// One rollout, then (train != 0) one training pass. Not re-entrant.
PUFFER_API int puffer_trainer_epoch(PufferTrainer* t, int train, PufferEpochLogs* logs, char* err,
                                    size_t err_len);

typedef struct {
    int64_t global_step;   // this rank's agent steps
    int64_t epoch;         // training epochs done
    int64_t total_epochs;
    int64_t num_params;    // without padding
    int num_tensors;
    int agents;            // total agents (rows of the rollout)
    int horizon;
    int device;
    int precision_bytes;   // 2 (bf16) or 4
    int use_graphs;
    int fused_rollout;     // CUDA: rollout steps run the fused policy-step kernel
} PufferTrainerInfo;

PUFFER_API void puffer_trainer_info(const PufferTrainer* t, PufferTrainerInfo* out);

// Parameters, in checkpoint order: encoder (H, OBS), decoder (D+1, H), [logstd (1, A)],
// layers.<l> (3H, H). Names and shapes are those of the torch PufferNet (models.py).
PUFFER_API const char* puffer_trainer_tensor_name(const PufferTrainer* t, int i);
PUFFER_API void puffer_trainer_tensor_shape(const PufferTrainer* t, int i, int64_t shape[2]);
// fp32 copies in and out (the master weights on CUDA; loading also refreshes the bf16 copy).
PUFFER_API int puffer_trainer_get_tensor(PufferTrainer* t, int i, float* out, char* err,
                                         size_t err_len);
PUFFER_API int puffer_trainer_set_tensor(PufferTrainer* t, int i, const float* in, char* err,
                                         size_t err_len);

// Optimizer and counters, for resuming: the Muon momentum (num_params floats, checkpoint order)
// and the RNG step counters (num_buffers + 1 uint64: one per buffer for actions, one for replay).
PUFFER_API int puffer_trainer_get_momentum(PufferTrainer* t, float* out, char* err, size_t len);
PUFFER_API int puffer_trainer_set_momentum(PufferTrainer* t, const float* in, char* err, size_t len);
PUFFER_API int puffer_trainer_num_counters(const PufferTrainer* t);
PUFFER_API int puffer_trainer_get_counters(PufferTrainer* t, uint64_t* out, char* err, size_t len);
PUFFER_API int puffer_trainer_set_counters(PufferTrainer* t, const uint64_t* in, int64_t global_step,
                                           int64_t epoch, char* err, size_t len);

// The last rollout as fp32, agent-major (agents, horizon, width): for tests and debugging.
enum {
    PUFFER_ROLLOUT_OBS = 0,    // width obs_size
    PUFFER_ROLLOUT_ACTIONS,    // width num_atns (discrete ids as floats)
    PUFFER_ROLLOUT_LOGPROB,    // width 1
    PUFFER_ROLLOUT_VALUES,
    PUFFER_ROLLOUT_REWARDS,    // as the env gave them (clamped only inside the advantage)
    PUFFER_ROLLOUT_DONES,      // terminal or truncation produced by the previous action
    PUFFER_ROLLOUT_FIELDS
};
PUFFER_API int puffer_trainer_rollout_width(const PufferTrainer* t, int field);
PUFFER_API int puffer_trainer_get_rollout(PufferTrainer* t, int field, float* out, char* err,
                                          size_t len);

// 1 when this library was built with the CUDA trainer; the NCCL unique id for rank 0 to share.
PUFFER_API int puffer_has_cuda(void);
PUFFER_API int puffer_cuda_device_count(void);   // 0 without the CUDA build or without a GPU
PUFFER_API int puffer_nccl_unique_id(void* out128, char* err, size_t err_len);

#ifdef __cplusplus
}
#endif
#endif
