// binding_continuous.c: cartpole with one continuous action dim: force = action * force_mag,
// the action clipped to [-1, 1]. It shares cartpole.ini with the discrete env; the key
// `continuous` is read here (so it is not reported unknown) and ignored: this library is
// always continuous.
#include "cartpole.h"

#define Env Cartpole
#define ENV_NAME "cartpole_continuous"
#define OBS_SIZE 4
#define OBS_DTYPE PUFFER_OBS_F32
#define NUM_ATNS 1
#define ACT_SIZES {1}              // 1 marks a continuous dimension

#include "vecenv.h"

static void my_init(Cartpole* env, Kwargs* kw) {
    (void)kw_get(kw, "continuous", 1);
    cartpole_init(env, (float)kw_get(kw, "cart_mass", 1.0), (float)kw_get(kw, "pole_mass", 0.1),
                  (float)kw_get(kw, "pole_length", 0.5), (float)kw_get(kw, "gravity", 9.8),
                  (float)kw_get(kw, "force_mag", 10.0), (float)kw_get(kw, "dt", 0.02), 1);
    const char* error = cartpole_config_error(env);
    if (error) kw_fail(kw, "%s", error);
}

static void my_log(Log* log, PufferLogOut* out) {
    log_put(out, "perf", log->perf);
    log_put(out, "score", log->score);
    log_put(out, "episode_return", log->episode_return);
    log_put(out, "episode_length", log->episode_length);
    log_put(out, "cart_out", log->cart_out);
    log_put(out, "pole_fell", log->pole_fell);
    log_put(out, "time_limit", log->time_limit);
}
