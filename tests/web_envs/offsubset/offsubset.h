// offsubset.h: a one-cell test env whose c_render can draw with a raylib call outside the
// browser subset (DrawEllipse), to check that the web build refuses it by name.
// tests/test_web_build.py builds it with OFFSUBSET_DRAW_ELLIPSE set and unset.
#include "ocean.h"

typedef struct {
    float score;
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
    int tick;
} Offsubset;

PUFFER_FN void c_reset(Offsubset* env) {
    env->tick = 0;
    env->observations[0] = 0.0f;
}

PUFFER_FN void c_step(Offsubset* env) {
    env->tick += 1;
    env->rewards[0] = env->actions[0] == 1.0f ? 1.0f : 0.0f;
    env->observations[0] = (float)(env->tick % 10);
    if (env->tick >= 10) {
        env->terminals[0] = 1.0f;
        env->log.score += 1.0f;
        env->log.n += 1.0f;
        c_reset(env);
    }
}

static void c_render(Offsubset* env) {
#if PUFFER_RENDER
    if (!IsWindowReady()) InitWindow(64, 64, "offsubset");
    BeginDrawing();
    ClearBackground(PUFFER_BACKGROUND);
#ifdef OFFSUBSET_DRAW_ELLIPSE
    DrawEllipse(32, 32, 20.0f, 10.0f, PUFFER_CYAN);
#else
    DrawCircle(32, 32, 4.0f + env->tick, PUFFER_CYAN);
#endif
    EndDrawing();
#else
    (void)env;
#endif
}

static void c_close(Offsubset* env) { (void)env; }
