// freeway.h: Atari-style Freeway, single agent (reference 4.0 rules).
//
// A chicken starts on the pavement below ten lanes of traffic and walks up across them while
// cars and trucks drive through: lanes 0-4 (bottom half) to the right, lanes 5-9 to the left.
// Reaching the far side scores a point and puts the chicken back at the bottom. A car that
// touches the chicken stuns it for 40 frames: it cannot move and (difficulty 0) is pushed down
// 1.5 lanes over those frames; with difficulty 1 it goes straight back to the bottom. An
// episode is 136 s of game time (8160 frames of 1/60 s; `game_length` changes it).
//
// Eight levels (`level` 0-7, or -1 for a random level each episode): 0-3 differ in cars per
// lane (1-3), trucks (twice as long) and lane speeds; 4-7 repeat them with every lane's speed
// taking a random step of -1, 0 or +1 speed levels every 360 frames (staying within 2 levels
// of its start). `env_randomization` shifts each lane's cars by a random offset at reset.
//
// Actions: Discrete(3): 0 stay, 1 up, 2 down; one step runs `frameskip` frames.
// Observation (34 floats): chicken y / height, furthest lane reached this crossing / 10,
// score / the level's human high score, stunned (0/1), then for each lane 0-9 and car slot
// 0-2 the car's centre x / width (about -0.06 to 1.06; 0 for a slot the level leaves empty).
// Rewards (use_dense_rewards = 1): +0.1 for each lane reached for the first time in a
// crossing, +1.0 in total for the frame that completes a crossing, -0.01 per hit.
// Sparse: +1 per crossing. perf = score / the level's human high score (scaled by
// game_length / 136), so a strong agent passes 1.
//
// Where this differs from the reference, and why:
//   - The crossing frame gives 1.0 with dense rewards (the reference adds its 10th lane's 0.1 to
//     the 1.0 bonus: 1.1, which the trainer clips to 1 anyway); sparse rewards give 1 per
//     crossing (the reference assigns 1 and then adds 1 more: 2).
//   - Cars are wrapped onto the road when they are placed at reset; the reference wraps them only
//     when they first move, so its first observation of an episode can show x / width up to 2.
//   - A lane's speed stays within 2 levels of its start (the reference clamps before adding the
//     random step, so it can reach 3 levels away for 360 frames).
//   - The car-position observation is the centre x / width. The reference adds
//     car_height / (2 * width) in integer arithmetic, which is always 0: the same values.
//   - level -1 draws a new level every episode (the reference draws one per env, for its life)
//     and every episode starts from the level's lane speeds; speed changes happen on every
//     360th frame even when frameskip does not divide 360.
//   - The reference's second, keyboard-driven chicken (enable_human_player) is not here: a human
//     plays the agent's chicken in the demo (freeway.c).
#include "ocean.h"

#define FREEWAY_LANES 10
#define FREEWAY_CARS_PER_LANE 3
#define FREEWAY_LEVELS 8
#define FREEWAY_OBS_SIZE (4 + FREEWAY_LANES * FREEWAY_CARS_PER_LANE)
#define FREEWAY_TICK (1.0f / 60.0f)           // seconds per frame
#define FREEWAY_GAME_LENGTH 136.0f            // seconds per episode (reference)
#define FREEWAY_STUN_FRAMES 40
#define FREEWAY_SPEED_PERIOD 360              // frames between lane speed changes (levels 4-7)
#define FREEWAY_HIT_PENALTY (-0.01f)
#define FREEWAY_PLAYER_SPEED (1.0f / 3.5f)    // screen heights per second
#define FREEWAY_CAR_SPEED (1.0f / 13.0f)      // screen widths per second of speed level 0
#define FREEWAY_SPEED_LEVELS 6                // each level 1.35x faster than the one below
#define FREEWAY_MAX_FRAMES 1000000            // game_length * 60 must stay below this

enum { FW_STAY = 0, FW_UP = 1, FW_DOWN = 2 };

