// binding.c: tells the trainer the shape of squared's data, then includes the runtime.
#include "squared.h"

#define Env Squared
#define OBS_SIZE 121               // observation length per agent (size 11 -> 121 cells)
#define OBS_DTYPE PUFFER_OBS_U8    // must match the type of Squared.observations
#ifdef SQUARED_CONTINUOUS          // set by binding_continuous.c, which includes this file
#define ENV_NAME "squared_continuous"
#define NUM_ATNS 2                 // two continuous dims (row, column): 1 marks continuous
#define ACT_SIZES {1, 1}
#else
#define ENV_NAME "squared"
#define NUM_ATNS 1                 // one action head...
#define ACT_SIZES {5}              // ...with 5 discrete options (use 1 for a continuous dim)
#endif

#include "vecenv.h"

// my_init reads the [env] section of squared.ini (every key must be read here, or the
// runtime reports it as unknown) and sets num_agents.
static void my_init(Squared* env, Kwargs* kw) {
    int size = (int)kw_get(kw, "size", 11);
    if (size * size != OBS_SIZE) {  // OBS_SIZE is fixed at build time
        kw_fail(kw, "size must be 11 (OBS_SIZE is fixed at build time), got %d", size);
        return;
    }
    squared_init(env, size);
}

// my_log picks the Log fields shown as env/<key> in the dashboard.
static void my_log(Log* log, PufferLogOut* out) {
    log_put(out, "perf", log->perf);
    log_put(out, "score", log->score);
    log_put(out, "episode_return", log->episode_return);
    log_put(out, "episode_length", log->episode_length);
}
