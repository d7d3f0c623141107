// binding.c: tower_climb's shape for the trainer, then the runtime.
#include "tower_climb.h"

#define Env TowerClimb
#define ENV_NAME "tower_climb"
#define ACT_SIZES {6}              // +x, +z, -x, -z, grab, let go
#define OBS_SIZE TC_OBS_SIZE       // 9 x 5 x 5 window + facing, hanging, holding
#define OBS_DTYPE PUFFER_OBS_U8
#define NUM_ATNS 1

#include "vecenv.h"

// Reads every key of tower_climb.ini's [env] section; defaults are the reference values.
static void my_init(TowerClimb* env, Kwargs* kw) {
    tower_climb_defaults(env);
    env->num_agents = 1;
    env->reward_climb_row = (float)kw_get(kw, "reward_climb_row", env->reward_climb_row);
    env->reward_fall_row = (float)kw_get(kw, "reward_fall_row", env->reward_fall_row);
    env->reward_illegal_move = (float)kw_get(kw, "reward_illegal_move", env->reward_illegal_move);
    env->reward_move_block = (float)kw_get(kw, "reward_move_block", env->reward_move_block);
    char why[160];
    if (tower_climb_check(env, why, sizeof(why))) kw_fail(kw, "%s", why);
}

static void my_log(Log* log, PufferLogOut* out) {
    log_put(out, "perf", log->perf);
    log_put(out, "score", log->score);
    log_put(out, "episode_return", log->episode_return);
    log_put(out, "episode_length", log->episode_length);
}