typedef struct {
    float perf;            // score / (human high score of the level * game_length / 136)
    float score;           // crossings in the episode
    float episode_return;
    float episode_length;  // frames, not steps
    float up_action_frac;  // fraction of frames played with action up
    float hits;            // times a car hit the chicken
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
    // Config, from the [env] section (freeway_defaults sets the reference values).
    int frameskip;
    float width, height;
    float player_width, player_height;
    float car_width, car_height;  // trucks are 2 * car_width long
    float lane_size;
    int difficulty;         // 0: a hit stuns and pushes back; 1: a hit sends the chicken home
    int level_choice;       // 0-7, or -1 for a random level every episode
    int env_randomization;  // random per-lane offset of the cars at reset
    int use_dense_rewards;
    float game_length;      // seconds
    // Derived by freeway_init.
    float road_start;       // y of the bottom edge of lane 0 (y grows downward)
    float player_x;
    float start_y;          // chicken centre on the pavement below the road
    float player_step;      // pixels per frame
    int max_frames;
    // Episode state.
    int level;
    float player_y;
    int best_lane;          // lanes reached in this crossing (0-10)
    int stun;               // frames of stun left
    int score, hits, frames, up_frames;
    float episode_return;
    // Traffic, per lane. Car x is the centre, in [-half length, width + half length].
    int lane_cars[FREEWAY_LANES];
    int lane_speed[FREEWAY_LANES];       // current speed level
    int lane_base_speed[FREEWAY_LANES];  // speed level at the start of the episode
    float lane_vx[FREEWAY_LANES];        // pixels per frame, + right, - left
    float lane_half_len[FREEWAY_LANES];
    int speed_changes;                   // levels 4-7
    float car_x[FREEWAY_LANES][FREEWAY_CARS_PER_LANE];
    int window_ready;
} Freeway;

// The reference configuration (freeway.ini). The demo uses it; the binding reads the ini.
static void freeway_defaults(Freeway* env) {
    env->frameskip = 4;
    env->width = 1216;
    env->height = 720;
    env->player_width = 64;
    env->player_height = 64;
    env->car_width = 64;
    env->car_height = 40;
    env->lane_size = 64;
    env->difficulty = 0;
    env->level_choice = -1;
    env->env_randomization = 1;
    env->use_dense_rewards = 1;
    env->game_length = FREEWAY_GAME_LENGTH;
}

// Returns 0 if the config is playable, else 1 with a message naming the value and what is allowed.
static int freeway_check(const Freeway* env, char* msg, size_t len) {
    if (env->frameskip < 1 || env->frameskip > 60)
        snprintf(msg, len, "frameskip must be in [1, 60] (got %d)", env->frameskip);
    else if (!(env->width >= 64 && env->width <= 8192 && env->height >= 64 && env->height <= 8192))
        snprintf(msg, len, "width and height must be in [64, 8192] (got %g x %g)",
                 env->width, env->height);
    else if (!(env->player_width > 0 && env->player_height > 0 && env->car_width > 0
               && env->car_height > 0 && env->lane_size > 0))
        snprintf(msg, len, "player_width, player_height, car_width, car_height and lane_size must be > 0");
    else if (!(FREEWAY_LANES * env->lane_size + env->player_height <= env->height))
        snprintf(msg, len, "10 lanes of lane_size %g plus player_height %g must fit in height %g",
                 env->lane_size, env->player_height, env->height);
    else if (!(2 * env->car_width < env->width && env->player_width < env->width / 2))
        snprintf(msg, len, "a truck (2 * car_width = %g) and the chicken (player_width %g) must "
                 "fit the road width %g", 2 * env->car_width, env->player_width, env->width);
    else if (env->difficulty != 0 && env->difficulty != 1)
        snprintf(msg, len, "difficulty must be 0 or 1 (got %d)", env->difficulty);
    else if (env->level_choice < -1 || env->level_choice >= FREEWAY_LEVELS)
        snprintf(msg, len, "level must be -1 (random) or 0-7 (got %d)", env->level_choice);
    else if (env->env_randomization != 0 && env->env_randomization != 1)
        snprintf(msg, len, "env_randomization must be 0 or 1 (got %d)", env->env_randomization);
    else if (env->use_dense_rewards != 0 && env->use_dense_rewards != 1)
        snprintf(msg, len, "use_dense_rewards must be 0 or 1 (got %d)", env->use_dense_rewards);
    else if (!(env->game_length >= 1.0f && env->game_length * 60.0f < FREEWAY_MAX_FRAMES))
        snprintf(msg, len, "game_length must be in [1, %d) seconds (got %g)",
                 FREEWAY_MAX_FRAMES / 60, env->game_length);
    else
        return 0;
    return 1;
}

