// binding.c: tells the trainer the shape of target's data, then includes the runtime.
// All sizes here are per agent: the runtime multiplies by the number of agents itself.
#include "target.h"

#define Env Target
#define ENV_NAME "target"
#define OBS_SIZE 28                // floats per agent: 2*4 goals + 2*8 agents + 4 (see target.h)
#define OBS_DTYPE PUFFER_OBS_F32   // must match the type of Target.observations
#define NUM_ATNS 2                 // two action heads per agent...
#define ACT_SIZES {9, 5}           // ...turn (9 options) and throttle (5 options)

#include "vecenv.h"

// my_init runs once per env. It reads the [env] section of target.ini (every key must be read
// here, or the runtime reports it as unknown) and sets num_agents. With 8 agents per env,
// vec.total_agents = 4096 makes 512 envs; a total that is not a multiple of 8 is refused.
static void my_init(Target* env, Kwargs* kw) {
    if (TARGET_OBS_SIZE != OBS_SIZE) {  // only fails if target.h and this file disagree
        kw_fail(kw, "target.h rows are %d floats but binding.c says OBS_SIZE %d",
                TARGET_OBS_SIZE, OBS_SIZE);
        return;
    }
    // The world size can change freely: every observation is divided by it.
    int width = (int)kw_get(kw, "width", 952);
    int height = (int)kw_get(kw, "height", 592);
    if (width < 1 || height < 1) {
        kw_fail(kw, "width and height must be >= 1 pixel, got %d x %d", width, height);
        return;
    }
    target_init(env, width, height);  // sets num_agents = TARGET_AGENTS
}

// my_log picks the Log fields shown as env/<key> in the dashboard. The runtime has already
// divided each by n (goals reached over all envs), so they read as means per goal.
static void my_log(Log* log, PufferLogOut* out) {
    log_put(out, "perf", log->perf);
    log_put(out, "score", log->score);
    log_put(out, "episode_return", log->episode_return);
    log_put(out, "episode_length", log->episode_length);
}
