// binding.c: freeway's shape for the trainer, then the runtime.
#include "freeway.h"

#define Env Freeway
#define ENV_NAME "freeway"
#define ACT_SIZES {3}              // stay, up, down
#define OBS_SIZE FREEWAY_OBS_SIZE  // 4 scalars + 10 lanes x 3 car slots
#define OBS_DTYPE PUFFER_OBS_F32
#define NUM_ATNS 1

#include "vecenv.h"

// Reads every key of freeway.ini's [env] section; defaults are the reference values.
static void my_init(Freeway* env, Kwargs* kw) {
    freeway_defaults(env);
    env->frameskip = (int)kw_get(kw, "frameskip", env->frameskip);
    env->width = (float)kw_get(kw, "width", env->width);
    env->height = (float)kw_get(kw, "height", env->height);
    env->player_width = (float)kw_get(kw, "player_width", env->player_width);
    env->player_height = (float)kw_get(kw, "player_height", env->player_height);
    env->car_width = (float)kw_get(kw, "car_width", env->car_width);
    env->car_height = (float)kw_get(kw, "car_height", env->car_height);
    env->lane_size = (float)kw_get(kw, "lane_size", env->lane_size);
    env->difficulty = (int)kw_get(kw, "difficulty", env->difficulty);
    env->level_choice = (int)kw_get(kw, "level", env->level_choice);
    env->env_randomization = (int)kw_get(kw, "env_randomization", env->env_randomization);
    env->use_dense_rewards = (int)kw_get(kw, "use_dense_rewards", env->use_dense_rewards);
    env->game_length = (float)kw_get(kw, "game_length", env->game_length);
    int human = (int)kw_get(kw, "enable_human_player", 0);
    if (human != 0) {
        kw_fail(kw, "enable_human_player = %d is not supported (allowed: 0); a human plays "
                "the chicken in the demo: bash build.sh freeway --local", human);
        return;
    }
    char why[200];
    if (freeway_check(env, why, sizeof(why))) {
        kw_fail(kw, "%s", why);
        return;
    }
    freeway_init(env);
}

static void my_log(Log* log, PufferLogOut* out) {
    log_put(out, "perf", log->perf);
    log_put(out, "score", log->score);
    log_put(out, "episode_return", log->episode_return);
    log_put(out, "episode_length", log->episode_length);
    log_put(out, "up_action_frac", log->up_action_frac);
    log_put(out, "hits", log->hits);
}
