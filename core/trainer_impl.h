// trainer_impl.h: what the CPU and CUDA trainers share (not part of the ABI): the plan (sizes,
// schedules, parameter layout) computed once from the config and the env, and weight init.
#ifndef PUFFER_TRAINER_IMPL_H
#define PUFFER_TRAINER_IMPL_H

#include <stdarg.h>

#include "kernels.h"
#include "trainer.h"

#ifdef __cplusplus
extern "C" {
#endif

#define PUFFER_MAX_TENSORS (3 + 64)   // encoder, decoder, logstd, layers
#define PUFFER_MAX_LAYERS 64
#define PUFFER_MAX_BUFFERS 64
#define PUFFER_PARAM_ALIGN 16         // elements: 32 bytes of bf16, 64 bytes of fp32

typedef struct {
    PufferTrainerConfig cfg;
    PufferEnvHooks env;
    int device;

    // sizes
    int A;            // total agents
    int T;            // horizon
    int OBS;          // obs_size
    int obs_u8;       // observations are uint8 (else fp32)
    int NH;           // action heads (= dimensions when continuous)
    int D;            // logits (sum of head sizes) or means (NH)
    int ld;           // decoder width D + 1 (the value is the last column)
    int continuous;
    int32_t act_sizes[PK_MAX_HEADS];
    int H, L;         // hidden size, MinGRU layers
    int NB;           // env buffers
    int buf_start[PUFFER_MAX_BUFFERS + 1];   // agent rows of each buffer
    int max_buf;      // most agents in one buffer
    int S;            // segments (rows) per minibatch
    int M;            // S * T
    int num_minibatches;
    int reset_state;
    int rank, world_size;

    // schedule
    int64_t total_epochs, epoch, global_step;
    uint64_t sample_seed;   // actions: seed + rank
    uint64_t prio_seed;     // replay draws: a different key from the same seed + rank

    // parameters (checkpoint order); offsets in elements into the flat arenas
    int num_tensors;
    char names[PUFFER_MAX_TENSORS][24];
    int32_t rows[PUFFER_MAX_TENSORS], cols[PUFFER_MAX_TENSORS];
    int64_t offsets[PUFFER_MAX_TENSORS];
    int64_t num_params;       // sum of numel
    int64_t flat_numel;       // with padding
    int enc_i, dec_i, logstd_i, layer_i0;   // tensor indices

    PufferAllReduceFn allreduce;
    void* allreduce_ctx;
} TrainerPlan;

// printf into err; returns -1 so callers can `return fail(...)`.
int puffer_fail(char* err, size_t len, const char* fmt, ...);

// Validates the config against the env and fills the plan (no allocation).
int puffer_plan_init(TrainerPlan* p, const PufferTrainerConfig* cfg, const PufferEnvHooks* env,
                     int device, char* err, size_t len);
// Initial weights (reference 5.1), fp32, into the flat host array of p->flat_numel (zeroed first):
// encoder uniform +-sqrt(2)/sqrt(OBS), decoder and layers uniform +-1/sqrt(H), logstd 0. Drawn
// from Philox keyed by the base seed, so every rank starts from the same weights.
void puffer_init_weights(const TrainerPlan* p, float* flat);
// This epoch's learning rate, entropy coefficient and replay importance exponent (reference 6.1).
float puffer_plan_lr(const TrainerPlan* p);
float puffer_plan_ent_coef(const TrainerPlan* p);
float puffer_plan_beta(const TrainerPlan* p);
double puffer_now(void);

// Implementations. `impl` functions receive the PufferTrainer's private part.
typedef struct CpuTrainer CpuTrainer;
CpuTrainer* puffer_cpu_create(TrainerPlan* plan, char* err, size_t len);
int puffer_cpu_epoch(CpuTrainer* t, int train, PufferEpochLogs* logs, char* err, size_t len);
float* puffer_cpu_weights(CpuTrainer* t);     // flat fp32 (flat_numel)
float* puffer_cpu_momentum(CpuTrainer* t);
uint64_t* puffer_cpu_counters(CpuTrainer* t); // NB + 1
int puffer_cpu_rollout(CpuTrainer* t, int field, float* out);
void puffer_cpu_destroy(CpuTrainer* t);

typedef struct CudaTrainer CudaTrainer;
CudaTrainer* puffer_cuda_create(TrainerPlan* plan, const void* nccl_id, char* err, size_t len);
int puffer_cuda_epoch(CudaTrainer* t, int train, PufferEpochLogs* logs, char* err, size_t len);
// Copies between host fp32 and the device master weights / momentum (flat_numel floats);
// set also refreshes the precision copy.
int puffer_cuda_get_flat(CudaTrainer* t, int which, float* host, char* err, size_t len);
int puffer_cuda_set_flat(CudaTrainer* t, int which, const float* host, char* err, size_t len);
int puffer_cuda_get_counters(CudaTrainer* t, uint64_t* host, char* err, size_t len);
int puffer_cuda_set_counters(CudaTrainer* t, const uint64_t* host, char* err, size_t len);
int puffer_cuda_rollout(CudaTrainer* t, int field, float* out, char* err, size_t len);
int puffer_cuda_graphs_on(const CudaTrainer* t);
int puffer_cuda_fused_on(const CudaTrainer* t);
void puffer_cuda_destroy(CudaTrainer* t);
int puffer_cuda_nccl_id(void* out128, char* err, size_t len);

enum { PUFFER_FLAT_WEIGHTS = 0, PUFFER_FLAT_MOMENTUM = 1 };

#ifdef __cplusplus
}
#endif
#endif
