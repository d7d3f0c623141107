// binding.c: tells the trainer the shape of pong's data, then includes the runtime.
#include "pong.h"

#define Env Pong
#define ENV_NAME "pong"
#define OBS_SIZE 8                 // paddle ys, ball x/y/vx/vy, both scores
#define OBS_DTYPE PUFFER_OBS_F32   // must match the type of Pong.observations
#define NUM_ATNS 1                 // one action head...
#define ACT_SIZES {3}              // ...stay, up, down

#include "vecenv.h"

// my_init reads every key of pong.ini's [env] section and sets num_agents (1).
static void my_init(Pong* env, Kwargs* kw) {
    pong_init(env,
              (float)kw_get(kw, "width", 500),
              (float)kw_get(kw, "height", 400),
              (float)kw_get(kw, "paddle_width", 10),
              (float)kw_get(kw, "paddle_height", 60),
              (float)kw_get(kw, "ball_size", 10),
              (float)kw_get(kw, "paddle_speed", 420),
              (float)kw_get(kw, "opponent_speed", 240),
              (float)kw_get(kw, "ball_speed", 300),
              (float)kw_get(kw, "ball_speedup", 25),
              (float)kw_get(kw, "max_ball_speed", 800),
              (int)kw_get(kw, "max_score", 21),
              (int)kw_get(kw, "frameskip", 4),
              (int)kw_get(kw, "max_steps", 20000));
    const char* error = pong_config_error(env);
    if (error) kw_fail(kw, "%s", error);
}

// my_log picks the Log fields shown as env/<key> in the dashboard (means per episode).
static void my_log(Log* log, PufferLogOut* out) {
    log_put(out, "perf", log->perf);
    log_put(out, "score", log->score);
    log_put(out, "episode_return", log->episode_return);
    log_put(out, "episode_length", log->episode_length);
}
