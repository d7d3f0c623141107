// cartpole.h: the classic pole balancing task, with the dynamics of the reference Ocean env.
//
// A pole stands on a cart that moves along a track. Each step pushes the cart left or right;
// the episode terminates when the pole tilts past 12 degrees or the cart leaves [-2.4, 2.4],
// and is truncated after 200 steps. Reward 1 for every step that neither terminates nor
// truncates, 0 on the step that ends the episode.
// Observation: x, x_dot, theta, theta_dot (4 floats, raw units: metres, radians, per second).
// Actions: Discrete(2) (0 push left, 1 push right), or in cartpole_continuous one float in
// [-1, 1] scaling the force.
//
// The reference's equations of motion differ from the textbook cart-pole (Barto, Sutton &
// Anderson 1983) in two terms, kept here on purpose so results compare with it:
//   "polemass_length" is total_mass + pole_mass (textbook: pole_mass * pole_length), and
//   the angular denominator is pole_length * (4/3 - cos^2 theta) (textbook: 4/3 -
//   pole_mass * cos^2 theta / total_mass).
#ifndef PUFFER_CARTPOLE_H
#define PUFFER_CARTPOLE_H

#include "ocean.h"

#define CARTPOLE_X_LIMIT 2.4f
#define CARTPOLE_THETA_LIMIT (12.0f * 3.14159265358979f / 180.0f)  // 0.2094 rad
#define CARTPOLE_MAX_STEPS 200

// Log holds per-episode sums; only floats, and `n` (episodes finished) must come last.
typedef struct {
    float perf;            // episode_return / 200, summed: the runtime's mean is a true mean
    float score;           // steps survived (the ending step included)
    float episode_return;
    float episode_length;
    float cart_out;        // 1 if the episode ended with |x| > 2.4
    float pole_fell;       // 1 if it ended with |theta| > 12 degrees
    float time_limit;      // 1 if it was truncated at 200 steps
    float n;
} Log;

typedef struct {
    Log log;                 // required, first
    float* observations;     // required: 4 floats, owned by the runtime
    float* actions;          // required: one float (a discrete index or a continuous value)
    float* rewards;          // required
    float* terminals;        // required: set only when the pole falls or the cart leaves
    float* truncations;      // required: set when the 200-step limit cuts the episode off
    int num_agents;          // required: 1
    uint32_t rng;        // required: seeded by the runtime; use with puffer_rand & co.
    // Physics, from the [env] section of cartpole.ini.
    float cart_mass, pole_mass, pole_length, gravity, force_mag, dt;
    int continuous;          // 1: actions[0] in [-1, 1] scales force_mag; 0: push left/right
    // State.
    float x, x_dot, theta, theta_dot;
    int tick;
    float episode_return;
    // Render state: nothing is allocated until c_render is first called.
    int window_ready;
} Cartpole;

// Called by the standalone demo (and by the bindings' my_init) before c_reset.
static void cartpole_init(Cartpole* env, float cart_mass, float pole_mass, float pole_length,
                          float gravity, float force_mag, float dt, int continuous) {
    env->num_agents = 1;
    env->cart_mass = cart_mass;
    env->pole_mass = pole_mass;
    env->pole_length = pole_length;
    env->gravity = gravity;
    env->force_mag = force_mag;
    env->dt = dt;
    env->continuous = continuous;
}

// Returns NULL when the physics in env make sense, else what is wrong (for kw_fail).
static const char* cartpole_config_error(const Cartpole* env) {
    if (!(env->cart_mass > 0) || !(env->pole_mass > 0) || !(env->pole_length > 0)) {
        return "cart_mass, pole_mass and pole_length must be > 0";
    }
    if (!(env->force_mag > 0) || !(env->dt > 0)) return "force_mag and dt must be > 0";
    if (!(env->gravity >= 0)) return "gravity must be >= 0";
    return NULL;
}

PUFFER_FN void cartpole_observe(Cartpole* env) {
    env->observations[0] = env->x;
    env->observations[1] = env->x_dot;
    env->observations[2] = env->theta;
    env->observations[3] = env->theta_dot;
}

// c_reset starts a new episode: every state variable uniform in [-0.04, 0.04].
PUFFER_FN void c_reset(Cartpole* env) {
    env->x = 0.08f * puffer_uniform(&env->rng) - 0.04f;
    env->x_dot = 0.08f * puffer_uniform(&env->rng) - 0.04f;
    env->theta = 0.08f * puffer_uniform(&env->rng) - 0.04f;
    env->theta_dot = 0.08f * puffer_uniform(&env->rng) - 0.04f;
    env->tick = 0;
    env->episode_return = 0.0f;
    cartpole_observe(env);
}

