// breakout.h: Atari-style Breakout, single agent (reference 4.0 rules, spec section 8.7).
//
// A 576x330 playfield with 6 rows x 18 columns of 32x12 bricks starting at y = 50. Rows are
// worth 7, 7, 4, 4, 1, 1 points from the top, 432 for one wall of bricks. Clearing the wall and
// then touching the paddle restores it; clearing the second wall (score 864) wins. The player
// has 5 spare balls (six in play in total); losing the last one ends the episode.
//
// One c_step runs `frameskip` frames of 1/60 s with the same action and returns the sum of the
// brick values broken (the trainer clips rewards to [-1, 1]). Ball motion is swept every frame:
// the earliest contact among bricks, walls and paddle is resolved, ties going to the contact
// with the larger overlap, so the ball never tunnels through a brick or the paddle.
//
// Actions: discrete 0 stay, 1 left, 2 right; or (continuous) one float in [-1, 1] scaling the
// paddle speed. Observation: 118 floats, see breakout_observe.
#include "ocean.h"

#define BREAKOUT_TICK (1.0f / 60.0f)       // seconds per frame
#define BREAKOUT_Y_OFFSET 50.0f            // top of the brick wall
#define BREAKOUT_LAUNCH_ANGLE (3.14159265f / 3.25f)  // from vertical, downward
#define BREAKOUT_SPEEDUP 64.0f             // added every 4th paddle hit
#define BREAKOUT_BALLS 5                   // spare balls at the start of an episode
#define BREAKOUT_MAX_BRICKS 256
#define BREAKOUT_NUM_SCALARS 10            // observation entries before the brick flags
#define BREAKOUT_PI 3.14159265f

enum { BO_STAY = 0, BO_LEFT = 1, BO_RIGHT = 2 };
enum { HIT_NONE = 0, HIT_SIDE_WALL, HIT_TOP_WALL, HIT_PADDLE, HIT_BRICK };
enum { FACE_X = 1, FACE_Y = 2, FACE_CORNER = 3 };  // which velocity component to reflect

typedef struct {
    float perf;            // score / max_score (1 = both walls cleared)
    float score;           // points at the end of the episode
    float episode_return;  // unclipped sum of rewards (= score)
    float episode_length;  // frames, not steps
    float n;
} Log;

typedef struct {
    Log log;
    float* observations;
    float* actions;
    float* rewards;
    float* terminals;
    float* truncations;
    int num_agents;
    uint32_t rng;
    // Config, from the [env] section (breakout_defaults sets the reference values).
    int frameskip;
    int continuous;
    float width, height;
    float initial_paddle_width;   // paddle width at the start of every ball
    float paddle_height;
    float ball_width, ball_height;
    float brick_width, brick_height;
    int brick_rows, brick_cols;
    float initial_ball_speed, max_ball_speed;  // pixels per second
    float paddle_speed;
    // Derived by breakout_init.
    int num_bricks;
    int half_max_score, max_score;
    // Episode state. Ball velocity is in pixels per frame (speed * TICK).
    float paddle_x, paddle_y, paddle_width;
    float ball_x, ball_y, ball_vx, ball_vy, ball_speed;
    int balls_left;
    int balls_fired;   // 1 once the ball of this round is in play
    int hits;          // paddle hits this round
    int score;
    int frames;        // frames this episode
    unsigned char destroyed[BREAKOUT_MAX_BRICKS];
    int window_ready;
} Breakout;

// The reference configuration (breakout.ini). The demo uses it; the binding reads the ini.
static void breakout_defaults(Breakout* env) {
    env->frameskip = 4;
    env->continuous = 0;
    env->width = 576;
    env->height = 330;
    env->initial_paddle_width = 62;
    env->paddle_width = 62;
    env->paddle_height = 8;
    env->ball_width = 32;
    env->ball_height = 32;
    env->brick_width = 32;
    env->brick_height = 12;
    env->brick_rows = 6;
    env->brick_cols = 18;
    env->initial_ball_speed = 256;
    env->max_ball_speed = 448;
    env->paddle_speed = 620;
}

PUFFER_FN int brick_value(int row) { return 7 - 3 * (row / 2); }

