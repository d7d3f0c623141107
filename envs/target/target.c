// target.c: standalone demo. With a window, the arrow keys drive agent 0 (left/right turn,
// up/down throttle) while the other seven act at random; with no display (or with --bench)
// all eight act at random and the loop prints agent steps per second.
//   bash build.sh target --local   (ASan+UBSan)     bash build.sh target --fast
#include "demo.h"
#include "target.h"

// Random actions for agents [first, TARGET_AGENTS): one row of two heads per agent.
static void random_actions(Target* env, float* actions, int first) {
    for (int i = first; i < TARGET_AGENTS; i++) {
        actions[i * TARGET_NUM_ATNS + 0] = (float)(puffer_randint(&env->rng, 9));
        actions[i * TARGET_NUM_ATNS + 1] = (float)(puffer_randint(&env->rng, 5));
    }
}

int main(int argc, char** argv) {
    int bench = argc > 1 && strcmp(argv[1], "--bench") == 0;
    // The runtime would hand the env slices of its big buffers; here they live on the stack.
    float obs[TARGET_AGENTS * TARGET_OBS_SIZE];
    float actions[TARGET_AGENTS * TARGET_NUM_ATNS] = {0};
    float rewards[TARGET_AGENTS] = {0}, terminals[TARGET_AGENTS] = {0};
    float truncations[TARGET_AGENTS] = {0};
    Target env = {0};
    env.observations = obs;
    env.actions = actions;
    env.rewards = rewards;
    env.terminals = terminals;
    env.truncations = truncations;
    env.rng = 42;
    target_init(&env, 952, 592);
    c_reset(&env);
#if PUFFER_RENDER
    if (!bench && getenv("DISPLAY") != NULL) {
        c_render(&env);
        while (IsWindowReady() && !WindowShouldClose()) {
            actions[0] = 4;  // keep heading
            actions[1] = 2;  // keep speed
            if (IsKeyDown(KEY_LEFT)) actions[0] = 1;
            if (IsKeyDown(KEY_RIGHT)) actions[0] = 7;
            if (IsKeyDown(KEY_UP)) actions[1] = 3;
            if (IsKeyDown(KEY_DOWN)) actions[1] = 1;
            random_actions(&env, actions, 1);
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
            random_actions(&env, actions, 0);
            c_step(&env);
        }
        steps += 10000;
    }
    double sps = TARGET_AGENTS * steps / (now() - start);
    printf("target: %.1fM agent steps/s, %.0f goals reached, perf %.3f\n", sps / 1e6,
           env.log.n, env.log.n > 0 ? env.log.perf / env.log.n : 0.0);
    c_close(&env);
    return 0;
}
