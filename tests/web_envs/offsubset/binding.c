// binding.c: the test env offsubset (see offsubset.h).
#include "offsubset.h"

#define Env Offsubset
#define ENV_NAME "offsubset"
#define OBS_SIZE 1
#define OBS_DTYPE PUFFER_OBS_F32
#define NUM_ATNS 1
#define ACT_SIZES {2}

#include "vecenv.h"

static void my_init(Offsubset* env, Kwargs* kw) {
    (void)kw;
    env->num_agents = 1;
}

static void my_log(Log* log, PufferLogOut* out) { log_put(out, "score", log->score); }
