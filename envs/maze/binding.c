// binding.c: maze's shape for the trainer, then the runtime.
#include "maze.h"

#define Env Maze
#define ENV_NAME "maze"
#define OBS_SIZE (MAZE_WINDOW * MAZE_WINDOW)  // 121 cells around the agent
#define OBS_DTYPE PUFFER_OBS_U8
#define NUM_ATNS 1
#define ACT_SIZES {5}                          // stay, east, north, west, south

#include "vecenv.h"

// Reads every key of maze.ini's [env] section (the reference's keys and defaults).
static void my_init(Maze* env, Kwargs* kw) {
    int num_agents = (int)kw_get(kw, "num_agents", 1);
    env->num_maps = (int)kw_get(kw, "num_maps", 8192);
    env->map_size = (int)kw_get(kw, "map_size", -1);
    env->num_agents = 1;
    env->level = -1;
    if (num_agents != 1) {
        kw_fail(kw, "num_agents must be 1 (got %d)", num_agents);
    } else if (env->num_maps < 1) {
        kw_fail(kw, "num_maps must be >= 1 (got %d)", env->num_maps);
    } else if (env->map_size != -1 && (env->map_size < 5 || env->map_size > MAZE_MAX)) {
        kw_fail(kw, "map_size must be -1 (a random side per level) or in [5, %d] (got %d)",
                MAZE_MAX, env->map_size);
    }
}

static void my_log(Log* log, PufferLogOut* out) {
    log_put(out, "perf", log->perf);
    log_put(out, "score", log->score);
    log_put(out, "episode_return", log->episode_return);
    log_put(out, "episode_length", log->episode_length);
}