// Returns 0 if the config is playable, else 1 with a message.
static int breakout_check(const Breakout* env, char* msg, size_t len) {
    const char* why = NULL;
    if (env->frameskip < 1) why = "frameskip must be >= 1";
    else if (env->brick_rows < 1 || env->brick_rows > 6)
        why = "brick_rows must be in [1, 6] (row values are 7, 7, 4, 4, 1, 1)";
    else if (env->brick_cols < 1 || env->brick_rows * env->brick_cols > BREAKOUT_MAX_BRICKS)
        why = "brick_cols must be >= 1 and brick_rows * brick_cols <= 256";
    else if (!(env->width > 0 && env->height > 0 && env->paddle_height > 0
               && env->ball_width > 0 && env->ball_height > 0
               && env->brick_width > 0 && env->brick_height > 0))
        why = "width, height and all paddle, ball and brick sizes must be > 0";
    else if (!(env->initial_paddle_width >= 2 && env->initial_paddle_width <= env->width))
        why = "initial_paddle_width must be in [2, width]";
    else if (env->paddle_width != env->initial_paddle_width)
        why = "paddle_width must equal initial_paddle_width (each ball starts at that width)";
    else if (env->brick_cols * env->brick_width > env->width)
        why = "brick_cols * brick_width must fit in width";
    else if (BREAKOUT_Y_OFFSET + env->brick_rows * env->brick_height > env->height / 2 - 30)
        why = "the brick wall must end above the ball's start at height/2 - 30";
    else if (env->ball_width > env->width
             || env->height / 2 - 30 + env->ball_height >= env->height - env->paddle_height - 10)
        why = "the ball must fit between its start and the paddle";
    else if (!(env->initial_ball_speed > 0 && env->max_ball_speed >= env->initial_ball_speed))
        why = "need 0 < initial_ball_speed <= max_ball_speed";
    else if (!(env->paddle_speed > 0)) why = "paddle_speed must be > 0";
    if (why) {
        snprintf(msg, len, "%s", why);
        return 1;
    }
    return 0;
}

// Sets the derived constants. Call after the config fields are set (and checked).
static void breakout_init(Breakout* env) {
    env->num_agents = 1;
    env->num_bricks = env->brick_rows * env->brick_cols;
    env->half_max_score = 0;
    for (int r = 0; r < env->brick_rows; r++) env->half_max_score += brick_value(r) * env->brick_cols;
    env->max_score = 2 * env->half_max_score;
}

PUFFER_FN void breakout_observe(Breakout* env) {
    float* o = env->observations;
    o[0] = env->paddle_x / env->width;
    o[1] = env->paddle_y / env->height;
    o[2] = env->ball_x / env->width;
    o[3] = env->ball_y / env->height;
    o[4] = env->ball_vx / 512.0f;
    o[5] = env->ball_vy / 512.0f;
    o[6] = env->balls_fired / 5.0f;
    o[7] = (float)env->score / (float)env->max_score;
    o[8] = env->balls_left / 5.0f;
    o[9] = env->paddle_width / env->initial_paddle_width;
}

// The brick part of the observation only changes when a brick breaks (resolve_contact writes that
// one) or the wall is rebuilt; rewriting all of it every step cost ~10% of the step.
PUFFER_FN void breakout_observe_bricks(Breakout* env) {
    float* o = env->observations + BREAKOUT_NUM_SCALARS;
    for (int i = 0; i < env->num_bricks; i++) o[i] = env->destroyed[i];
}

// A new ball: full-width paddle in the middle, ball resting above it, not yet moving.
PUFFER_FN void breakout_new_round(Breakout* env) {
    env->paddle_width = env->initial_paddle_width;
    env->paddle_x = (env->width - env->paddle_width) / 2;
    env->paddle_y = env->height - env->paddle_height - 10;
    env->ball_x = env->paddle_x + env->paddle_width / 2 - env->ball_width / 2;
    env->ball_y = env->height / 2 - 30;
    env->ball_vx = 0;
    env->ball_vy = 0;
    env->ball_speed = env->initial_ball_speed;
    env->hits = 0;
    env->balls_fired = 0;
}

PUFFER_FN void breakout_new_episode(Breakout* env) {
    env->score = 0;
    env->frames = 0;
    env->balls_left = BREAKOUT_BALLS;
    memset(env->destroyed, 0, sizeof(env->destroyed));
    breakout_observe_bricks(env);
    breakout_new_round(env);
}

PUFFER_FN void c_reset(Breakout* env) {
    breakout_new_episode(env);
    breakout_observe(env);
}

