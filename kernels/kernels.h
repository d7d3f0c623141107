// kernels.h: the C ABI of PufferLib's compute kernels.
//
// Every kernel exists twice (DESIGN.md decision 2):
//   libpuffer_kernels.so       plain C reference, fp32, OpenMP (kernels/cpu/<family>.c), names end in _cpu
//   libpuffer_kernels_cuda.so  CUDA (kernels/cuda/<family>.cu), names end in _cuda
// The CUDA library is tested against the C one (tests/test_kernels_gpu.py); the C one against torch
// autograd (tests/test_kernels_cpu.py).
//
// Conventions
// - Row-major, contiguous. Shapes are written (rows, cols); (B, T, H) means b slowest, h fastest.
// - CPU: every float array is fp32 and every pointer is host memory.
// - CUDA: every pointer is device memory unless the comment says "host". Arrays typed `void*` hold
//   elements of the call's `dtype` (PK_F32 or PK_BF16: the "precision" storage of activations,
//   weights and gradients); arrays typed `float*` / `double*` / `int32_t*` are that type in every
//   build (recurrent state, scan states, log-probs, values, advantages, loss gradients of logstd...).
//   `stream` is a cudaStream_t passed as void* (NULL = legacy default stream). Every CUDA call
//   returns 0 on success, else the failing cudaError_t, 1000 + the cublasStatus_t, or -1 for an
//   invalid argument; pk_cuda_last_error() then holds "file:line: message" (also printed to
//   stderr). Launchers never allocate and never synchronize, so every call can be
//   captured into a CUDA graph. Scalars that change between graph replays (learning rate, RNG
//   step counters) are read from device memory.
// - Reset masks are fp32, nonzero = reset: `reset[b, t] != 0` cuts the recurrent state to zero
//   before step t (the agent's previous step ended its episode; DESIGN.md decision 3).
// - Discrete actions are int32 (DESIGN.md decision 4); continuous actions fp32.
// - RNG: Philox4x32-10 (rng.h), counter-based and stateless. Key = 64-bit seed; counter =
//   (draw, stream, step lo, step hi) where stream is the global agent index for action sampling.
//   The step is read from `*counter` and the call adds 1 (or the number of draws) to it, so CPU
//   and GPU draw identical streams for identical (seed, agent, step).
#ifndef PUFFER_KERNELS_H
#define PUFFER_KERNELS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(_WIN32)
#define PK_API __declspec(dllexport)
#else
#define PK_API __attribute__((visibility("default")))
#endif

#define PK_ABI_VERSION 1
#define PK_MAX_HEADS 32  // action heads (discrete) or dimensions (continuous)

enum { PK_F32 = 0, PK_BF16 = 1 };

// Slots of the PPO log accumulator (float[PK_LOG_SIZE]). Each loss call ADDS its minibatch means to
// slots 0..6 and 1 to PK_LOG_COUNT; the caller divides by logs[PK_LOG_COUNT] and zeroes the array.
enum {
    PK_LOG_POLICY = 0,   // mean clipped policy loss
    PK_LOG_VALUE,        // mean clipped value loss (the 1/2 included)
    PK_LOG_ENTROPY,      // mean entropy (summed over heads / dimensions)
    PK_LOG_TOTAL,        // policy + vf_coef * value - ent_coef * entropy
    PK_LOG_OLD_KL,       // mean(-logratio)
    PK_LOG_KL,           // mean((ratio - 1) - logratio)
    PK_LOG_CLIPFRAC,     // mean(|ratio - 1| > clip_coef)
    PK_LOG_COUNT,        // number of minibatches accumulated
    PK_LOG_SIZE
};

PK_API int pk_abi_version(void);

// ---------------------------------------------------------------------------------------------
// CPU reference (libpuffer_kernels.so)
// ---------------------------------------------------------------------------------------------

// linear.c
// C(M,N) = alpha * op(A) * op(B) + beta * C. op(A) is (M,K): A is stored (M,K), or (K,M) when
// trans_a. op(B) is (K,N): B is stored (K,N), or (N,K) when trans_b. beta == 0 overwrites C
// (NaNs in C do not survive).
PK_API void pk_gemm_cpu(int trans_a, int trans_b, int M, int N, int K, float alpha,
                        const float* A, const float* B, float beta, float* C);
