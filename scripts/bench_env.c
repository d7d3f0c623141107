// bench_env.c: env-only steps/s of one env through the runtime (envs/vecenv.h): N agents in one
// buffer, random valid actions, puffer_vec_step = the OpenMP static loop over c_step.
// Build against any binding file that defines the env and includes vecenv.h:
//   gcc -O2 -fopenmp -Ienvs -Ienvs/freeway -DBINDING='"freeway/binding.c"' \
//       scripts/bench_env.c -lm -o /tmp/bench_freeway
//   /tmp/bench_freeway [agents=1024] [threads=1] [seconds=3]
// The env's default config (my_init with no [env] keys) is what runs.
#include BINDING
#include <time.h>

#define BENCH_ACTION_STEPS 256  // steps of pre-drawn actions, cycled

static double bench_now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + 1e-9 * t.tv_nsec;
}

int main(int argc, char** argv) {
    int agents = argc > 1 ? atoi(argv[1]) : 1024;
    int threads = argc > 2 ? atoi(argv[2]) : 1;
    double seconds = argc > 3 ? atof(argv[3]) : 3.0;
    if (agents < 1 || threads < 1 || !(seconds > 0)) {
        fprintf(stderr, "usage: %s [agents >= 1] [threads >= 1] [seconds > 0]\n", argv[0]);
        return 2;
    }
    PufferVecSpec spec = {agents, 1, threads, 1, 0, NULL, NULL, NULL};
    char err[PUFFER_ERR_LEN];
    PufferVec* vec = puffer_vec_create(&spec, err, sizeof(err));
    if (vec == NULL) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    size_t per_step = (size_t)agents * NUM_ATNS;
    float* table = (float*)malloc(per_step * BENCH_ACTION_STEPS * sizeof(float));
    uint32_t rng = 12345;
    for (size_t i = 0; i < per_step * BENCH_ACTION_STEPS; i++) {
        int size = puffer_act_sizes[i % NUM_ATNS];
        table[i] = size == 1 ? 2.0f * puffer_uniform(&rng) - 1.0f : (float)puffer_randint(&rng, size);
    }
    puffer_vec_reset(vec, 1);
    long steps = 0;
    double start = bench_now(), elapsed = 0;
    while (elapsed < seconds) {
        for (int s = 0; s < BENCH_ACTION_STEPS; s++) {
            memcpy(vec->actions, table + per_step * s, per_step * sizeof(float));
            puffer_vec_step(vec);
        }
        steps += BENCH_ACTION_STEPS;
        elapsed = bench_now() - start;
    }
    printf("%s: %d agents, %d threads: %.2fM agent steps/s\n", ENV_NAME, agents, threads,
           steps * (double)agents / elapsed / 1e6);
    free(table);
    puffer_vec_close(vec);
    return 0;
}