// Earliest contact found so far during one frame's sweep.
typedef struct {
    float t;        // fraction of this frame's motion, in [0, 1]
    float overlap;  // length of the touching edges; breaks ties between equal t
    int kind;       // HIT_*
    int face;       // FACE_*
    int brick;      // brick index for HIT_BRICK
} Contact;

PUFFER_FN void offer_contact(Contact* best, float t, float overlap, int kind, int face, int brick) {
    const float eps = 1e-6f;
    if (best->kind != HIT_NONE) {
        if (t > best->t + eps) return;
        if (t >= best->t - eps && overlap <= best->overlap) return;
    }
    best->t = t;
    best->overlap = overlap;
    best->kind = kind;
    best->face = face;
    best->brick = brick;
}

// Entry and exit times, along one axis, of an interval [p, p + size) moving by d per frame
// against [lo, hi). Returns 0 when the two never overlap along this axis.
PUFFER_FN int axis_times(float p, float size, float d, float lo, float hi, float* enter, float* leave) {
    if (d == 0.0f) {
        if (p + size <= lo || p >= hi) return 0;
        *enter = -INFINITY;
        *leave = INFINITY;
    } else if (d > 0.0f) {
        *enter = (lo - (p + size)) / d;
        *leave = (hi - p) / d;
    } else {
        *enter = (hi - p) / d;
        *leave = (lo - (p + size)) / d;
    }
    return 1;
}

PUFFER_FN float overlap_len(float a, float a_size, float b, float b_size) {
    float lo = fmaxf(a, b), hi = fminf(a + a_size, b + b_size);
    return hi > lo ? hi - lo : 0.0f;
}

// Swept box test: the ball moving by (vx, vy) this frame against the rectangle (rx, ry, rw, rh).
// Offers the contact if the ball starts outside the rectangle and touches it within the frame.
PUFFER_FN void sweep_rect(Breakout* env, Contact* best, float rx, float ry, float rw, float rh,
                       int kind, int brick) {
    float x = env->ball_x, y = env->ball_y, w = env->ball_width, h = env->ball_height;
    float vx = env->ball_vx, vy = env->ball_vy;
    float ex, lx, ey, ly;
    if (!axis_times(x, w, vx, rx, rx + rw, &ex, &lx)) return;
    if (!axis_times(y, h, vy, ry, ry + rh, &ey, &ly)) return;
    float enter = fmaxf(ex, ey), leave = fminf(lx, ly);
    if (enter < 0.0f || enter > 1.0f || enter >= leave) return;
    int face = ex > ey ? FACE_X : (ey > ex ? FACE_Y : FACE_CORNER);
    float cx = x + enter * vx, cy = y + enter * vy;
    float overlap = face == FACE_X ? overlap_len(cy, h, ry, rh)
                  : face == FACE_Y ? overlap_len(cx, w, rx, rw) : 0.0f;
    offer_contact(best, enter, overlap, kind, face, brick);
}

PUFFER_FN void sweep_bricks(Breakout* env, Contact* best) {
    float x0 = fminf(env->ball_x, env->ball_x + env->ball_vx);
    float x1 = fmaxf(env->ball_x, env->ball_x + env->ball_vx) + env->ball_width;
    float y0 = fminf(env->ball_y, env->ball_y + env->ball_vy) - BREAKOUT_Y_OFFSET;
    float y1 = fmaxf(env->ball_y, env->ball_y + env->ball_vy) + env->ball_height - BREAKOUT_Y_OFFSET;
    if (y1 < 0 || y0 > env->brick_rows * env->brick_height) return;
    int c0 = (int)floorf(x0 / env->brick_width), c1 = (int)floorf(x1 / env->brick_width);
    int r0 = (int)floorf(y0 / env->brick_height), r1 = (int)floorf(y1 / env->brick_height);
    if (c0 < 0) c0 = 0;
    if (r0 < 0) r0 = 0;
    if (c1 > env->brick_cols - 1) c1 = env->brick_cols - 1;
    if (r1 > env->brick_rows - 1) r1 = env->brick_rows - 1;
    for (int r = r0; r <= r1; r++) {
        for (int c = c0; c <= c1; c++) {
            int i = r * env->brick_cols + c;
            if (env->destroyed[i]) continue;
            sweep_rect(env, best, c * env->brick_width, BREAKOUT_Y_OFFSET + r * env->brick_height,
                       env->brick_width, env->brick_height, HIT_BRICK, i);
        }
    }
}