// y(M,N) = x(M,K) W(N,K)^T (torch Linear convention, no bias).
PK_API void pk_linear_forward_cpu(float* y, const float* x, const float* w, int M, int K, int N);
// dx(M,K) = dy W + dx_beta * dx;  dw(N,K) = dy^T x + dw_beta * dw. dx or dw may be NULL (skipped).
PK_API void pk_linear_backward_cpu(float* dx, float* dw, const float* dy, const float* x,
                                   const float* w, int M, int K, int N, float dx_beta,
                                   float dw_beta);

// mingru.c. kzp = x W_l^T holds [k | z | p], each H wide, per row. With u = sigmoid(z),
// g(k) = k + 0.5 (k >= 0) else sigmoid(k), s = sigmoid(p):
//   h_t = (1 - u) * h_{t-1} + u * g(k)     (h_{t-1} = 0 where reset)
//   y_t = s * h_t + (1 - s) * x_t          (highway)
// One rollout step. state (B,H) is read and overwritten with h. reset (B) may be NULL.
PK_API void pk_mingru_step_cpu(float* y, float* state, const float* kzp, const float* x,
                               const float* reset, int B, int H);
// Training scan over (B,T,H). hs (B,T,H) receives every h_t (the backward pass reads it; the
// final state is hs[:, T-1]). h0 (B,H) may be NULL (zeros); reset (B,T) may be NULL.
PK_API void pk_mingru_scan_forward_cpu(float* y, float* hs, const float* kzp, const float* x,
                                       const float* h0, const float* reset, int B, int T, int H);
// Backward of the scan: writes dkzp (B,T,3H) and dx (B,T,H) = the highway part dy * (1 - s)
// (overwritten: add the GEMM part afterwards with pk_linear_backward(..., dx_beta = 1)).
// dh_last (B,H): upstream gradient of the final state, may be NULL.
PK_API void pk_mingru_scan_backward_cpu(float* dkzp, float* dx, const float* dy,
                                        const float* dh_last, const float* kzp, const float* x,
                                        const float* hs, const float* h0, const float* reset,
                                        int B, int T, int H);

// sample.c. Philox4x32-10 for tests: out[4] = philox(ctr[4], key[2]).
PK_API void pk_philox4x32_cpu(uint32_t* out, const uint32_t* ctr, const uint32_t* key);
// Discrete / multi-discrete. logits (B, ld): head h's act_sizes[h] logits follow head h-1's,
// D = sum(act_sizes); column D is the value. act_sizes is a host array of num_heads entries.
// Writes actions (B, num_heads) int32, logprob (B) = sum over heads of log softmax at the action,
// value (B). Draw for head h of agent b: u from philox(ctr = (h, agent_offset + b, step), seed).
PK_API void pk_sample_discrete_cpu(int32_t* actions, float* logprob, float* value,
                                   const float* logits, int ld, const int32_t* act_sizes,
                                   int num_heads, int B, uint64_t seed, uint64_t* counter,
                                   int agent_offset);
// Continuous. mean (B, ld): num_atns means then the value at column num_atns; logstd (num_atns),
// clamped to [-20, 2]. action = mean + exp(logstd) * eps, eps ~ N(0,1) by Box-Muller.
PK_API void pk_sample_continuous_cpu(float* actions, float* logprob, float* value,
                                     const float* mean, int ld, const float* logstd,
                                     int num_atns, int B, uint64_t seed, uint64_t* counter,
                                     int agent_offset);

// advantage.c. Puffer advantage (GAE + V-trace clipping) over N rows of T steps:
//   rho_t = min(ratio_t, rho_clip), c_t = min(ratio_t, c_clip), m = 1 - dones[t+1],
//   delta_t = rho_t * (r[t+1] + gamma * V[t+1] * m - V[t]),
//   A_t = delta_t + gamma * lambda * c_t * m * A_{t+1},   A_{T-1} = 0.
// r is clamped to [-reward_clip, reward_clip] first (reward_clip <= 0: no clamp).
// ratios may be NULL (all 1).
PK_API void pk_advantage_cpu(float* adv, const float* values, const float* rewards,
                             const float* dones, const float* ratios, int N, int T, float gamma,
                             float lambda, float rho_clip, float c_clip, float reward_clip);

// prio.c. Segment priorities over N rows of T advantages:
//   p_i = (sum_t |A_it|)^alpha (NaN/inf -> 0), P_i = (p_i + 1e-6) / sum_j (p_j + 1e-6),
// probs (N) = P, cdf (N, fp64) = running sum of (p_i + 1e-6).
PK_API void pk_prio_weights_cpu(float* probs, double* cdf, const float* adv, int N, int T,
                                float alpha);
