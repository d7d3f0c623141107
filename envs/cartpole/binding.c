// binding.c: cartpole with Discrete(2) actions (0 push left, 1 push right).
// binding_continuous.c includes this file with CARTPOLE_CONTINUOUS_BINDING set to build the
// same env as "cartpole_continuous" with one float action.
#include "cartpole.h"

#define Env Cartpole
#define OBS_SIZE 4                 // x, x_dot, theta, theta_dot
#define OBS_DTYPE PUFFER_OBS_F32   // must match the type of Cartpole.observations
#define NUM_ATNS 1                 // one action head...
#ifdef CARTPOLE_CONTINUOUS_BINDING
#define ENV_NAME "cartpole_continuous"
#define ACT_SIZES {1}              // ...that is continuous (1 marks a continuous dimension)
#else
#define ENV_NAME "cartpole"
#define ACT_SIZES {2}              // ...with 2 discrete options
#endif

#include "vecenv.h"

// my_init reads every key of cartpole.ini's [env] section and sets num_agents (1).
static void my_init(Cartpole* env, Kwargs* kw) {
    int continuous = (int)kw_get(kw, "continuous", 0);
#ifdef CARTPOLE_CONTINUOUS_BINDING
    continuous = 1;  // the shared ini's key is read (so it is not unknown) and ignored
#else
    if (continuous != 0) {
        kw_fail(kw, "continuous = %d: env cartpole has a Discrete(2) action; "
                "use env cartpole_continuous for a continuous one", continuous);
        return;
    }
#endif
    cartpole_init(env, (float)kw_get(kw, "cart_mass", 1.0), (float)kw_get(kw, "pole_mass", 0.1),
                  (float)kw_get(kw, "pole_length", 0.5), (float)kw_get(kw, "gravity", 9.8),
                  (float)kw_get(kw, "force_mag", 10.0), (float)kw_get(kw, "dt", 0.02), continuous);
    const char* error = cartpole_config_error(env);
    if (error) kw_fail(kw, "%s", error);
}

// my_log picks the Log fields shown as env/<key>; each is a mean over finished episodes
// (cart_out, pole_fell and time_limit read as the fraction of episodes that ended that way).
static void my_log(Log* log, PufferLogOut* out) {
    log_put(out, "perf", log->perf);
    log_put(out, "score", log->score);
    log_put(out, "episode_return", log->episode_return);
    log_put(out, "episode_length", log->episode_length);
    log_put(out, "cart_out", log->cart_out);
    log_put(out, "pole_fell", log->pole_fell);
    log_put(out, "time_limit", log->time_limit);
}
