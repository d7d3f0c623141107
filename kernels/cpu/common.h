// common.h: small helpers shared by the C reference kernels (not part of the ABI).
#ifndef PUFFER_KERNELS_CPU_COMMON_H
#define PUFFER_KERNELS_CPU_COMMON_H

#include <float.h>
#include <math.h>
#include <stdint.h>

#include "../kernels.h"

// Parallelize a loop only when it has enough work to pay for waking the OpenMP team.
#define PK_OMP_MIN_WORK 32768

static inline float pk_sigmoid(float x) { return 1.0f / (1.0f + expf(-x)); }

// MinGRU candidate g(k) and its derivative.
static inline float pk_gk(float k) { return k >= 0.0f ? k + 0.5f : pk_sigmoid(k); }
static inline float pk_dgk(float k) {
    if (k >= 0.0f) return 1.0f;
    float s = pk_sigmoid(k);
    return s * (1.0f - s);
}

// NaN -> 0, +-inf -> +-FLT_MAX (logits from a diverged policy still sample something).
static inline float pk_sanitize(float x) {
    if (x != x) return 0.0f;
    if (x > FLT_MAX) return FLT_MAX;
    if (x < -FLT_MAX) return -FLT_MAX;
    return x;
}

static inline float pk_clampf(float x, float lo, float hi) {
    return x < lo ? lo : (x > hi ? hi : x);
}

#define PK_LOGSTD_MIN -20.0f
#define PK_LOGSTD_MAX 2.0f
#define PK_LOG_SQRT_2PI 0.91893853320467274178f

#endif  // PUFFER_KERNELS_CPU_COMMON_H