PUFFER_FN void sweep_walls(Breakout* env, Contact* best) {
    float x = env->ball_x, y = env->ball_y, vx = env->ball_vx, vy = env->ball_vy;
    if (vx < 0 && x + vx < 0)
        offer_contact(best, fmaxf(0.0f, -x / vx), env->ball_height, HIT_SIDE_WALL, FACE_X, -1);
    float right = env->width - env->ball_width;
    if (vx > 0 && x + vx > right)
        offer_contact(best, fmaxf(0.0f, (right - x) / vx), env->ball_height, HIT_SIDE_WALL, FACE_X, -1);
    if (vy < 0 && y + vy < 0)
        offer_contact(best, fmaxf(0.0f, -y / vy), env->ball_width, HIT_TOP_WALL, FACE_Y, -1);
}

// The paddle only catches a falling ball; a paddle that slid into the ball catches it at once.
PUFFER_FN void sweep_paddle(Breakout* env, Contact* best) {
    if (env->ball_vy <= 0) return;
    float px = env->paddle_x, py = env->paddle_y, pw = env->paddle_width, ph = env->paddle_height;
    float ov_x = overlap_len(env->ball_x, env->ball_width, px, pw);
    float ov_y = overlap_len(env->ball_y, env->ball_height, py, ph);
    if (ov_x > 0 && ov_y > 0) {
        offer_contact(best, 0.0f, ov_x, HIT_PADDLE, FACE_Y, -1);
        return;
    }
    sweep_rect(env, best, px, py, pw, ph, HIT_PADDLE, -1);
}

PUFFER_FN void set_ball_speed(Breakout* env, float speed) {
    env->ball_speed = speed;
    float v = sqrtf(env->ball_vx * env->ball_vx + env->ball_vy * env->ball_vy);
    if (v > 0) {
        float k = speed * BREAKOUT_TICK / v;
        env->ball_vx *= k;
        env->ball_vy *= k;
    }
}

// Moves the ball to the contact and applies its effect. Returns the points scored.
PUFFER_FN int resolve_contact(Breakout* env, const Contact* c) {
    env->ball_x += c->t * env->ball_vx;
    env->ball_y += c->t * env->ball_vy;
    if (c->kind == HIT_SIDE_WALL)  // land exactly on the wall, not a rounding error past it
        env->ball_x = env->ball_vx < 0 ? 0.0f : env->width - env->ball_width;
    if (c->kind == HIT_TOP_WALL) env->ball_y = 0.0f;
    if (c->kind == HIT_PADDLE) {
        env->hits += 1;
        if (env->hits % 4 == 0 && env->ball_speed < env->max_ball_speed)
            env->ball_speed = fminf(env->ball_speed + BREAKOUT_SPEEDUP, env->max_ball_speed);
        float rel = (env->ball_x + env->ball_width / 2 - env->paddle_x) / env->paddle_width;
        float angle = -BREAKOUT_PI / 4 + (BREAKOUT_PI / 2) * clampf(rel, 0.0f, 1.0f);
        env->ball_vx = puffer_sinf(angle) * env->ball_speed * BREAKOUT_TICK;
        env->ball_vy = -puffer_cosf(angle) * env->ball_speed * BREAKOUT_TICK;
        if (env->score == env->half_max_score) {
            memset(env->destroyed, 0, sizeof(env->destroyed));
            breakout_observe_bricks(env);
        }
        return 0;
    }
    if (c->face & FACE_X) env->ball_vx = -env->ball_vx;
    if (c->face & FACE_Y) env->ball_vy = -env->ball_vy;
    if (c->kind == HIT_TOP_WALL) {
        float shrunk = env->initial_paddle_width / 2;
        if (env->paddle_width > shrunk) {
            env->paddle_x += (env->paddle_width - shrunk) / 2;  // keep the paddle's centre
            env->paddle_width = shrunk;
        }
    } else if (c->kind == HIT_BRICK) {
        int row = c->brick / env->brick_cols, points = brick_value(row);
        env->destroyed[c->brick] = 1;
        env->observations[BREAKOUT_NUM_SCALARS + c->brick] = 1.0f;
        env->score += points;
        if (row < 3) set_ball_speed(env, env->max_ball_speed);
        return points;
    }
    return 0;
}