// Sets the derived constants. Call after the config fields are set (and checked).
static void freeway_init(Freeway* env) {
    env->num_agents = 1;
    env->road_start = env->height / 2 + FREEWAY_LANES * env->lane_size / 2;
    env->player_x = env->width / 4;
    env->start_y = env->height - env->player_height / 2;
    env->player_step = FREEWAY_PLAYER_SPEED * env->height * FREEWAY_TICK;
    env->max_frames = (int)ceilf(env->game_length * 60.0f - 1e-3f);
}

// The level's score that perf divides by (a human's high score, as in the reference).
PUFFER_FN float freeway_human_score(int level) {
    const float scores[FREEWAY_LEVELS] = {25, 20, 18, 20, 25, 18, 15, 18};
    return scores[level];
}

PUFFER_FN float freeway_lane_y(const Freeway* env, int lane) {
    return env->road_start - (lane + 0.5f) * env->lane_size;
}

PUFFER_FN void freeway_set_speed(Freeway* env, int lane, int speed) {
    float mult = 1.0f;
    for (int i = 0; i < speed; i++) mult *= 1.35f;
    float vx = FREEWAY_CAR_SPEED * mult * env->width * FREEWAY_TICK;
    env->lane_speed[lane] = speed;
    env->lane_vx[lane] = lane < FREEWAY_LANES / 2 ? vx : -vx;
}

// Levels 4-7 are 0-3 with speed changes. Layout 0: one car per lane; 1 and 2: one to three
// cars per lane with a truck lane; 3: one fast truck per lane. Offsets are fractions of the
// road width measured from the lane's entry side.
PUFFER_FN void freeway_load_level(Freeway* env, int level) {
    const int counts[4][FREEWAY_LANES] = {
        {1, 1, 1, 1, 1, 1, 1, 1, 1, 1},
        {1, 2, 2, 3, 2, 1, 2, 3, 2, 2},
        {3, 3, 1, 3, 1, 1, 3, 1, 3, 1},
        {1, 1, 1, 1, 1, 1, 1, 1, 1, 1},
    };
    const int truck_lane[4] = {-1, 5, 4, -2};  // -2: every lane
    const int speeds[4][FREEWAY_LANES] = {
        {0, 1, 2, 3, 4, 4, 3, 2, 1, 0},
        {0, 1, 3, 4, 5, 5, 4, 3, 1, 0},
        {0, 1, 3, 4, 5, 5, 4, 3, 1, 0},
        {5, 4, 2, 4, 5, 5, 4, 2, 4, 5},
    };
    const float gaps[4][FREEWAY_LANES] = {  // spacing of a lane's 2nd and 3rd cars
        {0, 0, 0, 0, 0, 0, 0, 0, 0, 0},
        {0, 0.1f, 0.2f, 0.1f, 0.4f, 0, 0.4f, 0.1f, 0.2f, 0.1f},
        {0.2f, 0.2f, 0, 0.2f, 0, 0, 0.2f, 0, 0.2f, 0},
        {0, 0, 0, 0, 0, 0, 0, 0, 0, 0},
    };
    int layout = level % 4;
    env->level = level;
    env->speed_changes = level >= 4;
    for (int lane = 0; lane < FREEWAY_LANES; lane++) {
        int truck = truck_lane[layout] == -2 || truck_lane[layout] == lane;
        env->lane_cars[lane] = counts[layout][lane];
        env->lane_half_len[lane] = (truck ? 2 * env->car_width : env->car_width) / 2;
        env->lane_base_speed[lane] = speeds[layout][lane];
        freeway_set_speed(env, lane, speeds[layout][lane]);
        for (int i = 0; i < FREEWAY_CARS_PER_LANE; i++) {
            env->car_x[lane][i] = i * gaps[layout][lane] * env->width;  // from the entry side
        }
    }
}

