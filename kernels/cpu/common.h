// common.h: small helpers shared by the C reference kernels (not part of the ABI).
#ifndef PUFFER_KERNELS_CPU_COMMON_H
#define PUFFER_KERNELS_CPU_COMMON_H

#include <float.h>
#include <math.h>
#include <stdint.h>

#include "../kernels.h"

// Parallelize a loop only when it has enough work to pay for waking the OpenMP team.
#define PK_OMP_MIN_WORK 32768

// Hot loops are compiled twice (target_clones): for x86-64-v3 (AVX2 + FMA) and for baseline
// x86-64; the loader picks one per machine by its features. ("arch=haswell" would dispatch on
// the CPU model and never pick the fast clone on AMD.) Other compilers / architectures get the
// plain build.
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define PK_SIMD_CLONES __attribute__((target_clones("arch=x86-64-v3", "default")))
#else
#define PK_SIMD_CLONES
#endif

#define PK_INLINE static inline __attribute__((always_inline))

// exp(x) that vectorizes (libm's expf does not without -ffast-math): Cody-Waite reduction
// x = n ln2 + r, |r| <= ln2 / 2, then a degree-7 polynomial for e^r (Cephes coefficients), times
// 2^n built in the exponent bits. Relative error ~1e-7 (the MinGRU tests hold the kernels that
// use it to 1e-5 of fp64 torch, also at saturating inputs).
// x is clamped to [-87, 88] first: the result saturates near FLT_MIN / FLT_MAX, and NaN maps to
// exp(-87) (callers that can see NaN check it themselves).
PK_INLINE float pk_exp(float x) {
    float xc = x > -87.0f ? x : -87.0f;
    xc = xc < 88.0f ? xc : 88.0f;
    float n = (float)(int)(xc * 1.44269504088896341f + (xc >= 0.0f ? 0.5f : -0.5f));
    float r = xc - n * 0.693359375f + n * 2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r * r + r + 1.0f;
    union { uint32_t u; float f; } scale;
    scale.u = (uint32_t)((int)n + 127) << 23;
    return p * scale.f;
}

PK_INLINE float pk_sigmoid(float x) { return 1.0f / (1.0f + pk_exp(-x)); }

// cond ? a : b as arithmetic (exact for finite a, b). GCC 12 keeps some float selects as
// branches inside the AVX2 clone, which stops vectorization; a blend it always vectorizes.
PK_INLINE float pk_blend(int cond, float a, float b) {
    float m = cond ? 1.0f : 0.0f;
    return m * a + (1.0f - m) * b;
}

// MinGRU candidate g(k) and its derivative.
PK_INLINE float pk_gk(float k) { return pk_blend(k >= 0.0f, k + 0.5f, pk_sigmoid(k)); }
PK_INLINE float pk_dgk(float k) {
    float s = pk_sigmoid(k);
    return pk_blend(k >= 0.0f, 1.0f, s * (1.0f - s));
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
