// binding_continuous.c: cartpole with one continuous action dim in [-1, 1] (force =
// action * force_mag; values outside are clipped). It shares cartpole.ini with the discrete
// env, whose `continuous = 0` is read here (so the key is not reported unknown) and ignored:
// this library is always continuous.
#include "cartpole.h"

#define Env Cartpole
#define ENV_NAME "cartpole_continuous"
#define OBS_SIZE 4
#define OBS_DTYPE PUFFER_OBS_F32
#define NUM_ATNS 1
#define ACT_SIZES {1}              // 1 marks a continuous dimension

#include "vecenv.h"

static int cartpole_read_physics(Cartpole* env, Kwargs* kw, int continuous) {
    float cart_mass = (float)kw_get(kw, "cart_mass", 1.0);
    float pole_mass = (float)kw_get(kw, "pole_mass", 0.1);
    float pole_length = (float)kw_get(kw, "pole_length", 0.5);
    float gravity = (float)kw_get(kw, "gravity", 9.8);
    float force_mag = (float)kw_get(kw, "force_mag", 10.0);
    float dt = (float)kw_get(kw, "dt", 0.02);
    if (!(cart_mass > 0) || !(pole_mass > 0) || !(pole_length > 0)) {
        kw_fail(kw, "cart_mass, pole_mass and pole_length must be > 0 (got %g, %g, %g)",
                cart_mass, pole_mass, pole_length);
        return 0;
    }
    if (!(force_mag > 0) || !(dt > 0) || !(gravity >= 0)) {
        kw_fail(kw, "force_mag and dt must be > 0 and gravity >= 0 (got %g, %g, %g)",
                force_mag, dt, gravity);
        return 0;
    }
    cartpole_init(env, cart_mass, pole_mass, pole_length, gravity, force_mag, dt, continuous);
    return 1;
}

static void my_init(Cartpole* env, Kwargs* kw) {
    (void)kw_get(kw, "continuous", 1);  // shared ini key; this library is continuous anyway
    cartpole_read_physics(env, kw, 1);
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
