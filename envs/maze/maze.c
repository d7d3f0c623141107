// maze.c: standalone demo. With a window: arrow keys walk the agent (R starts a new level).
// With no display (or --bench): steps a random agent, printing steps per second and how many
// episodes reach the goal.
//   bash build.sh maze --local   (ASan+UBSan)     bash build.sh maze --fast
#include "demo.h"
#include "maze.h"

static void bench(Maze* env, double seconds) {
    memset(&env->log, 0, sizeof(env->log));
    c_reset(env);
    long steps = 0;
    double start = now();
    while (now() - start < seconds) {
        for (int i = 0; i < 10000; i++) {
            env->actions[0] = (float)puffer_randint(&env->rng, 5);
            c_step(env);
        }
        steps += 10000;
    }
    double sps = steps / (now() - start);
    float n = env->log.n;
    printf("maze random %.2fM steps/s  %.0f episodes  perf %.3f  steps/episode %.0f\n", sps / 1e6, n,
           n > 0 ? env->log.perf / n : 0.0f, n > 0 ? env->log.episode_length / n : 0.0f);
}

int main(int argc, char** argv) {
    int force_bench = 0;
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "--bench") == 0) force_bench = 1;
    unsigned char obs[MAZE_WINDOW * MAZE_WINDOW];
    float action = 0, reward = 0, terminal = 0, truncation = 0;
    Maze env = {0};
    env.observations = obs;
    env.actions = &action;
    env.rewards = &reward;
    env.terminals = &terminal;
    env.truncations = &truncation;
    env.rng = 42;
    env.num_agents = 1;
    env.num_maps = 8192;
    env.map_size = -1;
    c_reset(&env);
#if PUFFER_RENDER
    if (!force_bench && getenv("DISPLAY") != NULL) {
        c_render(&env);
        while (IsWindowReady() && !WindowShouldClose()) {
            int key = -1;
            if (IsKeyPressed(KEY_RIGHT) || IsKeyPressedRepeat(KEY_RIGHT)) key = MZ_EAST;
            else if (IsKeyPressed(KEY_UP) || IsKeyPressedRepeat(KEY_UP)) key = MZ_NORTH;
            else if (IsKeyPressed(KEY_LEFT) || IsKeyPressedRepeat(KEY_LEFT)) key = MZ_WEST;
            else if (IsKeyPressed(KEY_DOWN) || IsKeyPressedRepeat(KEY_DOWN)) key = MZ_SOUTH;
            if (IsKeyPressed(KEY_R)) c_reset(&env);
            if (key >= 0) {
                action = (float)key;
                c_step(&env);
            }
            c_render(&env);
        }
        c_close(&env);
        return 0;
    }
#else
    (void)c_render;
#endif
    (void)force_bench;
    bench(&env, 2.0);
    c_close(&env);
    return 0;
}