// Puts the cars at their start: measured from the left for right-moving lanes, from the right
// for left-moving ones, plus a random per-lane shift, wrapped onto the road.
PUFFER_FN void freeway_place_cars(Freeway* env) {
    for (int lane = 0; lane < FREEWAY_LANES; lane++) {
        float shift = env->width * puffer_uniform(&env->rng);
        if (!env->env_randomization) shift = 0.0f;
        float half = env->lane_half_len[lane];
        for (int i = 0; i < env->lane_cars[lane]; i++) {
            float x = env->car_x[lane][i];
            if (lane >= FREEWAY_LANES / 2) x = env->width - x;
            x += shift;
            if (x > env->width + half) x -= env->width;
            env->car_x[lane][i] = x;
        }
    }
}

PUFFER_FN void freeway_observe(Freeway* env) {
    float* o = env->observations;
    o[0] = env->player_y / env->height;
    o[1] = env->best_lane / (float)FREEWAY_LANES;
    o[2] = env->score / freeway_human_score(env->level);
    o[3] = env->stun > 0 ? 1.0f : 0.0f;
    float inv_w = 1.0f / env->width;
    for (int lane = 0; lane < FREEWAY_LANES; lane++) {
        float* lo = o + 4 + lane * FREEWAY_CARS_PER_LANE;
        for (int i = 0; i < FREEWAY_CARS_PER_LANE; i++) {
            lo[i] = i < env->lane_cars[lane] ? env->car_x[lane][i] * inv_w : 0.0f;
        }
    }
}

PUFFER_FN void c_reset(Freeway* env) {
    int level = env->level_choice;
    if (level < 0) level = puffer_randint(&env->rng, FREEWAY_LEVELS);
    freeway_load_level(env, level);
    freeway_place_cars(env);
    env->player_y = env->start_y;
    env->best_lane = 0;
    env->stun = 0;
    env->score = 0;
    env->hits = 0;
    env->frames = 0;
    env->up_frames = 0;
    env->episode_return = 0.0f;
    freeway_observe(env);
}

// True when a car overlaps the chicken. Only the lanes within reach of the chicken's box are
// tested (at most three), not all thirty car slots.
PUFFER_FN int freeway_hit(const Freeway* env) {
    float reach = (env->player_height + env->car_height) / 2;
    float y = env->player_y;
    float top = (env->road_start - (y + reach)) / env->lane_size - 0.5f;
    float bottom = (env->road_start - (y - reach)) / env->lane_size - 0.5f;
    int lo = maxi((int)floorf(top), 0), hi = mini((int)ceilf(bottom), FREEWAY_LANES - 1);
    float px0 = env->player_x - env->player_width / 2, px1 = env->player_x + env->player_width / 2;
    for (int lane = lo; lane <= hi; lane++) {
        if (fabsf(freeway_lane_y(env, lane) - y) >= reach) continue;
        float half = env->lane_half_len[lane];
        for (int i = 0; i < env->lane_cars[lane]; i++) {
            float x = env->car_x[lane][i];
            if (px0 < x + half && px1 > x - half) return 1;
        }
    }
    return 0;
}

// Levels 4-7: each lane's speed level moves by -1, 0 or +1, within 2 of its start and in [0, 5].
PUFFER_FN void freeway_change_speeds(Freeway* env) {
    for (int lane = 0; lane < FREEWAY_LANES; lane++) {
        int base = env->lane_base_speed[lane];
        int speed = env->lane_speed[lane] + puffer_randint(&env->rng, 3) - 1;
        speed = clampi(speed, maxi(base - 2, 0), mini(base + 2, FREEWAY_SPEED_LEVELS - 1));
        freeway_set_speed(env, lane, speed);
    }
}

