// ocean.h: the portable contract every Ocean environment follows. Include it first in <name>.h.
//
// An environment is a folder envs/<name>/ with four files:
//   <name>.h    the game: a Log struct of floats ending in `n`, an env struct, and
//               c_reset / c_step / c_render / c_close (see envs/squared/squared.h)
//   binding.c   metadata for the trainer (obs size and dtype, action heads), my_init
//               (reads [env] kwargs), my_log (which Log fields to export), then
//               #include "vecenv.h"
//   <name>.c    a standalone demo with an SPS printout (bash build.sh <name> --local)
//   <name>.ini  its config (sections base, vec, env, policy, train, sweep)
//
// The env struct must contain these fields (names matter: the vector runtime sets them):
//   Log log;                  per-episode sums, n = episodes finished
//   <uint8_t|float>* observations;  num_agents * OBS_SIZE, owned by the runtime
//   float* actions;           num_agents * NUM_ATNS (discrete actions arrive as 0,1,2,...)
//   float* rewards;           num_agents
//   float* terminals;         num_agents, 1 when an episode terminated
//   float* truncations;       num_agents, 1 when an episode was cut off (time limit)
//   int num_agents;           set in my_init
//   uint32_t rng;             RNG state, seeded (never 0) by the runtime before c_reset
//
// Portable: the same header is compiled as host C (CPU threads) and as CUDA device code (one
// env per GPU thread). Code reachable from c_reset / c_step must follow these rules:
//   - every such function is declared PUFFER_FN;
//   - only math.h float functions (sqrtf, fabsf, floorf ...), memset and memcpy from the C library:
//     no stdio, no rand/rand_r (use puffer_rand below), no malloc/free. sqrtf, division, floorf and
//     fabsf round identically on host and device; sinf/cosf/expf... do not: use puffer_sinf and
//     puffer_cosf below where host and device must agree bit for bit;
//   - no globals and no file-scope tables: lookup tables are local `const` arrays inside the
//     function that uses them, or computed;
//   - all state lives in the env struct (fixed-size arrays, sized by compile-time maxima that
//     my_init checks); the runtime's five buffers above are the only pointers step may follow.
// Host-only (plain `static`, may use stdio and allocation): my_init, my_log, c_render,
// c_close, config checks called from my_init, and the demo's main.
// `scripts/check_env_device.sh` (run by CI) compiles every env's step as device code.
//
// c_step resets the episode itself (after adding to log) when it ends. Rewards should stay
// in [-1, 1].
#ifndef PUFFER_OCEAN_H
#define PUFFER_OCEAN_H

#include <math.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>   // host-only code (config checks in my_init); never in step code
#include <stdlib.h>  // host-only code; never in step code
#include <string.h>

#ifdef __CUDACC__
#define PUFFER_FN static inline __host__ __device__
#else
#define PUFFER_FN static inline
#endif

// The device-code check (scripts/check_env_device.py) defines PUFFER_DEVICE_CHECK: in its device
// pass these C library calls become host-only functions whose names state the rule, so nvcc's
// "calling a __host__ function from a __device__ function" error names the broken rule.
#if defined(PUFFER_DEVICE_CHECK) && defined(__CUDA_ARCH__)
__host__ void* puffer_rule_no_allocation_in_step_code(size_t);
__host__ int puffer_rule_no_stdio_in_step_code(const char*, ...);
#define malloc(n) puffer_rule_no_allocation_in_step_code(n)
#define calloc(n, m) puffer_rule_no_allocation_in_step_code((n) * (m))
#define realloc(p, n) puffer_rule_no_allocation_in_step_code(n)
#define printf(...) puffer_rule_no_stdio_in_step_code(__VA_ARGS__)
#define fprintf(f, ...) puffer_rule_no_stdio_in_step_code(__VA_ARGS__)
#define puts(s) puffer_rule_no_stdio_in_step_code(s)
#endif

#define PUFFER_STR_(x) #x
#define PUFFER_STR(x) PUFFER_STR_(x)  // a macro's value as a string literal, for messages

// PUFFER_RENDER is 1 when the env library links raylib (desktop or headless variant).
#ifndef PUFFER_RENDER
#define PUFFER_RENDER 0
#endif
#if PUFFER_RENDER
#include "raylib.h"
#define PUFFER_BACKGROUND ((Color){6, 24, 24, 255})
#define PUFFER_CYAN ((Color){0, 187, 187, 255})
#define PUFFER_RED ((Color){187, 0, 0, 255})
#define PUFFER_WHITE ((Color){241, 241, 241, 255})
#endif

// xorshift32 (Marsaglia 2003): integer-only, so host and device give identical streams.
// The state must never be 0; the runtime seeds it with a non-zero value.
PUFFER_FN uint32_t puffer_rand(uint32_t* state) {
    uint32_t x = *state;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    *state = x;
    return x;
}

// Uniform float in [0, 1): the top 24 bits, exactly representable.
PUFFER_FN float puffer_uniform(uint32_t* state) {
    return (float)(puffer_rand(state) >> 8) * (1.0f / 16777216.0f);
}

// Uniform integer in [0, n) for n >= 1 (multiply-shift: no modulo bias worth noting, no division).
PUFFER_FN int puffer_randint(uint32_t* state, int n) {
    return (int)(((uint64_t)puffer_rand(state) * (uint64_t)(uint32_t)n) >> 32);
}

// sin and cos with the same bits on host and device (the CUDA and C libraries round sinf/cosf
// differently, and one ulp grows into a different episode): Cody-Waite reduction to [-pi, pi],
// folding to [-pi/2, pi/2], then the odd Taylor polynomial to x^11 (error < 6e-8 there). The
// device build compiles envs with --fmad=false so every product and sum rounds as on the host.
PUFFER_FN float puffer_sinf(float x) {
    float k = floorf(x * 0.159154943f + 0.5f);             // nearest multiple of 2 pi
    float r = (x - k * 6.28125f) - k * 1.93530717e-3f;    // 2 pi = 6.28125 + 1.93530717e-3
    if (r > 1.57079633f) r = 3.14159265f - r;
    else if (r < -1.57079633f) r = -3.14159265f - r;
    float r2 = r * r;
    float poly = -2.50521084e-8f;
    poly = poly * r2 + 2.75573192e-6f;
    poly = poly * r2 - 1.98412698e-4f;
    poly = poly * r2 + 8.33333333e-3f;
    poly = poly * r2 - 1.66666667e-1f;
    return r + r * r2 * poly;
}

PUFFER_FN float puffer_cosf(float x) { return puffer_sinf(x + 1.57079633f); }

PUFFER_FN float clampf(float x, float lo, float hi) {
    return x < lo ? lo : (x > hi ? hi : x);
}

PUFFER_FN int clampi(int x, int lo, int hi) {
    return x < lo ? lo : (x > hi ? hi : x);
}

PUFFER_FN int mini(int a, int b) { return a < b ? a : b; }
PUFFER_FN int maxi(int a, int b) { return a > b ? a : b; }
PUFFER_FN float signf(float x) { return (x > 0.0f) - (x < 0.0f); }

#endif
