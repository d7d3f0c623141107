// prio.c: prioritized replay over trajectory segments (rows), C reference.
//
//   p_i = (sum_t |A_it|)^alpha   (NaN / inf -> 0)
//   P_i = (p_i + eps) / sum_j (p_j + eps),  eps = 1e-6
// The reference divides by (sum_j p_j + eps) instead; that P does not sum to 1, and when every
// advantage is zero it is 1 for every row. Ours sums to 1: all-zero advantages sample uniformly
// with unit weights, as alpha = 0 does.
// Sampling: S rows with replacement, u in (0, 1] from Philox (stream PK_PRIO_STREAM, step =
// *counter), idx = first i with cdf[i] >= u * cdf[N-1] (binary search); weight (N P_idx)^-beta.
// The CDF is accumulated in fp64 so the CUDA version (which sums in another order) agrees to
// ~1e-16 and picks the same rows.
#include "common.h"
#include "../rng.h"

#define PK_PRIO_EPS 1e-6

void pk_prio_weights_cpu(float* probs, double* cdf, const float* adv, int N, int T,
                         float alpha) {
    #pragma omp parallel for schedule(static) if ((int64_t)N * T > PK_OMP_MIN_WORK)
    for (int i = 0; i < N; i++) {
        const float* a = adv + (int64_t)i * T;
        float sum = 0.0f;
        for (int t = 0; t < T; t++) sum += fabsf(a[t]);
        float p = powf(sum, alpha);
        if (!isfinite(p)) p = 0.0f;
        probs[i] = p;  // unnormalized for now
    }
    double total = 0.0;
    for (int i = 0; i < N; i++) {
        total += (double)probs[i] + PK_PRIO_EPS;
        cdf[i] = total;
    }
    for (int i = 0; i < N; i++) probs[i] = (float)(((double)probs[i] + PK_PRIO_EPS) / total);
}

void pk_prio_sample_cpu(int32_t* idx, float* weights, const float* probs, const double* cdf,
                        int N, int S, float beta, uint64_t seed, uint64_t* counter) {
    uint64_t step = *counter;
    double total = cdf[N - 1];
    for (int s = 0; s < S; s++) {
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
    *counter = step + 1;
}
