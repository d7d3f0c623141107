// target.h: the multi-agent tutorial env. Copy this folder to start a multi-agent env
// (for a single agent, start from envs/squared instead).
//
// Eight agents share a world (952x592 pixels by default) with four goals. Each agent
// steers (heading) and throttles (speed); reaching within 64 pixels of a goal gives that
// agent +1 and moves the goal somewhere new. There are no terminals: the task never ends.
// An agent that goes 512 steps without a reward is respawned at a random spot so that no
// agent stays stuck.
//
// Actions per agent, two discrete heads (MultiDiscrete [9, 5]):
//   head 0, turn:     0..8, heading += (a - 4) / 12 radians (4 keeps the heading)
//   head 1, throttle: 0..4, speed += a - 2 pixels per step (2 keeps the speed)
// Observation per agent, 28 floats, all relative to that agent (see target_observe):
//   4 goals x (dx/W, dy/H), 8 agents x (dx/W, dy/H) (itself included, always 0, 0),
//   heading/(2 pi), this step's reward, x/W, y/H.
//
// What changes when an env has several agents (each point is marked MULTI-AGENT below):
//   1. my_init sets num_agents = 8. The runtime creates envs until it has vec.total_agents
//      agents, so total_agents must be a multiple of 8 (and so must total_agents/num_buffers:
//      a buffer never splits an env).
//   2. The runtime points observations/actions/rewards/terminals/truncations at this env's
//      first agent row. Rows are contiguous: agent i reads actions + i*NUM_ATNS, writes
//      observations + i*OBS_SIZE, rewards[i], terminals[i], truncations[i].
//   3. One policy network acts for every agent, row by row. It cannot know which agent it
//      is driving, so each row must describe the world from that agent's point of view.
//   4. One Log per env, shared by its agents. For a task with no episodes, "an episode" is
//      whatever you choose to count: here every goal reached adds one entry (n += 1).
//
// Everything else is as in squared: no globals, no allocation in c_step, the per-env rng.
#ifndef PUFFER_TARGET_H
#define PUFFER_TARGET_H

#include "ocean.h"

// The agent and goal counts are fixed at build time on purpose. Every row lists all goals and
// all agents, so OBS_SIZE = 2*TARGET_GOALS + 2*TARGET_AGENTS + 4 = 28, and the trainer builds
// its network for the OBS_SIZE written in binding.c. Making the counts [env] kwargs would let a
// config ask for a row size the network does not have; change them here (and OBS_SIZE in
// binding.c) and rebuild instead.
enum {
    TARGET_AGENTS = 8,
    TARGET_GOALS = 4,
    TARGET_OBS_SIZE = 2 * TARGET_GOALS + 2 * TARGET_AGENTS + 4,
    TARGET_NUM_ATNS = 2,        // action heads per agent: turn, throttle
    TARGET_RESPAWN_TICKS = 512, // steps without a reward before an agent is moved
};

#define TARGET_TWO_PI 6.28318530718f
#define TARGET_REACH 64.0f      // pixels: how close counts as reaching a goal
#define TARGET_MAX_SPEED 20.0f  // pixels per step, either direction

// Log holds sums over "episodes" (here: goals reached); floats only, `n` last.
typedef struct {
    float perf;            // 1 for a goal reached at once, falling by 0.01 per step taken, >= 0
    float score;           // goals reached (1 per entry, so its mean is 1)
    float episode_return;  // reward for the goal (1)
    float episode_length;  // steps it took to reach it
    float n;
} Log;

typedef struct {
    float x, y;            // pixels, inside the world
    float heading;         // radians, kept in [0, 2 pi] (clipped, not wrapped)
    float speed;           // pixels per step, in [-TARGET_MAX_SPEED, TARGET_MAX_SPEED]
    int ticks_since_reward;
} TargetAgent;

typedef struct {
    float x, y;
} TargetGoal;

