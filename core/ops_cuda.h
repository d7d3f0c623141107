// ops_cuda.h: the trainer's own small CUDA kernels (moving data between the env buffers, the
// rollout storage and the minibatch), which kernels/ does not provide because they are about the
// trainer's layout rather than math. All launchers are graph-capturable (no allocation, no sync)
// and return 0 or a cudaError_t. `prec` is PK_F32 or PK_BF16: the storage of observations.
#ifndef PUFFER_OPS_CUDA_H
#define PUFFER_OPS_CUDA_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

// Slot t of agent rows [a0, a0 + n): the env's observations (uint8 or fp32, row a of env_obs)
// are cast to prec into x (n, OBS), the policy's input, and into storage obs (A, T, OBS); the
// reward and done = max(terminal, truncation) into storage (A, T); done also into reset (n).
int pc_ingest_cuda(void* x, void* obs, float* reset, float* rewards, float* dones,
                   const void* env_obs, int obs_u8, const float* env_rewards,
                   const float* env_terminals, const float* env_truncations, int a0, int n, int t,
                   int T, int OBS, int prec, void* stream);

// Slot t of rows [a0, a0 + n): sampled actions (n, NH) (int32, or fp32 when continuous),
// log-probs and values into storage; the actions as floats into env_actions (A, NH).
int pc_store_cuda(void* actions, float* logprob, float* values, float* env_actions,
                  const void* act, const float* act_logprob, const float* act_value,
                  int continuous, int a0, int n, int t, int T, int NH, void* stream);

// Minibatch gather of rows idx[0..S) of the (A, T, ...) storage. obs in prec; actions 4 bytes.
// h0 (L, S, H) <- state0 (L, A, H) when h0 != NULL.
int pc_gather_cuda(void* mb_obs, void* mb_act, float* mb_logprob, float* mb_values,
                   float* mb_adv, float* mb_reset, float* mb_h0, const int32_t* idx,
                   const void* obs, const void* actions, const float* logprob,
                   const float* values, const float* adv, const float* dones,
                   const float* state0, int S, int A, int T, int OBS, int NH, int L, int H,
                   int prec, void* stream);

// ratio[idx[s], :] = new_ratio[s, :], values[idx[s], :] = new_value[s, :].
int pc_scatter_cuda(float* ratio, float* values, const float* new_ratio, const float* new_value,
                    const int32_t* idx, int S, int T, void* stream);

int pc_fill_cuda(float* x, float value, int64_t n, void* stream);
// *sum += *x (one thread; keeps a running total inside a graph)
int pc_accumulate_cuda(float* sum, const float* x, void* stream);
// *out = 1 - Var(adv) / Var(values + adv) (NaN when the latter is 0); one block, fp64 sums.
int pc_explained_variance_cuda(float* out, const float* values, const float* adv, int64_t n,
                               void* stream);

#ifdef __cplusplus
}
#endif
#endif