// S draws with replacement: u = philox uniform (ctr = (s, PK_PRIO_STREAM, step), seed),
// idx[s] = first i with cdf[i] >= u * cdf[N-1]; weights[s] = (N * P_idx)^(-beta).
// *counter += 1.
PK_API void pk_prio_sample_cpu(int32_t* idx, float* weights, const float* probs,
                               const double* cdf, int N, int S, float beta, uint64_t seed,
                               uint64_t* counter);

// ppo.c. Fused PPO loss forward + backward over M = N segments x T steps.
// logits (M, ld) as in sampling (value at column D); actions (M, num_heads); old_logprob, adv
// (raw advantages), old_values (M); seg_weights (N) priority weights or NULL (1).
// Writes dlogits (M, ld): d total / d logits and, at column D, d total / d value (columns past
// D are zeroed); new_ratio, new_value (M); adds to logs (float[PK_LOG_SIZE]).
PK_API void pk_ppo_loss_discrete_cpu(float* dlogits, float* new_ratio, float* new_value,
                                     float* logs, const float* logits, int ld,
                                     const int32_t* actions, const int32_t* act_sizes,
                                     int num_heads, const float* old_logprob, const float* adv,
                                     const float* old_values, const float* seg_weights, int N,
                                     int T, float clip_coef, float vf_clip_coef, float vf_coef,
                                     float ent_coef);
// Continuous: mean (M, ld) with the value at column num_atns, logstd (num_atns), actions
// (M, num_atns). Writes dmean (M, ld) (value gradient at column num_atns) and dlogstd
// (num_atns, overwritten).
PK_API void pk_ppo_loss_continuous_cpu(float* dmean, float* dlogstd, float* new_ratio,
                                       float* new_value, float* logs, const float* mean, int ld,
                                       const float* logstd, const float* actions, int num_atns,
                                       const float* old_logprob, const float* adv,
                                       const float* old_values, const float* seg_weights, int N,
                                       int T, float clip_coef, float vf_clip_coef,
                                       float vf_coef, float ent_coef);

// optim.c. Global L2 norm; clip scales g by min(max_norm / (norm + 1e-6), 1) and returns the
// norm before clipping.
PK_API float pk_grad_norm_cpu(const float* g, int64_t n);
PK_API float pk_clip_grad_norm_cpu(float* g, int64_t n, float max_norm);
// Muon over a flat parameter vector described by num_tensors (offsets[i], rows[i], cols[i])
// (element offset into the flat arrays, R, C; rows[i] == 0 marks a 1-D tensor of cols[i]).
//   1. clip: g = grad * min(max_grad_norm / (||grad|| + 1e-6), 1), the norm taken over the flat
//      span grad[0, end of the last tensor) (padding between tensors must be zero);
//      max_grad_norm <= 0: no clip
//   2. Nesterov: momentum = mu * momentum + g; u = g + mu * momentum
//   3. 2-D: X = u / max(||u||_F, 1e-7); 5 Newton-Schulz iterations (wide: S = X X^T,
//      X = a X + (b S + c S^2) X; tall: S = X^T X, X = a X + X (b S + c S^2));
//      update = X * sqrt(max(1, R / C)).  1-D: update = u.
//   4. master = master * (1 - lr * weight_decay) - lr * update
// grad is read only; lr is a pointer (host here, device for CUDA). Workspace: see below.
// Returns the gradient norm before clipping.
PK_API size_t pk_muon_workspace_floats_cpu(const int32_t* rows, const int32_t* cols,
                                          int num_tensors);
PK_API float pk_muon_cpu(float* master, const float* grad, float* momentum,
                         const int64_t* offsets, const int32_t* rows, const int32_t* cols,
                         int num_tensors, const float* lr, float mu, float max_grad_norm,
                         float weight_decay, float* workspace);

// cast.c. bf16 is stored as uint16 (the top half of an fp32); f32 -> bf16 rounds to nearest
// even, NaN stays NaN.
PK_API void pk_f32_to_bf16_cpu(uint16_t* dst, const float* src, int64_t n);
PK_API void pk_bf16_to_f32_cpu(float* dst, const uint16_t* src, int64_t n);

// ---------------------------------------------------------------------------------------------
// CUDA (libpuffer_kernels_cuda.so). Same math as the CPU functions of the same name.
// ---------------------------------------------------------------------------------------------

PK_API const char* pk_cuda_last_error(void);  // thread-local message of the last failure
PK_API int pk_cuda_device_count(int* count);  // 0 and *count = 0 when there is no usable GPU
// Creates this thread's cuBLAS handle (with a 32 MiB workspace) on the current device. GEMM
// calls do it lazily; call it before capturing a graph.
PK_API int pk_cuda_thread_init(void);
PK_API int pk_cuda_thread_release(void);  // frees this thread's handle and workspace

