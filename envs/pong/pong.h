// pong.h: one agent against a scripted paddle.
//
// The agent's paddle is on the right, the scripted opponent's on the left. The ball bounces
// off the top and bottom walls and off the paddle faces; where it meets a paddle sets its
// new angle (centre: straight back, edges: up to 60 degrees) and every paddle hit makes it
// faster, up to max_ball_speed. A ball that leaves on the left is the agent's point (+1), on
// the right the opponent's (-1); then the ball is served again from the centre. The episode
// ends (terminal) when either side reaches max_score, or is cut off (truncation) after
// max_steps steps.
//
// The opponent follows the ball while it comes its way, aiming to meet it a little off its
// paddle centre (a fresh random offset for each approach), and drifts back to the middle
// otherwise. It moves slower than the agent can, so steep fast balls get past it.
//
// Observation (8 floats, about [-1, 1]): agent paddle y, opponent paddle y, ball x, ball y
// (each mapped from [0, size] to [-1, 1]), ball vx and vy / max_ball_speed, agent points and
// opponent points / max_score. Actions: 0 stay, 1 up, 2 down. One step = frameskip frames of
// 1/60 s with the same action; a step stops early when a point is scored.
#ifndef PUFFER_PONG_H
#define PUFFER_PONG_H

#include "ocean.h"

#define PONG_TICK (1.0f / 60.0f)                      // seconds per frame
#define PONG_MAX_BOUNCE (60.0f * 3.14159265f / 180.0f)  // angle off a paddle's edge
#define PONG_SERVE_ANGLE (30.0f * 3.14159265f / 180.0f) // serves leave within +-30 degrees

enum { PONG_STAY = 0, PONG_UP = 1, PONG_DOWN = 2 };

// Log holds per-episode sums; only floats, and `n` (episodes finished) must come last.
typedef struct {
    float perf;            // fraction of the episode's points won by the agent (0-1)
    float score;           // agent points minus opponent points
    float episode_return;
    float episode_length;
    float n;
} Log;

typedef struct {
    Log log;                 // required, first
    float* observations;     // required: 8 floats, owned by the runtime
    float* actions;          // required: one float (0, 1 or 2)
    float* rewards;          // required
    float* terminals;        // required: set when a side reaches max_score
    float* truncations;      // required: set when max_steps cuts the episode off
    int num_agents;          // required: 1
    uint32_t rng;        // required: seeded by the runtime; use with puffer_rand & co.
    // Court, from the [env] section of pong.ini. Lengths in pixels, speeds in pixels/second.
    float width, height;
    float paddle_width, paddle_height, ball_size;
    float paddle_speed, opponent_speed;
    float ball_speed, ball_speedup, max_ball_speed;
    int max_score, frameskip, max_steps;
    // State. Positions are centres; y grows downwards (screen coordinates).
    float agent_y, opponent_y;
    float ball_x, ball_y, ball_vx, ball_vy;
    float opponent_aim;      // where on its paddle the opponent means to meet the ball
    int agent_points, opponent_points;
    int tick;
    float episode_return;
    // Render state: nothing is allocated until c_render is first called.
    int window_ready;
} Pong;

// Called by the standalone demo (and by binding.c's my_init) before c_reset.
static void pong_init(Pong* env, float width, float height, float paddle_width,
                      float paddle_height, float ball_size, float paddle_speed,
                      float opponent_speed, float ball_speed, float ball_speedup,
                      float max_ball_speed, int max_score, int frameskip, int max_steps) {
    env->num_agents = 1;
    env->width = width;
    env->height = height;
    env->paddle_width = paddle_width;
    env->paddle_height = paddle_height;
    env->ball_size = ball_size;
    env->paddle_speed = paddle_speed;
    env->opponent_speed = opponent_speed;
    env->ball_speed = ball_speed;
    env->ball_speedup = ball_speedup;
    env->max_ball_speed = max_ball_speed;
    env->max_score = max_score;
    env->frameskip = frameskip;
    env->max_steps = max_steps;
}

// Returns NULL when the court in env makes sense, else what is wrong (for kw_fail).
static const char* pong_config_error(const Pong* env) {
    if (!(env->width > 0) || !(env->height > 0) || !(env->paddle_width > 0)
            || !(env->paddle_height > 0) || !(env->ball_size > 0)) {
        return "width, height, paddle_width, paddle_height and ball_size must be > 0";
    }
    if (!(env->paddle_height < env->height) || !(env->ball_size < env->height)) {
        return "paddle_height and ball_size must be smaller than height";
    }
    if (!(2 * env->paddle_width + 2 * env->ball_size < env->width)) {
        return "width must exceed 2 * paddle_width + 2 * ball_size";
    }
    if (!(env->paddle_speed > 0) || !(env->opponent_speed >= 0)) {
        return "paddle_speed must be > 0 and opponent_speed >= 0";
    }
    if (!(env->ball_speed > 0) || !(env->ball_speedup >= 0)
            || !(env->max_ball_speed >= env->ball_speed)) {
        return "ball_speed must be > 0, ball_speedup >= 0 and max_ball_speed >= ball_speed";
    }
    if (env->max_score < 1 || env->frameskip < 1 || env->max_steps < 1) {
        return "max_score, frameskip and max_steps must be >= 1";
    }
    return NULL;
}

