// tetris.c: standalone demo. With a window: arrows move (up rotates, down soft-drops), space
// hard-drops, C holds; the game ticks 10 times a second and on every key. With no display (or
// --bench): steps a random agent and prints steps per second and the mean episode.
//   bash build.sh tetris --local   (ASan+UBSan)     bash build.sh tetris --fast
#include "demo.h"
#include "tetris.h"

static void bench(Tetris* env, double seconds) {
    memset(&env->log, 0, sizeof(env->log));
    c_reset(env);
    long steps = 0;
    double start = now();
    while (now() - start < seconds) {
        for (int i = 0; i < 10000; i++) {
            env->actions[0] = (float)puffer_randint(&env->rng, 7);
            c_step(env);
        }
        steps += 10000;
    }
    double sps = steps / (now() - start);
    float n = env->log.n;
    printf("tetris random %.2fM steps/s  %.0f episodes  score %.1f  lines %.2f  steps/episode %.0f\n",
           sps / 1e6, n, n > 0 ? env->log.score / n : 0.0f, n > 0 ? env->log.lines_deleted / n : 0.0f,
           n > 0 ? env->log.episode_length / n : 0.0f);
}

int main(int argc, char** argv) {
    int force_bench = 0;
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "--bench") == 0) force_bench = 1;
    float obs[TETRIS_OBS];
    float action = 0, reward = 0, terminal = 0, truncation = 0;
    Tetris env = {0};
    env.observations = obs;
    env.actions = &action;
    env.rewards = &reward;
    env.terminals = &terminal;
    env.truncations = &truncation;
    env.rng = 42;
    env.num_agents = 1;
    env.n_rows = 20;
    env.n_cols = 10;
    env.use_deck_obs = 1;
    env.n_init_garbage = 4;
    env.max_ticks = 10000;
    c_reset(&env);
#if PUFFER_RENDER
    if (!force_bench && getenv("DISPLAY") != NULL) {
        c_render(&env);
        int frame = 0;
        while (IsWindowReady() && !WindowShouldClose()) {
            int key = -1;
            if (IsKeyPressed(KEY_LEFT) || IsKeyPressedRepeat(KEY_LEFT)) key = TT_LEFT;
            else if (IsKeyPressed(KEY_RIGHT) || IsKeyPressedRepeat(KEY_RIGHT)) key = TT_RIGHT;
            else if (IsKeyPressed(KEY_UP)) key = TT_ROTATE;
            else if (IsKeyPressed(KEY_DOWN) || IsKeyPressedRepeat(KEY_DOWN)) key = TT_SOFT_DROP;
            else if (IsKeyPressed(KEY_SPACE)) key = TT_HARD_DROP;
            else if (IsKeyPressed(KEY_C)) key = TT_HOLD;
            frame++;
            if (key >= 0 || frame % 3 == 0) {  // 30 frames a second: a tick every 3rd, or on a key
                action = (float)(key >= 0 ? key : TT_NOOP);
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
