// prio.cu: segment priorities, their CDF, sampling and importance weights, CUDA. Same math as
// cpu/prio.c.
//
//   1. prio_rows: one warp per row sums |A| (shuffle tree, fixed order), p = sum^alpha.
//   2. prio_cdf: one block of 1024 threads; each thread sums a contiguous chunk in fp64, a block
//      scan gives chunk offsets, each thread writes its chunk's running CDF and normalised P.
//   3. prio_sample: one block; every thread reads the device step counter, draws, binary-searches;
//      after a barrier thread 0 advances the counter (one launch, graph-safe).
// Napkin math: 4096 x 64 fp32 advantages = 1 MB read once: ~1 us of bandwidth; the single-block
// CDF over 4096 rows is a few us of latency.
#include "common.cuh"

#define PRIO_EPS 1e-6
#define PRIO_ROW_THREADS 256
#define PRIO_CDF_THREADS 1024
#define PRIO_SAMPLE_THREADS 256

__global__ void __launch_bounds__(PRIO_ROW_THREADS)
prio_rows_kernel(float* __restrict__ p, const float* __restrict__ adv, int N, int T, float alpha) {
    int warp = (blockIdx.x * blockDim.x + threadIdx.x) >> 5;
    int lane = threadIdx.x & 31;
    if (warp >= N) return;
    const float* a = adv + (int64_t)warp * T;
    float s = 0.0f;
    for (int t = lane; t < T; t += 32) s += fabsf(a[t]);
    s = warp_sum(s);
    if (lane == 0) {
        float v = powf(s, alpha);
        p[warp] = isfinite(v) ? v : 0.0f;
    }
}

__global__ void __launch_bounds__(PRIO_CDF_THREADS)
prio_cdf_kernel(float* __restrict__ probs, double* __restrict__ cdf, int N) {
    __shared__ double scan[PRIO_CDF_THREADS];
    __shared__ double total;
    int tid = threadIdx.x;
    int chunk = (N + PRIO_CDF_THREADS - 1) / PRIO_CDF_THREADS;
    int i0 = min(N, tid * chunk), i1 = min(N, i0 + chunk);
    double local = 0.0;
    for (int i = i0; i < i1; i++) local += (double)probs[i] + PRIO_EPS;
    scan[tid] = local;
    __syncthreads();
    // Hillis-Steele inclusive scan
    for (int o = 1; o < PRIO_CDF_THREADS; o <<= 1) {
        double v = tid >= o ? scan[tid - o] : 0.0;
        __syncthreads();
        scan[tid] += v;
        __syncthreads();
    }
    if (tid == PRIO_CDF_THREADS - 1) total = scan[tid];
    double run = tid > 0 ? scan[tid - 1] : 0.0;  // exclusive prefix of this chunk
    for (int i = i0; i < i1; i++) {
        run += (double)probs[i] + PRIO_EPS;
        cdf[i] = run;
    }
    __syncthreads();
    double tot = total;
    for (int i = i0; i < i1; i++) probs[i] = (float)(((double)probs[i] + PRIO_EPS) / tot);
}

__global__ void __launch_bounds__(PRIO_SAMPLE_THREADS)
prio_sample_kernel(int32_t* __restrict__ idx, float* __restrict__ weights,
                   const float* __restrict__ probs, const double* __restrict__ cdf, int N, int S,
                   float beta, uint64_t seed, uint64_t* counter) {
    uint64_t step = *counter;
    double total = cdf[N - 1];
    for (int s = threadIdx.x; s < S; s += blockDim.x) {
        uint32_t r[4];
        pk_philox_draw(seed, (uint32_t)s, PK_PRIO_STREAM, step, r);
        double target = (double)pk_uniform(r[0]) * total;
        int lo = 0, hi = N - 1;
        while (lo < hi) {
            int mid = lo + (hi - lo) / 2;
            if (cdf[mid] >= target) hi = mid;
            else lo = mid + 1;
        }
        idx[s] = lo;
        weights[s] = powf((float)N * probs[lo], -beta);
    }
    __syncthreads();
    if (threadIdx.x == 0) *counter = step + 1;
}

extern "C" int pk_prio_weights_cuda(float* probs, double* cdf, const float* adv, int N, int T,
                                    float alpha, void* stream) {
    PK_REQUIRE(N > 0 && T > 0);
    cudaStream_t s = pk_stream(stream);
    int warps_per_block = PRIO_ROW_THREADS / 32;
    prio_rows_kernel<<<(N + warps_per_block - 1) / warps_per_block, PRIO_ROW_THREADS, 0, s>>>(
        probs, adv, N, T, alpha);
    PK_LAUNCH_CHECK();
    prio_cdf_kernel<<<1, PRIO_CDF_THREADS, 0, s>>>(probs, cdf, N);
    PK_LAUNCH_CHECK();
    return 0;
}

extern "C" int pk_prio_sample_cuda(int32_t* idx, float* weights, const float* probs,
                                   const double* cdf, int N, int S, float beta, uint64_t seed,
                                   uint64_t* counter, void* stream) {
    PK_REQUIRE(N > 0 && S >= 0);
    prio_sample_kernel<<<1, PRIO_SAMPLE_THREADS, 0, pk_stream(stream)>>>(idx, weights, probs, cdf,
                                                                       N, S, beta, seed, counter);
    PK_LAUNCH_CHECK();
    return 0;
}
