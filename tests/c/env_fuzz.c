// env_fuzz.c: steps one env library (compiled in, with ASan+UBSan) with random actions.
// Usage: fuzz_<env> STEPS. Exits non-zero if the env never finishes an episode or if a
// sanitizer reports anything (ctest runs it with halt_on_error).
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "env_abi.h"

static float random_action(unsigned int* rng, int size) {
    if (size > 1) return (float)(rand_r(rng) % size);
    float u = (float)rand_r(rng) / (float)RAND_MAX;
    if (rand_r(rng) % 50 == 0) return u < 0.5f ? -1e6f : 1e6f;  // extreme values must be clipped
    return 4.0f * u - 2.0f;
}

static PufferVec* create(int agents, int buffers, char* err) {
    PufferVecSpec spec = {agents, buffers, 2, 7, 0, NULL, NULL, NULL};
    return puffer_vec_create(&spec, err, PUFFER_ERR_LEN);
}

int main(int argc, char** argv) {
    long steps = argc > 1 ? atol(argv[1]) : 100000;
    const PufferEnvInfo* info = puffer_env_info();
    char err[PUFFER_ERR_LEN] = {0};
    PufferVec* vec = NULL;
    int per_env = 1;
    for (; per_env <= 4096 && vec == NULL; per_env++) {
        vec = create(per_env, 1, err);
    }
    if (vec == NULL) {
        fprintf(stderr, "%s: cannot create a vec env: %s\n", info->name, err);
        return 1;
    }
    int agents = vec->total_agents;
    puffer_vec_close(vec);
    vec = create(2 * agents, 2, err);
    if (vec == NULL) {
        fprintf(stderr, "%s: cannot create 2 buffers: %s\n", info->name, err);
        return 1;
    }
    puffer_vec_reset(vec, 1);
    unsigned int rng = 12345;
    int n = vec->total_agents * info->num_atns;
    float episodes = 0;
    PufferLogOut out;
    for (long t = 0; t < steps; t++) {
        for (int i = 0; i < n; i++) vec->actions[i] = random_action(&rng, info->act_sizes[i % info->num_atns]);
        if (t % 3 == 0) {
            puffer_vec_step(vec);
        } else {
            for (int b = 0; b < vec->num_buffers; b++) puffer_vec_step_buffer(vec, b);
        }
        if (t % 1000 == 999) {
            puffer_vec_log(vec, &out, 1);
            episodes += out.values[out.count - 1];
        }
        if (t == steps / 2) puffer_vec_reset(vec, 99);
    }
    puffer_vec_log(vec, &out, 1);
    episodes += out.values[out.count - 1];
    printf("%s: %ld steps x %d agents, %.0f episodes\n", info->name, steps, vec->total_agents, episodes);
    puffer_vec_close(vec);
    if (episodes < 1) {
        fprintf(stderr, "%s: no episode finished in %ld random steps\n", info->name, steps);
        return 1;
    }
    return 0;
}
