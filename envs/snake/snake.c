// snake.c: standalone demo. With a window: arrow keys steer snake 0 while the others move
// greedily toward food. With no display (or --bench): benchmarks random snakes and greedy
// snakes, printing agent steps per second.
//   bash build.sh snake --local   (ASan+UBSan)     bash build.sh snake --fast
#include "demo.h"
#include "snake.h"

// Scripted snake: from its own view, step toward the nearest visible food along a free
// neighbour cell; otherwise any free neighbour; otherwise straight on.
static int greedy(const Snake* env, int agent) {
    int v = env->vision, side = 2 * v + 1;
    const unsigned char* obs = env->observations + (size_t)agent * side * side;
    static const int dr[4] = {-1, 1, 0, 0}, dc[4] = {0, 0, -1, 1};
    int best = -1, best_dist = 1 << 30;
    for (int r = 0; r < side; r++) {
        for (int c = 0; c < side; c++) {
            if (obs[r * side + c] != CELL_FOOD) continue;
            for (int a = 0; a < 4; a++) {
                unsigned char n = obs[(v + dr[a]) * side + v + dc[a]];
                if (n != CELL_EMPTY && n != CELL_FOOD) continue;
                int d = abs(r - v - dr[a]) + abs(c - v - dc[a]);
                if (d < best_dist) best_dist = d, best = a;
            }
        }
    }
    if (best >= 0) return best;
    for (int a = 0; a < 4; a++) {
        unsigned char n = obs[(v + dr[a]) * side + v + dc[a]];
        if (n == CELL_EMPTY || n == CELL_FOOD) return a;
    }
    return env->snakes[agent].dir;
}

static void bench(Snake* env, const char* who, int scripted, double seconds) {
    memset(&env->log, 0, sizeof(env->log));
    c_reset(env);
    long steps = 0;
    double start = now();
    while (now() - start < seconds) {
        for (int t = 0; t < 1000; t++) {
            for (int i = 0; i < env->num_agents; i++)
                env->actions[i] = scripted ? greedy(env, i) : (float)(puffer_randint(&env->rng, 4));
            c_step(env);
        }
        steps += 1000L * env->num_agents;
    }
    double sps = steps / (now() - start);
    float n = env->log.n;
    printf("snake %-7s %.2fM agent steps/s  %.0f snake episodes  length %.2f  perf %.3f  steps/episode %.1f\n",
           who, sps / 1e6, n, n > 0 ? env->log.score / n : 0.0f, n > 0 ? env->log.perf / n : 0.0f,
           n > 0 ? env->log.episode_length / n : 0.0f);
}

int main(int argc, char** argv) {
    int force_bench = argc > 1 && strcmp(argv[1], "--bench") == 0;
    Snake env = {0};
    env.width = 48;
    env.height = 48;
    env.num_snakes = 16;
    env.num_food = 64;
    env.vision = 5;
    env.max_snake_length = 64;
    env.food_reward = 0.1f;
    env.rng = 42;
    char why[160];
    if (snake_check(&env, why, sizeof(why))) {
        fprintf(stderr, "bad config: %s\n", why);
        return 1;
    }
    snake_init(&env);
    int n = env.num_agents, side = 2 * env.vision + 1;
    env.observations = (unsigned char*)calloc((size_t)n * side * side, 1);
    env.actions = (float*)calloc((size_t)n, sizeof(float));
    env.rewards = (float*)calloc((size_t)n, sizeof(float));
    env.terminals = (float*)calloc((size_t)n, sizeof(float));
    env.truncations = (float*)calloc((size_t)n, sizeof(float));
    c_reset(&env);
#if PUFFER_RENDER
    if (!force_bench && getenv("DISPLAY") != NULL) {
        c_render(&env);
        while (IsWindowReady() && !WindowShouldClose()) {
            for (int i = 1; i < n; i++) env.actions[i] = greedy(&env, i);
            env.actions[0] = env.snakes[0].dir;
            if (IsKeyDown(KEY_UP)) env.actions[0] = SN_UP;
            if (IsKeyDown(KEY_DOWN)) env.actions[0] = SN_DOWN;
            if (IsKeyDown(KEY_LEFT)) env.actions[0] = SN_LEFT;
            if (IsKeyDown(KEY_RIGHT)) env.actions[0] = SN_RIGHT;
            c_step(&env);
            c_render(&env);
        }
    } else
#else
    (void)c_render;  // drawing is compiled out without PUFFER_RENDER
#endif
    {
        (void)force_bench;
        bench(&env, "random", 0, 2.0);
        bench(&env, "greedy", 1, 2.0);
    }
    c_close(&env);
    free(env.observations);
    free(env.actions);
    free(env.rewards);
    free(env.terminals);
    free(env.truncations);
    return 0;
}