// One 1/60 s frame. move is -1..1 (left..right). Returns the points scored.
PUFFER_FN int breakout_frame(Breakout* env, float move) {
    if (!env->balls_fired) {
        float side = (puffer_rand(&env->rng) & 1) ? 1.0f : -1.0f;
        env->ball_vx = side * puffer_sinf(BREAKOUT_LAUNCH_ANGLE) * env->ball_speed * BREAKOUT_TICK;
        env->ball_vy = puffer_cosf(BREAKOUT_LAUNCH_ANGLE) * env->ball_speed * BREAKOUT_TICK;
        env->balls_fired = 1;
    } else {
        env->paddle_x = clampf(env->paddle_x + move * env->paddle_speed * BREAKOUT_TICK,
                               0.0f, env->width - env->paddle_width);
    }

    Contact best = {0};
    sweep_bricks(env, &best);
    sweep_walls(env, &best);
    sweep_paddle(env, &best);
    int points = 0;
    if (best.kind != HIT_NONE) {
        points = resolve_contact(env, &best);
    } else {
        env->ball_x += env->ball_vx;
        env->ball_y += env->ball_vy;
    }

    // Safety: float error must never leave the ball outside the walls.
    float nudge = 1.1f * env->max_ball_speed * BREAKOUT_TICK;
    if (env->ball_x < 0) env->ball_x += nudge;
    if (env->ball_x + env->ball_width > env->width) env->ball_x -= nudge;
    if (env->ball_y < 0) env->ball_y += nudge;

    if (env->ball_y > env->paddle_y + env->paddle_height) {
        env->balls_left -= 1;
        breakout_new_round(env);
    }
    return points;
}

PUFFER_FN void breakout_end_episode(Breakout* env) {
    env->terminals[0] = 1.0f;
    env->log.perf += (float)env->score / (float)env->max_score;
    env->log.score += (float)env->score;
    env->log.episode_return += (float)env->score;
    env->log.episode_length += (float)env->frames;
    env->log.n += 1.0f;
    breakout_new_episode(env);
}

PUFFER_FN void c_step(Breakout* env) {
    env->rewards[0] = 0.0f;
    env->terminals[0] = 0.0f;
    float move;
    if (env->continuous) {
        move = env->actions[0];
        move = move != move ? 0.0f : clampf(move, -1.0f, 1.0f);
    } else {
        int action = (int)env->actions[0];
        move = action == BO_LEFT ? -1.0f : (action == BO_RIGHT ? 1.0f : 0.0f);
    }
    int points = 0;
    for (int f = 0; f < env->frameskip; f++) {
        env->frames += 1;
        points += breakout_frame(env, move);
        // Frames left in this step continue in the next episode.
        if (env->balls_left < 0 || env->score >= env->max_score) breakout_end_episode(env);
    }
    env->rewards[0] = (float)points;
    breakout_observe(env);
}

static void c_render(Breakout* env) {
#if PUFFER_RENDER
    if (!env->window_ready) {
        InitWindow((int)env->width, (int)env->height, "PufferLib Breakout");
        SetTargetFPS(60 / env->frameskip > 0 ? 60 / env->frameskip : 1);
        env->window_ready = 1;
    }
    if (!IsWindowReady()) return;
    const Color rows[3] = {PUFFER_RED, (Color){224, 140, 0, 255}, PUFFER_CYAN};
    BeginDrawing();
    ClearBackground(PUFFER_BACKGROUND);
    for (int i = 0; i < env->num_bricks; i++) {
        if (env->destroyed[i]) continue;
        int r = i / env->brick_cols, c = i % env->brick_cols;
        DrawRectangle((int)(c * env->brick_width) + 1, (int)(BREAKOUT_Y_OFFSET + r * env->brick_height) + 1,
                      (int)env->brick_width - 2, (int)env->brick_height - 2, rows[(r / 2) % 3]);
    }
    DrawRectangle((int)env->paddle_x, (int)env->paddle_y, (int)env->paddle_width,
                  (int)env->paddle_height, PUFFER_CYAN);
    DrawRectangle((int)env->ball_x, (int)env->ball_y, (int)env->ball_width, (int)env->ball_height,
                  PUFFER_WHITE);
    DrawText(TextFormat("Score %d   Balls %d", env->score, env->balls_left), 10, 10, 20,
             PUFFER_WHITE);
    EndDrawing();
#else
    (void)env;
#endif
}

static void c_close(Breakout* env) {
#if PUFFER_RENDER
    if (env->window_ready && IsWindowReady()) CloseWindow();
#endif
    env->window_ready = 0;
}
