// policy.h: a trained PufferNet (MinGRU) acting in the browser, through the native trainer's C
// reference kernels (kernels/cpu): encoder -> MinGRU layers (recurrent state per agent, cut
// when the agent's previous step ended its episode) -> decoder -> actions. The same calls in the
// same order as the CPU trainer's rollout step (core/trainer_cpu.c, policy_step), so it computes
// the same logits.
//
// Weights: the fp32 checkpoint payload (docs/checkpoints.md) in its own order: encoder (H, OBS),
// decoder (D+1, H), logstd (1, D) for continuous actions only, layers.l (3H, H) for each layer.
// Actions: discrete heads sampled (inverse CDF over Philox draws, as the trainer) or argmax;
// continuous dimensions at the mean.
#ifndef PUFFER_WEB_POLICY_H
#define PUFFER_WEB_POLICY_H

#include <stddef.h>
#include <stdint.h>

enum { WEB_POLICY_SAMPLE = 0, WEB_POLICY_ARGMAX = 1 };

typedef struct WebPolicy WebPolicy;

// NULL on bad shapes or a weight count that does not fit them (err says which); weights are copied.
WebPolicy* web_policy_create(int obs_size, int num_atns, const int* act_sizes, int hidden_size,
                             int num_layers, int agents, const float* weights, size_t num_weights,
                             uint64_t seed, char* err, size_t err_len);
// One step for every agent. obs: agents x obs_size, uint8 when obs_u8 else float; dones: the
// terminals or truncations of the agents' previous step (NULL: none); actions: agents x num_atns.
void web_policy_act(WebPolicy* p, const void* obs, int obs_u8, const float* dones, int mode,
                    float* actions);
// The last step's decoder output (agents x (D + 1): logits or means, then the value).
const float* web_policy_logits(const WebPolicy* p);
// Forget every agent's recurrent state (a new episode for all).
void web_policy_reset(WebPolicy* p);
void web_policy_destroy(WebPolicy* p);

#endif
