// cartpole.c: standalone demo. With a window, hold the right arrow to push right and the
// left arrow to push left (no key alternates the two, a net push of zero); with no display
// (or with --bench) a random agent plays and the loop prints steps per second.
//   bash build.sh cartpole --local   (ASan+UBSan)     bash build.sh cartpole --fast
#include "demo.h"
#include "cartpole.h"

int main(int argc, char** argv) {
    int bench = argc > 1 && strcmp(argv[1], "--bench") == 0;
    float obs[4];
    float action = 0, reward = 0, terminal = 0, truncation = 0;
    Cartpole env = {0};
    env.observations = obs;
    env.actions = &action;
    env.rewards = &reward;
    env.terminals = &terminal;
    env.truncations = &truncation;
    env.rng = 42;
    cartpole_init(&env, 1.0f, 0.1f, 0.5f, 9.8f, 10.0f, 0.02f, 0);  // cartpole.ini values
    const char* error = cartpole_config_error(&env);
    if (error) {
        fprintf(stderr, "cartpole: %s\n", error);
        return 1;
    }
    c_reset(&env);
#if PUFFER_RENDER
    if (!bench && getenv("DISPLAY") != NULL) {
        c_render(&env);
        while (IsWindowReady() && !WindowShouldClose()) {
            action = (float)(env.tick % 2);
            if (IsKeyDown(KEY_LEFT)) action = 0;
            if (IsKeyDown(KEY_RIGHT)) action = 1;
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
            action = (float)(puffer_randint(&env.rng, 2));
            c_step(&env);
        }
        steps += 10000;
    }
    double sps = steps / (now() - start);
    printf("cartpole: %.1fM steps/s, %.0f episodes, mean length %.1f\n", sps / 1e6, env.log.n,
           env.log.n > 0 ? env.log.episode_length / env.log.n : 0.0);
    c_close(&env);
    return 0;
}
