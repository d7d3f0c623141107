// tower_climb.c: standalone demo. With a window: arrow keys turn/move (right +x, down +z,
// left -x, up -z), space grabs or releases, enter lets go of a ledge. With no display (or
// --bench): a random agent plays and the loop prints steps per second.
//   bash build.sh tower_climb --local   (ASan+UBSan)     bash build.sh tower_climb --fast
#include "demo.h"
#include "tower_climb.h"

int main(int argc, char** argv) {
    int bench = argc > 1 && strcmp(argv[1], "--bench") == 0;
    unsigned char obs[TC_OBS_SIZE];
    float action = 0, reward = 0, terminal = 0, truncation = 0;
    TowerClimb env = {0};
    env.observations = obs;
    env.actions = &action;
    env.rewards = &reward;
    env.terminals = &terminal;
    env.truncations = &truncation;
    env.rng = 42;
    env.num_agents = 1;
    tower_climb_defaults(&env);
    c_reset(&env);
#if PUFFER_RENDER
    if (!bench && getenv("DISPLAY") != NULL) {
        c_render(&env);
        while (IsWindowReady() && !WindowShouldClose()) {
            int a = -1;
            if (IsKeyPressed(KEY_RIGHT)) a = TC_PX;
            if (IsKeyPressed(KEY_DOWN)) a = TC_PZ;
            if (IsKeyPressed(KEY_LEFT)) a = TC_NX;
            if (IsKeyPressed(KEY_UP)) a = TC_NZ;
            if (IsKeyPressed(KEY_SPACE)) a = TC_GRAB;
            if (IsKeyPressed(KEY_ENTER)) a = TC_LET_GO;
            if (a >= 0) {
                action = (float)a;
                c_step(&env);
                if (terminal || truncation) printf("episode over: reward %.2f\n", reward);
            }
            c_render(&env);
        }
        c_close(&env);
        return 0;
    }
#else
    (void)c_render;
#endif
    (void)bench;
    long steps = 0;
    double start = now();
    while (now() - start < 2.0) {
        for (int i = 0; i < 10000; i++) {
            action = (float)puffer_randint(&env.rng, 6);
            c_step(&env);
        }
        steps += 10000;
    }
    double sps = steps / (now() - start);
    float n = env.log.n;
    printf("tower_climb random: %.2fM steps/s, %.0f episodes, perf %.4f, score %.2f, length %.1f\n",
           sps / 1e6, n, n > 0 ? env.log.perf / n : 0.0f, n > 0 ? env.log.score / n : 0.0f,
           n > 0 ? env.log.episode_length / n : 0.0f);
    c_close(&env);
    return 0;
}
