// advantage.c: the "puffer advantage" (GAE with V-trace clipping), C reference.
//
// Rows are one agent's T consecutive steps. rewards[t] and dones[t] arrive with the observation
// of step t, so the transition out of step t earns rewards[t+1] and ends if dones[t+1].
//   rho_t = min(ratio_t, rho_clip)      c_t = min(ratio_t, c_clip)      m = 1 - dones[t+1]
//   delta_t = rho_t * (r[t+1] + gamma * V[t+1] * m - V[t])
//   A_t = delta_t + gamma * lambda * c_t * m * A_{t+1},    A_{T-1} = 0
// TD formula: the reference has two (spec 6.2). We use the one its vectorized GPU kernel runs in
// the normal case, rho on the whole TD error: the V-trace target. With all ratios 1 both reduce to
// GAE(gamma, lambda) truncated at the segment end; the last step of a row only bootstraps.
// Rewards are clamped to [-reward_clip, reward_clip] here (spec 6.1 step 2), reward_clip <= 0
// disables the clamp.
#include "common.h"

void pk_advantage_cpu(float* adv, const float* values, const float* rewards, const float* dones,
                      const float* ratios, int N, int T, float gamma, float lambda,
                      float rho_clip, float c_clip, float reward_clip) {
    #pragma omp parallel for schedule(static) if ((int64_t)N * T > PK_OMP_MIN_WORK)
    for (int i = 0; i < N; i++) {
        const float* V = values + (int64_t)i * T;
        const float* r = rewards + (int64_t)i * T;
        const float* d = dones + (int64_t)i * T;
        const float* w = ratios ? ratios + (int64_t)i * T : NULL;
        float* A = adv + (int64_t)i * T;
        float next = 0.0f;
        A[T - 1] = 0.0f;
        for (int t = T - 2; t >= 0; t--) {
            float ratio = w ? w[t] : 1.0f;
            float rho = fminf(ratio, rho_clip);
            float c = fminf(ratio, c_clip);
            float m = 1.0f - d[t + 1];
            float rew = r[t + 1];
            if (reward_clip > 0.0f) rew = pk_clampf(rew, -reward_clip, reward_clip);
            float delta = rho * (rew + gamma * V[t + 1] * m - V[t]);
            next = delta + gamma * lambda * c * m * next;
            A[t] = next;
        }
    }
}