typedef struct {
    Log log;                 // required, first: one Log for all 8 agents (MULTI-AGENT 4)
    float* observations;     // required: num_agents rows of TARGET_OBS_SIZE floats (MULTI-AGENT 2)
    float* actions;          // required: num_agents rows of TARGET_NUM_ATNS floats
    float* rewards;          // required: one per agent
    float* terminals;        // required: one per agent (this env never sets them)
    float* truncations;      // required: one per agent (this env never sets them)
    int num_agents;          // required: agents in this env, TARGET_AGENTS (MULTI-AGENT 1)
    uint32_t rng;        // required: seeded by the runtime; use with puffer_rand & co.
    // World size in pixels, from [env] width and height.
    int width, height;
    // Game state. Fixed-size arrays: the struct holds everything, nothing to allocate or free.
    TargetAgent agents[TARGET_AGENTS];
    TargetGoal goals[TARGET_GOALS];
    // Render state: nothing is allocated until c_render is first called.
    int window_ready;
} Target;

// Called by the standalone demo (and by binding.c's my_init) before c_reset.
static void target_init(Target* env, int width, int height) {
    env->num_agents = TARGET_AGENTS;
    env->width = width;
    env->height = height;
}

// A uniformly random point of the world, in whole pixels.
PUFFER_FN void target_random_point(Target* env, float* x, float* y) {
    *x = (float)(puffer_randint(&env->rng, env->width));
    *y = (float)(puffer_randint(&env->rng, env->height));
}

// Writes every agent's row (MULTI-AGENT 2, 3). Observations are not cleared for you: each
// row is written in full, always in the same order. Positions are relative to the row's
// agent and divided by the world size, so values stay within about [-1, 1].
PUFFER_FN void target_observe(Target* env) {
    float w = (float)env->width, h = (float)env->height;
    for (int i = 0; i < TARGET_AGENTS; i++) {
        float* obs = env->observations + i * TARGET_OBS_SIZE;  // agent i's row
        TargetAgent* me = &env->agents[i];
        int k = 0;
        for (int g = 0; g < TARGET_GOALS; g++) {
            obs[k++] = (env->goals[g].x - me->x) / w;
            obs[k++] = (env->goals[g].y - me->y) / h;
        }
        for (int j = 0; j < TARGET_AGENTS; j++) {  // j == i gives (0, 0): kept for a fixed layout
            obs[k++] = (env->agents[j].x - me->x) / w;
            obs[k++] = (env->agents[j].y - me->y) / h;
        }
        obs[k++] = me->heading / TARGET_TWO_PI;
        obs[k++] = env->rewards[i];
        obs[k++] = me->x / w;
        obs[k++] = me->y / h;
    }
}

// c_reset places agents and goals at random and writes observations. The runtime calls it
// once; a continuing task never calls it again (there is no episode end to reset after).
PUFFER_FN void c_reset(Target* env) {
    for (int i = 0; i < TARGET_AGENTS; i++) {
        TargetAgent* a = &env->agents[i];
        target_random_point(env, &a->x, &a->y);
        a->heading = TARGET_TWO_PI * puffer_uniform(&env->rng);
        a->speed = 0.0f;
        a->ticks_since_reward = 0;
        env->rewards[i] = 0.0f;
    }
    for (int g = 0; g < TARGET_GOALS; g++) {
        target_random_point(env, &env->goals[g].x, &env->goals[g].y);
    }
    target_observe(env);
}

// Reward agent i for reaching a goal, log it, and move the goal.
PUFFER_FN void target_reach(Target* env, int i, TargetGoal* goal) {
    TargetAgent* a = &env->agents[i];
    float ticks = (float)a->ticks_since_reward;
    env->rewards[i] = 1.0f;
    env->log.perf += fmaxf(0.0f, 1.0f - 0.01f * ticks);
    env->log.score += 1.0f;
    env->log.episode_return += 1.0f;
    env->log.episode_length += ticks;
    env->log.n += 1.0f;
    a->ticks_since_reward = 0;
    target_random_point(env, &goal->x, &goal->y);
}

