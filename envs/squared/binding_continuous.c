// binding_continuous.c: squared with two continuous action dims (row and column move).
// The env reads actions[0] (vertical) and actions[1] (horizontal) through squared_continuous
// in squared.h; a value above 0.5 moves one way, below -0.5 the other.
#define SQUARED_CONTINUOUS 1
#include "squared.h"

#define Env Squared
#define ENV_NAME "squared_continuous"
#define OBS_SIZE 121
#define OBS_DTYPE PUFFER_OBS_U8
#define NUM_ATNS 2
#define ACT_SIZES {1, 1}

#include "vecenv.h"

static void my_init(Squared* env, Kwargs* kw) {
    int size = (int)kw_get(kw, "size", 11);
    if (size * size != OBS_SIZE) {
        kw_fail(kw, "size must be 11 (OBS_SIZE is fixed at build time), got %d", size);
        return;
    }
    squared_init(env, size);
}

static void my_log(Log* log, PufferLogOut* out) {
    log_put(out, "perf", log->perf);
    log_put(out, "score", log->score);
    log_put(out, "episode_return", log->episode_return);
    log_put(out, "episode_length", log->episode_length);
}