PUFFER_FN void pong_observe(Pong* env) {
    float* obs = env->observations;
    obs[0] = 2.0f * env->agent_y / env->height - 1.0f;
    obs[1] = 2.0f * env->opponent_y / env->height - 1.0f;
    obs[2] = 2.0f * env->ball_x / env->width - 1.0f;
    obs[3] = 2.0f * env->ball_y / env->height - 1.0f;
    obs[4] = env->ball_vx / env->max_ball_speed;
    obs[5] = env->ball_vy / env->max_ball_speed;
    obs[6] = (float)env->agent_points / (float)env->max_score;
    obs[7] = (float)env->opponent_points / (float)env->max_score;
}

// A new random offset (within 40% of the half paddle) for the opponent's next return.
PUFFER_FN void pong_new_aim(Pong* env) {
    env->opponent_aim = (puffer_uniform(&env->rng) - 0.5f) * 0.8f * env->paddle_height;
}

// The ball starts from the centre towards a random side at a random shallow angle.
PUFFER_FN void pong_serve(Pong* env) {
    float angle = (2.0f * puffer_uniform(&env->rng) - 1.0f) * PONG_SERVE_ANGLE;
    float dir = (puffer_rand(&env->rng) & 1) ? 1.0f : -1.0f;
    env->ball_x = 0.5f * env->width;
    env->ball_y = 0.5f * env->height;
    env->ball_vx = dir * env->ball_speed * puffer_cosf(angle);
    env->ball_vy = env->ball_speed * puffer_sinf(angle);
    pong_new_aim(env);
}

PUFFER_FN void c_reset(Pong* env) {
    env->agent_y = 0.5f * env->height;
    env->opponent_y = 0.5f * env->height;
    env->agent_points = 0;
    env->opponent_points = 0;
    env->tick = 0;
    env->episode_return = 0.0f;
    pong_serve(env);
    pong_observe(env);
}

// Sends the ball back from a paddle: `offset` is where it met the paddle (-1 top edge, 0
// centre, 1 bottom edge), `dir` the new horizontal direction. Each hit adds ball_speedup.
PUFFER_FN void pong_bounce(Pong* env, float offset, float dir) {
    float speed = sqrtf(env->ball_vx * env->ball_vx + env->ball_vy * env->ball_vy);
    speed = fminf(speed + env->ball_speedup, env->max_ball_speed);
    float angle = clampf(offset, -1.0f, 1.0f) * PONG_MAX_BOUNCE;
    env->ball_vx = dir * speed * puffer_cosf(angle);
    env->ball_vy = speed * puffer_sinf(angle);
}

// Moves a paddle centre by at most `step` towards `target`, keeping it on the court.
PUFFER_FN float pong_move_paddle(Pong* env, float y, float target, float step) {
    float half = 0.5f * env->paddle_height;
    y += clampf(target - y, -step, step);
    return clampf(y, half, env->height - half);
}