// Adds the finished episode to the log. The reference SETS perf = episode_return / 200, so
// its aggregate (sum over envs / episodes) is biased; here perf is ADDED like every other
// field, and the logged perf is the true mean of episode_return / 200 over episodes.
PUFFER_FN void cartpole_end_episode(Cartpole* env, int cart_out, int pole_fell) {
    env->log.perf += env->episode_return / (float)CARTPOLE_MAX_STEPS;
    env->log.score += (float)env->tick;
    env->log.episode_return += env->episode_return;
    env->log.episode_length += (float)env->tick;
    env->log.cart_out += (float)cart_out;
    env->log.pole_fell += (float)pole_fell;
    env->log.time_limit += (float)(!cart_out && !pole_fell);
    env->log.n += 1.0f;
    c_reset(env);
}

// One explicit Euler step of the reference dynamics under force `force`.
PUFFER_FN void cartpole_physics(Cartpole* env, float force) {
    float sin_t = puffer_sinf(env->theta), cos_t = puffer_cosf(env->theta);
    float total_mass = env->cart_mass + env->pole_mass;
    float polemass_length = total_mass + env->pole_mass;  // reference term (see top of file)
    float temp = (force + polemass_length * env->theta_dot * env->theta_dot * sin_t) / total_mass;
    // Reference: l * (4/3 - total_mass * cos^2 / total_mass); the masses cancel.
    float theta_acc = (env->gravity * sin_t - cos_t * temp)
                      / (env->pole_length * (4.0f / 3.0f - cos_t * cos_t));
    float x_acc = temp - polemass_length * theta_acc * cos_t / total_mass;
    float dt = env->dt;
    env->x += dt * env->x_dot;  // positions move with the old velocities
    env->x_dot += dt * x_acc;
    env->theta += dt * env->theta_dot;
    env->theta_dot += dt * theta_acc;
}

PUFFER_FN void c_step(Cartpole* env) {
    env->rewards[0] = 0.0f;
    env->terminals[0] = 0.0f;
    env->truncations[0] = 0.0f;
    float a = clampf(env->actions[0], -1.0f, 1.0f);
    float force;
    if (env->continuous) force = a * env->force_mag;
    else force = a > 0.5f ? env->force_mag : -env->force_mag;
    cartpole_physics(env, force);
    env->tick += 1;

    int cart_out = env->x < -CARTPOLE_X_LIMIT || env->x > CARTPOLE_X_LIMIT;
    int pole_fell = env->theta < -CARTPOLE_THETA_LIMIT || env->theta > CARTPOLE_THETA_LIMIT;
    if (cart_out || pole_fell) {
        env->terminals[0] = 1.0f;
        cartpole_end_episode(env, cart_out, pole_fell);
        return;
    }
    if (env->tick >= CARTPOLE_MAX_STEPS) {
        env->truncations[0] = 1.0f;  // cut off, not failed: the value of the state is not 0
        cartpole_end_episode(env, 0, 0);
        return;
    }
    env->rewards[0] = 1.0f;
    env->episode_return += 1.0f;
    cartpole_observe(env);
}

// c_render draws the track, cart and pole. The window opens on the first call.
static void c_render(Cartpole* env) {
#if PUFFER_RENDER
    const int w = 600, h = 400, track_y = 260;
    const float px_per_m = 100.0f;  // the track [-2.4, 2.4] spans 480 of 600 pixels
    if (!env->window_ready) {
        SetConfigFlags(FLAG_MSAA_4X_HINT);
        InitWindow(w, h, "PufferLib Cartpole");
        SetTargetFPS(50);  // dt = 0.02: real time
        env->window_ready = 1;
    }
    if (!IsWindowReady()) return;
    BeginDrawing();
    ClearBackground(PUFFER_BACKGROUND);
    float left = w / 2 - CARTPOLE_X_LIMIT * px_per_m, right = w / 2 + CARTPOLE_X_LIMIT * px_per_m;
    DrawLineEx((Vector2){left, track_y}, (Vector2){right, track_y}, 2.0f, PUFFER_WHITE);
    DrawLineEx((Vector2){left, track_y - 20}, (Vector2){left, track_y + 20}, 2.0f, PUFFER_RED);
    DrawLineEx((Vector2){right, track_y - 20}, (Vector2){right, track_y + 20}, 2.0f, PUFFER_RED);
    float cx = w / 2 + env->x * px_per_m;
    DrawRectangle((int)cx - 30, track_y - 15, 60, 30, PUFFER_CYAN);
    float len = 2.0f * env->pole_length * px_per_m;  // pole_length is the half length
    Vector2 base = {cx, track_y - 15};
    Vector2 tip = {cx + len * puffer_sinf(env->theta), track_y - 15 - len * puffer_cosf(env->theta)};
    DrawLineEx(base, tip, 8.0f, PUFFER_RED);
    DrawText(TextFormat("step %d", env->tick), 10, 10, 20, PUFFER_WHITE);
    EndDrawing();
#else
    (void)env;
#endif
}

// c_close frees what the env allocated itself (nothing here) and closes the window.
static void c_close(Cartpole* env) {
#if PUFFER_RENDER
    if (env->window_ready && IsWindowReady()) CloseWindow();
#endif
    env->window_ready = 0;
}

#endif
