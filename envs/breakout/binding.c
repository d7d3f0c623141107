// binding.c: breakout's shape for the trainer, then the runtime. binding_continuous.c
// includes this file with BREAKOUT_CONTINUOUS_BINDING defined to build "breakout_continuous".
#include "breakout.h"

#define Env Breakout
#ifdef BREAKOUT_CONTINUOUS_BINDING
#define ENV_NAME "breakout_continuous"
#define ACT_SIZES {1}              // one continuous dim: paddle velocity in [-1, 1]
#else
#define ENV_NAME "breakout"
#define ACT_SIZES {3}              // stay, left, right
#endif
#define OBS_SIZE 118               // 10 scalars + brick_rows * brick_cols flags
#define OBS_DTYPE PUFFER_OBS_F32
#define NUM_ATNS 1

#include "vecenv.h"

// Reads every key of breakout.ini's [env] section; defaults are the reference values.
static void my_init(Breakout* env, Kwargs* kw) {
    breakout_defaults(env);
    int num_agents = (int)kw_get(kw, "num_agents", 1);
    env->frameskip = (int)kw_get(kw, "frameskip", env->frameskip);
    env->width = (float)kw_get(kw, "width", env->width);
    env->height = (float)kw_get(kw, "height", env->height);
    env->initial_paddle_width = (float)kw_get(kw, "initial_paddle_width", env->initial_paddle_width);
    env->paddle_width = (float)kw_get(kw, "paddle_width", env->paddle_width);
    env->paddle_height = (float)kw_get(kw, "paddle_height", env->paddle_height);
    env->ball_width = (float)kw_get(kw, "ball_width", env->ball_width);
    env->ball_height = (float)kw_get(kw, "ball_height", env->ball_height);
    env->brick_width = (float)kw_get(kw, "brick_width", env->brick_width);
    env->brick_height = (float)kw_get(kw, "brick_height", env->brick_height);
    env->brick_rows = (int)kw_get(kw, "brick_rows", env->brick_rows);
    env->brick_cols = (int)kw_get(kw, "brick_cols", env->brick_cols);
    env->initial_ball_speed = (float)kw_get(kw, "initial_ball_speed", env->initial_ball_speed);
    env->max_ball_speed = (float)kw_get(kw, "max_ball_speed", env->max_ball_speed);
    env->paddle_speed = (float)kw_get(kw, "paddle_speed", env->paddle_speed);
    env->continuous = (int)kw_get(kw, "continuous", env->continuous);
#ifdef BREAKOUT_CONTINUOUS_BINDING
    env->continuous = 1;  // this library's action head is continuous whatever the ini says
#else
    if (env->continuous != 0) {
        kw_fail(kw, "continuous = %d needs the env breakout_continuous (this one is Discrete(3))",
                env->continuous);
        return;
    }
#endif
    if (num_agents != 1) {
        kw_fail(kw, "num_agents must be 1 (got %d)", num_agents);
        return;
    }
    if (BREAKOUT_NUM_SCALARS + env->brick_rows * env->brick_cols != OBS_SIZE) {
        kw_fail(kw, "brick_rows * brick_cols must be %d (OBS_SIZE %d is fixed at build time), got %d x %d",
                OBS_SIZE - BREAKOUT_NUM_SCALARS, OBS_SIZE, env->brick_rows, env->brick_cols);
        return;
    }
    char why[160];
    if (breakout_check(env, why, sizeof(why))) {
        kw_fail(kw, "%s", why);
        return;
    }
    breakout_init(env);
}

static void my_log(Log* log, PufferLogOut* out) {
    log_put(out, "perf", log->perf);
    log_put(out, "score", log->score);
    log_put(out, "episode_return", log->episode_return);
    log_put(out, "episode_length", log->episode_length);
}
