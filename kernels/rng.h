// rng.h: Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3", SC 2011),
// shared verbatim by the C reference and the CUDA kernels so both draw identical numbers.
//
// Counter-based: out = philox(counter[4], key[2]); no state to store or advance. PufferLib uses
// key = 64-bit seed, counter = (draw, stream, step lo, step hi).
// Also: uniform in (0, 1] from the top 24 bits (exact in fp32), and a Box-Muller normal.
#ifndef PUFFER_KERNELS_RNG_H
#define PUFFER_KERNELS_RNG_H

#include <math.h>
#include <stdint.h>

#ifdef __CUDACC__
#define PK_HD __host__ __device__ __forceinline__
#else
#define PK_HD static inline
#endif

#define PK_PHILOX_M0 0xD2511F53u
#define PK_PHILOX_M1 0xCD9E8D57u
#define PK_PHILOX_W0 0x9E3779B9u
#define PK_PHILOX_W1 0xBB67AE85u

// Stream id of the prioritized-replay draws (action draws use the agent index as stream).
#define PK_PRIO_STREAM 0x7072696Fu

PK_HD void pk_philox4x32_10(const uint32_t ctr[4], const uint32_t key[2], uint32_t out[4]) {
    uint32_t c0 = ctr[0], c1 = ctr[1], c2 = ctr[2], c3 = ctr[3];
    uint32_t k0 = key[0], k1 = key[1];
    for (int round = 0; round < 10; round++) {
        uint64_t p0 = (uint64_t)PK_PHILOX_M0 * c0;
        uint64_t p1 = (uint64_t)PK_PHILOX_M1 * c2;
        uint32_t hi0 = (uint32_t)(p0 >> 32), lo0 = (uint32_t)p0;
        uint32_t hi1 = (uint32_t)(p1 >> 32), lo1 = (uint32_t)p1;
        c0 = hi1 ^ c1 ^ k0;
        c1 = lo1;
        c2 = hi0 ^ c3 ^ k1;
        c3 = lo0;
        k0 += PK_PHILOX_W0;
        k1 += PK_PHILOX_W1;
    }
    out[0] = c0; out[1] = c1; out[2] = c2; out[3] = c3;
}

// Four draws for (seed, draw, stream, step).
PK_HD void pk_philox_draw(uint64_t seed, uint32_t draw, uint32_t stream, uint64_t step,
                          uint32_t out[4]) {
    uint32_t ctr[4] = {draw, stream, (uint32_t)step, (uint32_t)(step >> 32)};
    uint32_t key[2] = {(uint32_t)seed, (uint32_t)(seed >> 32)};
    pk_philox4x32_10(ctr, key, out);
}

// (0, 1]: never 0, so log(u) is finite. Multiples of 2^-24, exact in fp32.
PK_HD float pk_uniform(uint32_t x) {
    return (float)((x >> 8) + 1u) * (1.0f / 16777216.0f);
}

// Standard normal from two words (Box-Muller, cosine branch).
PK_HD float pk_normal(uint32_t x0, uint32_t x1) {
    float u1 = pk_uniform(x0);
    float u2 = pk_uniform(x1);
    return sqrtf(-2.0f * logf(u1)) * cosf(6.2831853071795864769f * u2);
}

#endif  // PUFFER_KERNELS_RNG_H