// One 1/60 s frame. Returns the reward of the frame.
PUFFER_FN float freeway_frame(Freeway* env, int action) {
    float reward = 0.0f;
    env->frames += 1;
    if (action == FW_UP) env->up_frames += 1;

    if (env->stun == 0) {
        if (action == FW_UP) env->player_y -= env->player_step;
        else if (action == FW_DOWN) env->player_y += env->player_step;
    } else {
        env->stun -= 1;
        if (env->difficulty == 0) env->player_y += 1.5f * env->lane_size / FREEWAY_STUN_FRAMES;
    }
    env->player_y = clampf(env->player_y, env->player_height / 2, env->start_y);

    if (env->stun == 0 && freeway_hit(env)) {
        env->hits += 1;
        if (env->use_dense_rewards) reward += FREEWAY_HIT_PENALTY;
        if (env->difficulty == 0) {
            env->stun = FREEWAY_STUN_FRAMES;
        } else {
            env->player_y = env->start_y;
        }
    }

    if (env->player_y <= env->road_start - (env->best_lane + 1) * env->lane_size) {
        env->best_lane += 1;
        if (env->best_lane == FREEWAY_LANES) {
            reward += 1.0f;  // dense: this frame's lane is part of the 1.0
            env->score += 1;
            env->best_lane = 0;
            env->stun = 0;
            env->player_y = env->start_y;
        } else if (env->use_dense_rewards) {
            reward += 1.0f / FREEWAY_LANES;
        }
    }

    for (int lane = 0; lane < FREEWAY_LANES; lane++) {
        float vx = env->lane_vx[lane], half = env->lane_half_len[lane];
        for (int i = 0; i < env->lane_cars[lane]; i++) {
            float x = env->car_x[lane][i] + vx;
            if (x > env->width + half) x -= env->width;
            else if (x < -half) x += env->width;
            env->car_x[lane][i] = x;
        }
    }

    if (env->speed_changes && env->frames % FREEWAY_SPEED_PERIOD == 0) freeway_change_speeds(env);
    return reward;
}

PUFFER_FN void freeway_end_episode(Freeway* env) {
    env->terminals[0] = 1.0f;
    float human = freeway_human_score(env->level) * (env->game_length / FREEWAY_GAME_LENGTH);
    env->log.perf += env->score / human;
    env->log.score += (float)env->score;
    env->log.episode_return += env->episode_return;
    env->log.episode_length += (float)env->frames;
    env->log.up_action_frac += env->up_frames / (float)env->frames;
    env->log.hits += (float)env->hits;
    env->log.n += 1.0f;
    c_reset(env);
}

PUFFER_FN void c_step(Freeway* env) {
    env->terminals[0] = 0.0f;
    int action = (int)env->actions[0];
    float reward = 0.0f;
    for (int f = 0; f < env->frameskip; f++) reward += freeway_frame(env, action);
    env->rewards[0] = reward;
    env->episode_return += reward;
    if (env->frames >= env->max_frames) {
        freeway_end_episode(env);
        return;
    }
    freeway_observe(env);
}

#if PUFFER_RENDER
// A car or truck seen from above: body, a darker cabin towards its front, four wheels.
static void freeway_draw_car(float x, float y, float len, float h, int right, Color body) {
    Color dark = {(unsigned char)(body.r / 2), (unsigned char)(body.g / 2), (unsigned char)(body.b / 2), 255};
    float x0 = x - len / 2, y0 = y - h / 2, wheel = h * 0.22f;
    for (int k = 0; k < 2; k++) {
        float wx = x0 + (k == 0 ? len * 0.12f : len * 0.72f);
        DrawRectangle((int)wx, (int)(y0 - wheel / 2), (int)(len * 0.16f), (int)wheel, BLACK);
        DrawRectangle((int)wx, (int)(y0 + h - wheel / 2), (int)(len * 0.16f), (int)wheel, BLACK);
    }
    DrawRectangleRounded((Rectangle){x0, y0, len, h}, 0.3f, 6, body);
    float cab = fminf(len * 0.3f, 24.0f);
    float cx = right ? x0 + len - cab - len * 0.1f : x0 + len * 0.1f;
    DrawRectangle((int)cx, (int)(y0 + h * 0.2f), (int)cab, (int)(h * 0.6f), dark);
}

