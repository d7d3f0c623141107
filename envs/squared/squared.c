// squared.c: standalone demo. Arrow keys move when a window is open; with no display
// (or with --bench) a random agent plays and the loop prints steps per second.
//   bash build.sh squared --local   (ASan+UBSan)     bash build.sh squared --fast
#include "demo.h"
#include "squared.h"

int main(int argc, char** argv) {
    int bench = argc > 1 && strcmp(argv[1], "--bench") == 0;
    unsigned char obs[121];
    float action = 0, reward = 0, terminal = 0, truncation = 0;
    Squared env = {0};
    env.observations = obs;
    env.actions = &action;
    env.rewards = &reward;
    env.terminals = &terminal;
    env.truncations = &truncation;
    env.rng = 42;
    squared_init(&env, 11);
    c_reset(&env);
#if PUFFER_RENDER
    if (!bench && getenv("DISPLAY") != NULL) {
        c_render(&env);
        while (IsWindowReady() && !WindowShouldClose()) {
            action = SQ_NOOP;
            if (IsKeyDown(KEY_DOWN)) action = SQ_DOWN;
            if (IsKeyDown(KEY_UP)) action = SQ_UP;
            if (IsKeyDown(KEY_LEFT)) action = SQ_LEFT;
            if (IsKeyDown(KEY_RIGHT)) action = SQ_RIGHT;
            c_step(&env);
            c_render(&env);
        }
        c_close(&env);
        return 0;
    }
#endif
    (void)bench;
    long steps = 0;
    double start = now();
    while (now() - start < 2.0) {
        for (int i = 0; i < 10000; i++) {
            action = (float)(puffer_randint(&env.rng, 5));
            c_step(&env);
        }
        steps += 10000;
    }
    double sps = steps / (now() - start);
    printf("squared: %.1fM steps/s, %.0f episodes, perf %.3f\n", sps / 1e6, env.log.n,
           env.log.n > 0 ? env.log.perf / env.log.n : 0.0);
    c_close(&env);
    return 0;
}