// c_step moves every agent by its own action row, hands out rewards, writes observations.
PUFFER_FN void c_step(Target* env) {
    // The runtime zeroes these before each step; doing it here too costs one memset each,
    // since the agents' entries are contiguous.
    memset(env->rewards, 0, (size_t)env->num_agents * sizeof(float));
    memset(env->terminals, 0, (size_t)env->num_agents * sizeof(float));
    memset(env->truncations, 0, (size_t)env->num_agents * sizeof(float));

    float w = (float)env->width, h = (float)env->height;
    for (int i = 0; i < TARGET_AGENTS; i++) {
        const float* atn = env->actions + i * TARGET_NUM_ATNS;  // agent i's action row
        int turn = (int)atn[0];      // 0..8 (discrete actions arrive as 0.0f, 1.0f, ...)
        int throttle = (int)atn[1];  // 0..4
        TargetAgent* a = &env->agents[i];
        a->ticks_since_reward += 1;
        a->heading = clampf(a->heading + (float)(turn - 4) / 12.0f, 0.0f, TARGET_TWO_PI);
        a->speed = clampf(a->speed + (float)(throttle - 2), -TARGET_MAX_SPEED, TARGET_MAX_SPEED);
        a->x = clampf(a->x + a->speed * puffer_cosf(a->heading), 0.0f, w);
        a->y = clampf(a->y + a->speed * puffer_sinf(a->heading), 0.0f, h);
        if (a->ticks_since_reward % TARGET_RESPAWN_TICKS == 0) {
            target_random_point(env, &a->x, &a->y);  // stuck for too long: start elsewhere
        }
    }

    // Every agent close enough to a goal collects it; a collected goal moves at once, so a
    // goal counts for only one agent per step (the lower index wins a tie).
    for (int i = 0; i < TARGET_AGENTS; i++) {
        for (int g = 0; g < TARGET_GOALS; g++) {
            float dx = env->goals[g].x - env->agents[i].x;
            float dy = env->goals[g].y - env->agents[i].y;
            if (dx * dx + dy * dy <= TARGET_REACH * TARGET_REACH) {
                target_reach(env, i, &env->goals[g]);
            }
        }
    }
    // No terminals: nothing ends, so there is nothing to reset. Write the new rows.
    target_observe(env);
}

// c_render draws the world with raylib shapes. The window opens on the first call, so
// training never opens one. Guard drawing code with PUFFER_RENDER.
static void c_render(Target* env) {
#if PUFFER_RENDER
    if (!env->window_ready) {
        SetConfigFlags(FLAG_MSAA_4X_HINT);
        InitWindow(env->width, env->height, "PufferLib Target");
        SetTargetFPS(60);
        env->window_ready = 1;
    }
    if (!IsWindowReady()) return;
    BeginDrawing();
    ClearBackground(PUFFER_BACKGROUND);
    for (int g = 0; g < TARGET_GOALS; g++) {
        Vector2 at = {env->goals[g].x, env->goals[g].y};
        DrawCircleLinesV(at, TARGET_REACH, PUFFER_RED);  // how close an agent must come
        DrawCircleV(at, 10.0f, PUFFER_RED);
    }
    for (int i = 0; i < TARGET_AGENTS; i++) {
        TargetAgent* a = &env->agents[i];
        Vector2 at = {a->x, a->y};
        Vector2 nose = {a->x + 24.0f * puffer_cosf(a->heading), a->y + 24.0f * puffer_sinf(a->heading)};
        Color c = env->rewards[i] > 0 ? PUFFER_WHITE : PUFFER_CYAN;
        DrawLineEx(at, nose, 3.0f, c);
        DrawCircleV(at, 12.0f, c);
        DrawText(TextFormat("%d", i), (int)a->x - 4, (int)a->y - 8, 16, PUFFER_BACKGROUND);
    }
    DrawText(TextFormat("goals reached: %d", (int)env->log.n), 10, 10, 20, PUFFER_WHITE);
    EndDrawing();
#else
    (void)env;
#endif
}

// c_close frees what the env allocated itself (nothing here) and closes the window.
static void c_close(Target* env) {
#if PUFFER_RENDER
    if (env->window_ready && IsWindowReady()) CloseWindow();
#endif
    env->window_ready = 0;
}

#endif