// The chicken: a round white body, an orange beak pointing up the road, a red comb.
static void freeway_draw_chicken(float x, float y, float size, int stunned) {
    Color body = stunned ? (Color){240, 200, 200, 255} : PUFFER_WHITE;
    DrawCircle((int)x, (int)(y + size * 0.08f), size * 0.34f, body);
    DrawCircle((int)x, (int)(y - size * 0.22f), size * 0.18f, body);
    DrawTriangle((Vector2){x - size * 0.07f, y - size * 0.34f}, (Vector2){x + size * 0.07f, y - size * 0.34f},
                 (Vector2){x, y - size * 0.5f}, (Color){240, 150, 20, 255});
    DrawCircle((int)(x - size * 0.08f), (int)(y - size * 0.3f), size * 0.05f, PUFFER_RED);
    DrawCircle((int)(x + size * 0.08f), (int)(y - size * 0.3f), size * 0.05f, PUFFER_RED);
}
#endif

static void c_render(Freeway* env) {
#if PUFFER_RENDER
    if (!env->window_ready) {
        InitWindow((int)env->width, (int)env->height, "PufferLib Freeway");
        SetTargetFPS(60 / env->frameskip > 0 ? 60 / env->frameskip : 1);
        env->window_ready = 1;
    }
    if (!IsWindowReady()) return;
    const Color lane_colors[5] = {PUFFER_RED, {224, 140, 0, 255}, {220, 210, 40, 255},
                                  {40, 170, 70, 255}, {60, 90, 220, 255}};
    float top = env->road_start - FREEWAY_LANES * env->lane_size;
    BeginDrawing();
    ClearBackground(PUFFER_BACKGROUND);
    DrawRectangle(0, (int)top, (int)env->width, (int)(env->road_start - top), (Color){40, 46, 52, 255});
    for (int lane = 1; lane < FREEWAY_LANES; lane++) {
        int y = (int)(env->road_start - lane * env->lane_size);
        int median = lane == FREEWAY_LANES / 2;
        for (int x = 16; x < (int)env->width; x += 64) {
            if (median) {
                DrawRectangle(x, y - 5, 32, 3, (Color){230, 200, 60, 255});
                DrawRectangle(x, y + 2, 32, 3, (Color){230, 200, 60, 255});
            } else {
                DrawRectangle(x, y - 2, 32, 4, (Color){200, 200, 200, 255});
            }
        }
    }
    DrawRectangle(0, (int)top - 2, (int)env->width, 4, PUFFER_CYAN);
    DrawRectangle(0, (int)env->road_start - 2, (int)env->width, 4, PUFFER_CYAN);
    for (int lane = 0; lane < FREEWAY_LANES; lane++) {
        float y = freeway_lane_y(env, lane), len = 2 * env->lane_half_len[lane];
        Color c = lane_colors[lane < 5 ? lane : FREEWAY_LANES - 1 - lane];
        for (int i = 0; i < env->lane_cars[lane]; i++) {
            float x = env->car_x[lane][i];
            // The road wraps around: a car leaving one edge shows at the other.
            for (int k = -1; k <= 1; k++) {
                float xk = x + k * env->width;
                if (xk + len / 2 < 0 || xk - len / 2 > env->width) continue;
                freeway_draw_car(xk, y, len, env->car_height, lane < FREEWAY_LANES / 2, c);
            }
        }
    }
    freeway_draw_chicken(env->player_x, env->player_y, fminf(env->player_width, env->player_height),
                         env->stun > 0);
    float left = (env->max_frames - env->frames) * FREEWAY_TICK;
    DrawText(TextFormat("Score %d   Level %d   Time %d", env->score, env->level, (int)(left + 0.5f)),
             10, 6, 28, PUFFER_WHITE);
    EndDrawing();
#else
    (void)env;
#endif
}

static void c_close(Freeway* env) {
#if PUFFER_RENDER
    if (env->window_ready && IsWindowReady()) CloseWindow();
#endif
    env->window_ready = 0;
}