// linear.cu. cuBLAS GemmEx, storage dtype, fp32 compute (no TF32).
PK_API int pk_gemm_cuda(int trans_a, int trans_b, int M, int N, int K, float alpha,
                        const void* A, const void* B, float beta, void* C, int dtype,
                        void* stream);
PK_API int pk_linear_forward_cuda(void* y, const void* x, const void* w, int M, int K, int N,
                                  int dtype, void* stream);
PK_API int pk_linear_backward_cuda(void* dx, void* dw, const void* dy, const void* x,
                                   const void* w, int M, int K, int N, float dx_beta,
                                   float dw_beta, int dtype, void* stream);

// mingru.cu. state, hs, h0: fp32; reset: fp32; kzp, x, y, dy, dkzp, dx, dh_last (fp32): see types.
PK_API int pk_mingru_step_cuda(void* y, float* state, const void* kzp, const void* x,
                               const float* reset, int B, int H, int dtype, void* stream);
PK_API int pk_mingru_scan_forward_cuda(void* y, float* hs, const void* kzp, const void* x,
                                       const float* h0, const float* reset, int B, int T, int H,
                                       int dtype, void* stream);
// Benchmark knob: 0 = pick automatically (default), 1 = one thread per sequence (version 1),
// 2..16 = split T into that many chunks (version 2). Process-wide; not thread-safe.
PK_API void pk_mingru_set_chunks_cuda(int chunks);
PK_API int pk_mingru_scan_backward_cuda(void* dkzp, void* dx, const void* dy,
                                        const float* dh_last, const void* kzp, const void* x,
                                        const float* hs, const float* h0, const float* reset,
                                        int B, int T, int H, int dtype, void* stream);

// sample.cu. act_sizes is a HOST array (copied into the kernel's arguments); counter is a device
// uint64 incremented by the call. logits/mean/logstd are dtype; outputs fp32/int32.
PK_API int pk_sample_discrete_cuda(int32_t* actions, float* logprob, float* value,
                                   const void* logits, int ld, const int32_t* act_sizes,
                                   int num_heads, int B, uint64_t seed, uint64_t* counter,
                                   int agent_offset, int dtype, void* stream);
PK_API int pk_sample_continuous_cuda(float* actions, float* logprob, float* value,
                                     const void* mean, int ld, const void* logstd, int num_atns,
                                     int B, uint64_t seed, uint64_t* counter, int agent_offset,
                                     int dtype, void* stream);

// policy_step.cu. One rollout step of the MinGRU policy for n agents in one kernel: the
// composition of (trainer ingest) -> linear(enc) -> L x (linear, mingru_step) -> linear(dec) ->
// sample -> (trainer store), with the same math and the same rounding to the storage dtype after
// each layer. Row r of every array below is agent `agent_offset + r` (pointers already offset).
#define PK_MAX_LAYERS 64
typedef struct {
    int n, OBS, H, L, ld, NH, continuous;
    int32_t act_sizes[PK_MAX_HEADS];   // discrete: ld = sum + 1; continuous: ld = NH + 1
    // env buffers, device memory or host memory mapped into the device: obs (n, OBS) uint8 or
    // fp32; rewards, terminals, truncations (n); actions out (n, NH) fp32
    const void* env_obs;
    int obs_u8;
    const float *env_rewards, *env_terminals, *env_truncations;
    float* env_actions;
    // weights (dtype): enc (H, OBS), layers[l] (3H, H), dec (ld, H), logstd (NH) when continuous
    const void* enc;
    const void* layers[PK_MAX_LAYERS];
    const void* dec;
    const void* logstd;
    float* state;           // layer l's (n, H) fp32 recurrent state at state + l * state_stride
    int64_t state_stride;
    // rollout storage, slot t of T per row: obs (n, T, OBS) dtype; rewards, dones = max(terminal,
    // truncation) (which also zeroes the state before the step), logprob, values (n, T) fp32;
    // actions (n, T, NH) int32 (fp32 when continuous)
    void* obs;
    float *rewards, *dones, *logprob, *values;
    void* actions;
    int t, T;
    // draws: as pk_sample_*_cuda with step = *counter + draw_offset; counter_add is added to
    // *counter after the step (the trainer adds T after its last step instead of 1 per step)
    uint64_t seed;
    uint64_t* counter;
    uint64_t draw_offset, counter_add;
    int agent_offset;
} PkPolicyStep;
// 1 when the policy's largest matrix fits one block's shared memory (else use the unfused chain).
PK_API int pk_policy_step_fits_cuda(const PkPolicyStep* p, int dtype);
PK_API int pk_policy_step_cuda(const PkPolicyStep* p, int dtype, void* stream);
// Benchmark knob: agents per thread block (0 = automatic). Process-wide; not thread-safe.
PK_API void pk_policy_step_set_agents_cuda(int agents_per_block);

