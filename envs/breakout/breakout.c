// breakout.c: standalone demo. With a window: arrow keys move the paddle (or --track lets the
// scripted controller play). With no display (or --bench): benchmarks a random agent and a
// tracking controller that keeps the paddle under the ball, printing steps per second.
//   bash build.sh breakout --local   (ASan+UBSan)     bash build.sh breakout --fast
#include "demo.h"
#include "breakout.h"

// Scripted player: aim the paddle's centre at the ball's centre plus an offset, so the ball
// leaves the paddle at an angle. A new offset is drawn each time the ball heads back up.
typedef struct {
    unsigned int rng;
    float offset;
    int was_rising;
} Tracker;

static float track(Tracker* t, const Breakout* env) {
    int rising = env->ball_vy < 0;
    if (rising && !t->was_rising) t->offset = (puffer_uniform(&t->rng) - 0.5f) * 0.6f * env->paddle_width;
    t->was_rising = rising;
    float target = env->ball_x + env->ball_width / 2 + t->offset;
    float centre = env->paddle_x + env->paddle_width / 2;
    float deadband = 0.5f * env->paddle_speed * BREAKOUT_TICK * env->frameskip;
    if (centre < target - deadband) return BO_RIGHT;
    if (centre > target + deadband) return BO_LEFT;
    return BO_STAY;
}

// Plays for about `seconds` and prints SPS and the mean episode score.
static void bench(Breakout* env, const char* who, int tracking, double seconds) {
    Tracker tracker = {7, 0, 0};
    memset(&env->log, 0, sizeof(env->log));
    c_reset(env);
    long steps = 0;
    double start = now();
    while (now() - start < seconds) {
        for (int i = 0; i < 10000; i++) {
            env->actions[0] = tracking ? track(&tracker, env) : (float)(puffer_randint(&env->rng, 3));
            c_step(env);
        }
        steps += 10000;
    }
    double sps = steps / (now() - start);
    float n = env->log.n;
    printf("breakout %-8s %.2fM steps/s  %.0f episodes  score %.1f  perf %.3f  frames/episode %.0f\n",
           who, sps / 1e6, n, n > 0 ? env->log.score / n : 0.0f, n > 0 ? env->log.perf / n : 0.0f,
           n > 0 ? env->log.episode_length / n : 0.0f);
}

int main(int argc, char** argv) {
    int force_bench = 0, tracking = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--bench") == 0) force_bench = 1;
        if (strcmp(argv[i], "--track") == 0) tracking = 1;
    }
    float obs[118];
    float action = 0, reward = 0, terminal = 0, truncation = 0;
    Breakout env = {0};
    env.observations = obs;
    env.actions = &action;
    env.rewards = &reward;
    env.terminals = &terminal;
    env.truncations = &truncation;
    env.rng = 42;
    breakout_defaults(&env);
    char why[160];
    if (breakout_check(&env, why, sizeof(why))) {
        fprintf(stderr, "bad config: %s\n", why);
        return 1;
    }
    breakout_init(&env);
    c_reset(&env);
#if PUFFER_RENDER
    if (!force_bench && getenv("DISPLAY") != NULL) {
        Tracker tracker = {7, 0, 0};
        c_render(&env);
        while (IsWindowReady() && !WindowShouldClose()) {
            if (tracking) {
                action = track(&tracker, &env);
            } else {
                action = BO_STAY;
                if (IsKeyDown(KEY_LEFT) || IsKeyDown(KEY_A)) action = BO_LEFT;
                if (IsKeyDown(KEY_RIGHT) || IsKeyDown(KEY_D)) action = BO_RIGHT;
            }
            c_step(&env);
            c_render(&env);
        }
        c_close(&env);
        return 0;
    }
#else
    (void)c_render;  // drawing is compiled out without PUFFER_RENDER
#endif
    (void)force_bench;
    (void)tracking;
    bench(&env, "random", 0, 2.0);
    bench(&env, "tracking", 1, 2.0);
    c_close(&env);
    return 0;
}
