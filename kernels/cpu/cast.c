// cast.c: fp32 <-> bf16, C reference. bf16 is the top 16 bits of an fp32; rounding is to nearest,
// ties to even (what CUDA's __float2bfloat16 and torch do); NaN stays a quiet NaN.
#include <string.h>

#include "common.h"

static inline uint16_t f32_to_bf16(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    if ((u & 0x7FFFFFFFu) > 0x7F800000u) return (uint16_t)((u >> 16) | 0x0040u);  // NaN
    u += 0x7FFFu + ((u >> 16) & 1u);
    return (uint16_t)(u >> 16);
}

void pk_f32_to_bf16_cpu(uint16_t* dst, const float* src, int64_t n) {
    #pragma omp parallel for schedule(static) if (n > 16 * PK_OMP_MIN_WORK)
    for (int64_t i = 0; i < n; i++) dst[i] = f32_to_bf16(src[i]);
}

void pk_bf16_to_f32_cpu(float* dst, const uint16_t* src, int64_t n) {
    #pragma omp parallel for schedule(static) if (n > 16 * PK_OMP_MIN_WORK)
    for (int64_t i = 0; i < n; i++) {
        uint32_t u = (uint32_t)src[i] << 16;
        memcpy(&dst[i], &u, 4);
    }
}