// advantage.cu (all fp32).
PK_API int pk_advantage_cuda(float* adv, const float* values, const float* rewards,
                             const float* dones, const float* ratios, int N, int T, float gamma,
                             float lambda, float rho_clip, float c_clip, float reward_clip,
                             void* stream);

// prio.cu (fp32 / fp64 / int32; counter: device uint64 incremented by the call).
PK_API int pk_prio_weights_cuda(float* probs, double* cdf, const float* adv, int N, int T,
                                float alpha, void* stream);
PK_API int pk_prio_sample_cuda(int32_t* idx, float* weights, const float* probs,
                               const double* cdf, int N, int S, float beta, uint64_t seed,
                               uint64_t* counter, void* stream);

// ppo.cu. act_sizes: HOST array. logits/mean/logstd/dlogits/dmean/dlogstd: dtype; the rest fp32 /
// int32. workspace: pk_ppo_workspace_bytes_cuda(num_atns) bytes of device memory. ent_coef is a
// value (baked into a captured graph).
PK_API size_t pk_ppo_workspace_bytes_cuda(int num_atns);
PK_API int pk_ppo_loss_discrete_cuda(void* dlogits, float* new_ratio, float* new_value,
                                     float* logs, const void* logits, int ld,
                                     const int32_t* actions, const int32_t* act_sizes,
                                     int num_heads, const float* old_logprob, const float* adv,
                                     const float* old_values, const float* seg_weights, int N,
                                     int T, float clip_coef, float vf_clip_coef, float vf_coef,
                                     float ent_coef, void* workspace, int dtype, void* stream);
PK_API int pk_ppo_loss_continuous_cuda(void* dmean, void* dlogstd, float* new_ratio,
                                       float* new_value, float* logs, const void* mean, int ld,
                                       const void* logstd, const float* actions, int num_atns,
                                       const float* old_logprob, const float* adv,
                                       const float* old_values, const float* seg_weights, int N,
                                       int T, float clip_coef, float vf_clip_coef,
                                       float vf_coef, float ent_coef, void* workspace, int dtype,
                                       void* stream);

// optim.cu. grad, params: dtype; master, momentum: fp32; norm_out: device float (may be NULL for
// muon); lr: device float. Newton-Schulz runs in fp32 for either dtype (see optim.cu). params may be NULL (fp32 build: master is the parameter buffer);
// otherwise muon writes params = cast(master) for every listed tensor. offsets/rows/cols: HOST.
PK_API size_t pk_norm_workspace_bytes_cuda(void);
PK_API int pk_grad_norm_cuda(float* norm_out, const void* g, int64_t n, void* workspace,
                             int dtype, void* stream);
PK_API int pk_clip_grad_norm_cuda(void* g, int64_t n, float max_norm, float* norm_out,
                                  void* workspace, int dtype, void* stream);
PK_API size_t pk_muon_workspace_bytes_cuda(const int32_t* rows, const int32_t* cols,
                                           int num_tensors, int dtype);
PK_API int pk_muon_cuda(float* master, void* params, const void* grad, float* momentum,
                        const int64_t* offsets, const int32_t* rows, const int32_t* cols,
                        int num_tensors, const float* lr, float mu, float max_grad_norm,
                        float weight_decay, float* norm_out, void* workspace, int dtype,
                        void* stream);
// Benchmark knob: path 0 = pick automatically (default: the one-launch fused kernel when the
// shapes fit, else cuBLAS), 1 = the cuBLAS path, 2 = the fused kernel (pk_muon_cuda fails when
// it cannot run the shapes) with blocks_per_tensor blocks per tensor (0 = choose; 1 = one block;
// 2..16 = a thread-block cluster, sm_90). Process-wide; not thread-safe.
PK_API void pk_muon_set_path_cuda(int path, int blocks_per_tensor);

// cast.cu. Any of PK_F32 / PK_BF16 to any.
PK_API int pk_cast_cuda(void* dst, int dst_dtype, const void* src, int src_dtype, int64_t n,
                        void* stream);

#ifdef __cplusplus
}
#endif

#endif  // PUFFER_KERNELS_H
