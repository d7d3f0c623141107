// advantage.cu: the puffer advantage (GAE + V-trace clipping), CUDA. Same formula as
// cpu/advantage.c (its header says which of the reference's two TD forms we use and why).
//
// One thread per row walks t backwards; fp32 throughout. Rows are T floats apart, so a warp's
// loads touch 32 rows: each 32-byte sector fetched serves the next 8 steps of that thread from L1.
// Napkin math: 4096 x 64 steps, 4 fp32 inputs + 1 output = 5.2 MB -> under 2 us of bandwidth at
// 3 TB/s; with only 4096 threads the kernel is latency-bound (~10 us).
#include "common.cuh"

#define ADV_THREADS 128

__global__ void __launch_bounds__(ADV_THREADS)
advantage_kernel(float* __restrict__ adv, const float* __restrict__ values,
                 const float* __restrict__ rewards, const float* __restrict__ dones,
                 const float* __restrict__ ratios, int N, int T, float gamma, float lambda,
                 float rho_clip, float c_clip, float reward_clip) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= N) return;
    const float* V = values + (int64_t)i * T;
    const float* r = rewards + (int64_t)i * T;
    const float* d = dones + (int64_t)i * T;
    const float* w = ratios != nullptr ? ratios + (int64_t)i * T : nullptr;
    float* A = adv + (int64_t)i * T;
    float next = 0.0f;
    float v_next = V[T - 1];
    A[T - 1] = 0.0f;
    for (int t = T - 2; t >= 0; t--) {
        float ratio = w != nullptr ? w[t] : 1.0f;
        float rho = fminf(ratio, rho_clip);
        float c = fminf(ratio, c_clip);
        float m = 1.0f - d[t + 1];
        float rew = r[t + 1];
        if (reward_clip > 0.0f) rew = pk_clampf(rew, -reward_clip, reward_clip);
        float v = V[t];
        float delta = rho * (rew + gamma * v_next * m - v);
        next = delta + gamma * lambda * c * m * next;
        A[t] = next;
        v_next = v;
    }
}

extern "C" int pk_advantage_cuda(float* adv, const float* values, const float* rewards,
                                 const float* dones, const float* ratios, int N, int T,
                                 float gamma, float lambda, float rho_clip, float c_clip,
                                 float reward_clip, void* stream) {
    PK_REQUIRE(N >= 0 && T > 0);
    if (N == 0) return 0;
    advantage_kernel<<<(N + ADV_THREADS - 1) / ADV_THREADS, ADV_THREADS, 0, pk_stream(stream)>>>(
        adv, values, rewards, dones, ratios, N, T, gamma, lambda, rho_clip, c_clip, reward_clip);
    PK_LAUNCH_CHECK();
    return 0;
}
