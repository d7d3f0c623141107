// squared.h: the single-agent tutorial env. Copy this folder to start your own.
//
// The agent starts in the centre of an 11x11 grid and must reach a target cell within
// 3*size steps. Reaching it gives +1 and ends the episode; leaving the grid or running out
// of time gives -1 and ends the episode. Observation: the grid, one byte per cell
// (0 empty, 1 agent, 2 target). Actions: 0 noop, 1 down, 2 up, 3 left, 4 right.
//
// Everything the env needs lives in its struct: no globals, no allocation in c_step.
#include "ocean.h"

enum { SQ_EMPTY = 0, SQ_AGENT = 1, SQ_TARGET = 2 };
enum { SQ_NOOP = 0, SQ_DOWN = 1, SQ_UP = 2, SQ_LEFT = 3, SQ_RIGHT = 4 };

// Log holds per-episode sums; only floats, and `n` (episodes finished) must come last.
// The runtime sums these over envs and divides by n, so each reads as a per-episode mean.
typedef struct {
    float perf;            // 0-1 normalised performance: fraction of episodes that hit the target
    float score;
    float episode_return;
    float episode_length;
    float n;
} Log;

typedef struct {
    Log log;                 // required, first
    unsigned char* observations;  // required: size*size bytes, owned by the runtime
    float* actions;          // required: one float per head (here one head)
    float* rewards;          // required
    float* terminals;        // required
    float* truncations;      // required (this env never truncates)
    int num_agents;          // required: agents per env (1 here)
    uint32_t rng;        // required: seeded by the runtime; use with puffer_rand & co.
    // Game state.
    int size;
    int tick;
    int agent_r, agent_c;
    int target_r, target_c;
    // Render state: nothing is allocated until c_render is first called.
    int window_ready;
} Squared;

// Called by the standalone demo (and by binding.c's my_init) after setting size.
static void squared_init(Squared* env, int size) {
    env->num_agents = 1;
    env->size = size;
}

// Writes the full observation. Observations are not cleared for you: write every byte.
PUFFER_FN void squared_observe(Squared* env) {
    int s = env->size;
    memset(env->observations, SQ_EMPTY, (size_t)(s * s));
    env->observations[env->target_r * s + env->target_c] = SQ_TARGET;
    env->observations[env->agent_r * s + env->agent_c] = SQ_AGENT;
}

// c_reset starts a new episode and writes observations. It is called once by the runtime,
// and by c_step itself whenever an episode ends (auto-reset).
PUFFER_FN void c_reset(Squared* env) {
    int s = env->size, centre = (s * s) / 2;
    env->tick = 0;
    env->agent_r = centre / s;
    env->agent_c = centre % s;
    int cell = puffer_randint(&env->rng, s * s - 1);  // any cell but the centre
    if (cell >= centre) cell++;
    env->target_r = cell / s;
    env->target_c = cell % s;
    squared_observe(env);
}

// Add the finished episode to the log before resetting.
PUFFER_FN void squared_end_episode(Squared* env, float reward) {
    env->rewards[0] = reward;
    env->terminals[0] = 1.0f;
    env->log.perf += reward > 0 ? 1.0f : 0.0f;
    env->log.score += reward;
    env->log.episode_return += reward;
    env->log.episode_length += (float)env->tick;
    env->log.n += 1.0f;
    c_reset(env);
}

// c_step reads actions and writes rewards, terminals and observations. The runtime zeroes
// rewards/terminals/truncations before each step; writing them anyway is a good habit.
PUFFER_FN void c_step(Squared* env) {
    env->rewards[0] = 0.0f;
    env->terminals[0] = 0.0f;
    env->tick += 1;
    int r = env->agent_r, c = env->agent_c;
#ifdef SQUARED_CONTINUOUS
    // Continuous variant: two dims, each moves one cell when beyond +-0.5.
    float dr = env->actions[0], dc = env->actions[1];
    if (dr > 0.5f) r += 1;
    else if (dr < -0.5f) r -= 1;
    else if (dc < -0.5f) c -= 1;
    else if (dc > 0.5f) c += 1;
#else
    int action = (int)env->actions[0];
    if (action == SQ_DOWN) r += 1;
    else if (action == SQ_UP) r -= 1;
    else if (action == SQ_LEFT) c -= 1;
    else if (action == SQ_RIGHT) c += 1;
#endif
    env->agent_r = r;
    env->agent_c = c;
    int s = env->size;
    if (env->tick > 3 * s || r < 0 || c < 0 || r >= s || c >= s) {
        squared_end_episode(env, -1.0f);
        return;
    }
    if (r == env->target_r && c == env->target_c) {
        squared_end_episode(env, 1.0f);
        return;
    }
    squared_observe(env);
}

// c_render draws the env with raylib. The window is created on the first call, so
// training never opens one. Guard drawing code with PUFFER_RENDER.
static void c_render(Squared* env) {
#if PUFFER_RENDER
    const int px = 64;
    if (!env->window_ready) {
        SetConfigFlags(FLAG_MSAA_4X_HINT);
        InitWindow(env->size * px, env->size * px, "PufferLib Squared");
        SetTargetFPS(5);
        env->window_ready = 1;
    }
    if (!IsWindowReady()) return;
    BeginDrawing();
    ClearBackground(PUFFER_BACKGROUND);
    for (int r = 0; r < env->size; r++) {
        for (int c = 0; c < env->size; c++) {
            unsigned char v = env->observations[r * env->size + c];
            if (v == SQ_AGENT) DrawRectangle(c * px, r * px, px, px, PUFFER_CYAN);
            else if (v == SQ_TARGET) DrawRectangle(c * px, r * px, px, px, PUFFER_RED);
        }
    }
    EndDrawing();
#else
    (void)env;
#endif
}

// c_close frees what the env allocated itself (nothing here) and closes the window.
static void c_close(Squared* env) {
#if PUFFER_RENDER
    if (env->window_ready && IsWindowReady()) CloseWindow();
#endif
    env->window_ready = 0;
}
