// ocean.h: the contract every Ocean environment follows. Include it first in <name>.h.
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
//   unsigned int rng;         per-env seed for rand_r, set by the runtime before c_reset
//
// Rules: no allocation in c_step, no globals, all state in the struct. c_step resets the
// episode itself (after adding to log) when it ends. Rewards should stay in [-1, 1].
#ifndef PUFFER_OCEAN_H
#define PUFFER_OCEAN_H

#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

// Uniform float in [0, 1) from the env's own seed.
static inline float rand_uniform(unsigned int* rng) {
    return (float)rand_r(rng) / ((float)RAND_MAX + 1.0f);
}

static inline float clampf(float x, float lo, float hi) {
    return x < lo ? lo : (x > hi ? hi : x);
}

#endif