// One frame of 1/60 s. Returns +1 if the agent scored, -1 if the opponent did, else 0.
PUFFER_FN int pong_frame(Pong* env, int action) {
    float half_paddle = 0.5f * env->paddle_height, r = 0.5f * env->ball_size;
    float agent_step = env->paddle_speed * PONG_TICK;
    if (action == PONG_UP) env->agent_y = pong_move_paddle(env, env->agent_y, -1e9f, agent_step);
    if (action == PONG_DOWN) env->agent_y = pong_move_paddle(env, env->agent_y, 1e9f, agent_step);
    float chase = env->ball_vx < 0 ? env->ball_y + env->opponent_aim : 0.5f * env->height;
    env->opponent_y = pong_move_paddle(env, env->opponent_y, chase,
                                       env->opponent_speed * PONG_TICK);

    float x = env->ball_x + env->ball_vx * PONG_TICK;
    float y = env->ball_y + env->ball_vy * PONG_TICK;
    // Walls: reflect the overshoot.
    if (y < r) {
        y = 2.0f * r - y;
        env->ball_vy = fabsf(env->ball_vy);
    } else if (y > env->height - r) {
        y = 2.0f * (env->height - r) - y;
        env->ball_vy = -fabsf(env->ball_vy);
    }
    y = clampf(y, r, env->height - r);

    // Paddles: test where the ball's leading edge crosses a paddle face during this frame,
    // so a fast ball cannot pass through a paddle between two frames.
    float agent_face = env->width - env->paddle_width, opponent_face = env->paddle_width;
    if (env->ball_vx > 0 && env->ball_x + r <= agent_face && x + r > agent_face) {
        float t = (agent_face - (env->ball_x + r)) / (x - env->ball_x);
        float y_hit = env->ball_y + t * (y - env->ball_y);
        float offset = (y_hit - env->agent_y) / (half_paddle + r);
        if (fabsf(offset) <= 1.0f) {
            pong_bounce(env, offset, -1.0f);
            pong_new_aim(env);
            x = agent_face - r;
            y = clampf(y_hit, r, env->height - r);
        }
    } else if (env->ball_vx < 0 && env->ball_x - r >= opponent_face && x - r < opponent_face) {
        float t = (env->ball_x - r - opponent_face) / (env->ball_x - x);
        float y_hit = env->ball_y + t * (y - env->ball_y);
        float offset = (y_hit - env->opponent_y) / (half_paddle + r);
        if (fabsf(offset) <= 1.0f) {
            pong_bounce(env, offset, 1.0f);
            x = opponent_face + r;
            y = clampf(y_hit, r, env->height - r);
        }
    }
    env->ball_x = x;
    env->ball_y = y;

    // A ball wholly past a side scores for the other side.
    if (x - r > env->width) {
        env->opponent_points += 1;
        pong_serve(env);
        return -1;
    }
    if (x + r < 0) {
        env->agent_points += 1;
        pong_serve(env);
        return 1;
    }
    return 0;
}

PUFFER_FN void pong_end_episode(Pong* env) {
    int played = env->agent_points + env->opponent_points;
    env->log.perf += played > 0 ? (float)env->agent_points / (float)played : 0.0f;
    env->log.score += (float)(env->agent_points - env->opponent_points);
    env->log.episode_return += env->episode_return;
    env->log.episode_length += (float)env->tick;
    env->log.n += 1.0f;
    c_reset(env);
}

PUFFER_FN void c_step(Pong* env) {
    env->rewards[0] = 0.0f;
    env->terminals[0] = 0.0f;
    env->truncations[0] = 0.0f;
    int action = (int)env->actions[0];
    int reward = 0;
    for (int f = 0; f < env->frameskip && reward == 0; f++) {
        reward = pong_frame(env, action);
    }
    env->tick += 1;
    env->rewards[0] = (float)reward;
    env->episode_return += (float)reward;
    if (env->agent_points >= env->max_score || env->opponent_points >= env->max_score) {
        env->terminals[0] = 1.0f;
        pong_end_episode(env);
        return;
    }
    if (env->tick >= env->max_steps) {
        env->truncations[0] = 1.0f;
        pong_end_episode(env);
        return;
    }
    pong_observe(env);
}

// c_render draws the court with raylib shapes. The window opens on the first call.
static void c_render(Pong* env) {
#if PUFFER_RENDER
    if (!env->window_ready) {
        SetConfigFlags(FLAG_MSAA_4X_HINT);
        InitWindow((int)env->width, (int)env->height, "PufferLib Pong");
        SetTargetFPS(60 / env->frameskip > 0 ? 60 / env->frameskip : 1);
        env->window_ready = 1;
    }
    if (!IsWindowReady()) return;
    float pw = env->paddle_width, ph = env->paddle_height, b = env->ball_size;
    BeginDrawing();
    ClearBackground(PUFFER_BACKGROUND);
    for (int y = 0; y < (int)env->height; y += 20) {
        DrawRectangle((int)(0.5f * env->width) - 1, y, 2, 10, PUFFER_WHITE);
    }
    DrawText(TextFormat("%d", env->opponent_points), (int)(0.25f * env->width), 10, 40, PUFFER_RED);
    DrawText(TextFormat("%d", env->agent_points), (int)(0.75f * env->width), 10, 40, PUFFER_CYAN);
    DrawRectangleV((Vector2){0, env->opponent_y - 0.5f * ph}, (Vector2){pw, ph}, PUFFER_RED);
    DrawRectangleV((Vector2){env->width - pw, env->agent_y - 0.5f * ph}, (Vector2){pw, ph},
                   PUFFER_CYAN);
    DrawRectangleV((Vector2){env->ball_x - 0.5f * b, env->ball_y - 0.5f * b}, (Vector2){b, b},
                   PUFFER_WHITE);
    EndDrawing();
#else
    (void)env;
#endif
}

// c_close frees what the env allocated itself (nothing here) and closes the window.
static void c_close(Pong* env) {
#if PUFFER_RENDER
    if (env->window_ready && IsWindowReady()) CloseWindow();
#endif
    env->window_ready = 0;
}

#endif
