// binding.c: snake's shape for the trainer, then the runtime. One env is one shared world
// whose num_snakes snakes are its agents: the runtime lays their rows out contiguously.
#include "snake.h"

#define Env Snake
#define ENV_NAME "snake"
#define OBS_SIZE 121               // (2 * vision + 1)^2 with vision 5
#define OBS_DTYPE PUFFER_OBS_U8
#define NUM_ATNS 1
#define ACT_SIZES {4}              // up, down, left, right

#include "vecenv.h"

// Reads every key of snake.ini's [env] section and sets the world's sizes.
static void my_init(Snake* env, Kwargs* kw) {
    env->width = (int)kw_get(kw, "width", 48);
    env->height = (int)kw_get(kw, "height", 48);
    env->num_snakes = (int)kw_get(kw, "num_snakes", 16);
    env->num_food = (int)kw_get(kw, "num_food", 64);
    env->vision = (int)kw_get(kw, "vision", 5);
    env->max_snake_length = (int)kw_get(kw, "max_snake_length", 64);
    env->food_reward = (float)kw_get(kw, "food_reward", 0.1);
    int side = 2 * env->vision + 1;
    if (env->vision < 1 || side * side != OBS_SIZE) {
        kw_fail(kw, "vision must be 5 (OBS_SIZE %d = (2 * vision + 1)^2 is fixed at build time), got %d",
                OBS_SIZE, env->vision);
        return;
    }
    if (!(env->food_reward > 0.0f && env->food_reward <= 1.0f)) {
        kw_fail(kw, "food_reward must be in (0, 1], got %g", (double)env->food_reward);
        return;
    }
    char why[160];
    if (snake_check(env, why, sizeof(why))) {
        kw_fail(kw, "%s", why);
        return;
    }
    snake_init(env);
}

static void my_log(Log* log, PufferLogOut* out) {
    log_put(out, "perf", log->perf);
    log_put(out, "score", log->score);
    log_put(out, "episode_return", log->episode_return);
    log_put(out, "episode_length", log->episode_length);
}
