// bench_env.c: env-only steps per second, the way BENCHMARKS.md measures envs: N envs (1024 by
// default) in one array, each stepped by c_step inside an OpenMP static loop, with random valid
// discrete actions drawn per env inside the loop. No trainer, no Python.
//
//   cc -O2 -fopenmp -D_DEFAULT_SOURCE -Ienvs -Ienvs/NAME -DBENCH_BINDING='"binding.c"' \
//      scripts/bench_env.c -o bench_NAME -lm && ./bench_NAME [num_envs=1024] [seconds=3] [threads=2]
//
// BENCH_BINDING is a file that defines Env, OBS_SIZE, NUM_ATNS, ACT_SIZES and c_reset/c_step and
// either my_init(Env*, Kwargs*) (our bindings; NULL kwargs gives the ini defaults) or, with
// BENCH_CUSTOM_INIT, bench_init(Env*) and an OBS_T element type (an adaptor for another tree's env).
#include <omp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include BENCH_BINDING

#ifndef BENCH_CUSTOM_INIT
#define OBS_T __typeof__(*((Env*)0)->observations)
static void bench_init(Env* env) { my_init(env, NULL); }
#endif

static double bench_now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + 1e-9 * t.tv_nsec;
}

static uint32_t bench_rand(uint32_t* s) {
    uint32_t x = *s;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    return *s = x;
}

int main(int argc, char** argv) {
    int num_envs = argc > 1 ? atoi(argv[1]) : 1024;
    double seconds = argc > 2 ? atof(argv[2]) : 3.0;
    int threads = argc > 3 ? atoi(argv[3]) : 2;
    if (num_envs < 1 || seconds <= 0 || threads < 1) {
        fprintf(stderr, "usage: %s [num_envs >= 1] [seconds > 0] [threads >= 1]\n", argv[0]);
        return 2;
    }
    const int act_sizes[NUM_ATNS] = ACT_SIZES;
    Env* envs = (Env*)calloc((size_t)num_envs, sizeof(Env));
    uint32_t* action_rng = (uint32_t*)calloc((size_t)num_envs, sizeof(uint32_t));
    for (int e = 0; e < num_envs; e++) {
        envs[e].rng = 1000003u * (uint32_t)e + 17u;
        bench_init(&envs[e]);
        action_rng[e] = 7919u * (uint32_t)e + 1u;
    }
    int agents_per_env = envs[0].num_agents;
    size_t agents = (size_t)num_envs * agents_per_env;
    OBS_T* obs = (OBS_T*)calloc(agents * OBS_SIZE, sizeof(OBS_T));
    float* actions = (float*)calloc(agents * NUM_ATNS, sizeof(float));
    float* rewards = (float*)calloc(agents, sizeof(float));
    float* terminals = (float*)calloc(agents, sizeof(float));
    float* truncations = (float*)calloc(agents, sizeof(float));
    for (int e = 0; e < num_envs; e++) {
        size_t row = (size_t)e * agents_per_env;
        envs[e].observations = obs + row * OBS_SIZE;
        envs[e].actions = actions + row * NUM_ATNS;
        envs[e].rewards = rewards + row;
        envs[e].terminals = terminals + row;
#ifndef BENCH_NO_TRUNCATIONS
        envs[e].truncations = truncations + row;
#endif
        c_reset(&envs[e]);
    }
    long steps = 0;
    double start = bench_now(), elapsed = 0;
    while (elapsed < seconds) {
        for (int k = 0; k < 100; k++) {
            #pragma omp parallel for schedule(static) num_threads(threads)
            for (int e = 0; e < num_envs; e++) {
                float* a = envs[e].actions;
                for (int i = 0; i < agents_per_env * NUM_ATNS; i++)
                    a[i] = (float)(bench_rand(&action_rng[e]) % (uint32_t)act_sizes[i % NUM_ATNS]);
                c_step(&envs[e]);
            }
        }
        steps += 100;
        elapsed = bench_now() - start;
    }
    double sps = (double)steps * agents / elapsed;
    printf("%.0f agent steps/s (%d envs x %d agents, %d threads, %.1f s)\n", sps, num_envs,
           agents_per_env, threads, elapsed);
    free(truncations);
    free(terminals);
    free(rewards);
    free(actions);
    free(obs);
    free(action_rng);
    free(envs);
    return 0;
}
