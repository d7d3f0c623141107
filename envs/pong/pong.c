// pong.c: standalone demo. With a window, the up/down arrows move the right paddle (one frame
// per step, so play is smooth); with no display (or with --bench) a random agent plays and the
// loop prints steps per second.
//   bash build.sh pong --local   (ASan+UBSan)     bash build.sh pong --fast
#include "demo.h"
#include "pong.h"

int main(int argc, char** argv) {
    int bench = argc > 1 && strcmp(argv[1], "--bench") == 0;
    float obs[8];
    float action = 0, reward = 0, terminal = 0, truncation = 0;
    Pong env = {0};
    env.observations = obs;
    env.actions = &action;
    env.rewards = &reward;
    env.terminals = &terminal;
    env.truncations = &truncation;
    env.rng = 42;
    // pong.ini values
    pong_init(&env, 500, 400, 10, 60, 10, 420, 240, 300, 25, 800, 21, 4, 20000);
    const char* error = pong_config_error(&env);
    if (error) {
        fprintf(stderr, "pong: %s\n", error);
        return 1;
    }
    c_reset(&env);
#if PUFFER_RENDER
    if (!bench && getenv("DISPLAY") != NULL) {
        env.frameskip = 1;
        env.max_steps = 1 << 30;
        c_render(&env);
        while (IsWindowReady() && !WindowShouldClose()) {
            action = PONG_STAY;
            if (IsKeyDown(KEY_UP)) action = PONG_UP;
            if (IsKeyDown(KEY_DOWN)) action = PONG_DOWN;
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
            action = (float)(puffer_randint(&env.rng, 3));
            c_step(&env);
        }
        steps += 10000;
    }
    double sps = steps / (now() - start);
    printf("pong: %.1fM steps/s, %.0f episodes, perf %.3f, mean length %.0f\n", sps / 1e6,
           env.log.n, env.log.n > 0 ? env.log.perf / env.log.n : 0.0,
           env.log.n > 0 ? env.log.episode_length / env.log.n : 0.0);
    c_close(&env);
    return 0;
}
