// freeway.c: standalone demo. With a window: up/down (or W/S) move the chicken (--auto lets the
// scripted player walk). With no display (or --bench): benchmarks a random agent, an agent that
// always walks up, and the scripted player that waits for gaps, printing steps per second.
//   bash build.sh freeway --local   (ASan+UBSan)     bash build.sh freeway --fast
#include "demo.h"
#include "freeway.h"

// Scripted player: walk up unless a car in the lane ahead (or the lane it stands in) will be at
// the chicken's x within the next few frames; step back down when one is about to hit.
static int careful(const Freeway* env) {
    float reach = (env->player_height + env->car_height) / 2;
    float ahead = env->player_y - env->player_step * 6;
    for (int lane = 0; lane < FREEWAY_LANES; lane++) {
        float dy = freeway_lane_y(env, lane) - ahead;
        if (dy >= reach || dy <= -reach) continue;
        float half = env->lane_half_len[lane] + env->player_width / 2;
        for (int i = 0; i < env->lane_cars[lane]; i++) {
            float x = env->car_x[lane][i], vx = env->lane_vx[lane];
            for (int t = 0; t <= 24; t += 4) {  // positions over the next 24 frames
                float xt = x + vx * t;
                if (xt - env->player_x < half && env->player_x - xt < half) return FW_STAY;
            }
        }
    }
    return FW_UP;
}

// Plays for about `seconds` and prints SPS and the mean episode score.
static void bench(Freeway* env, const char* who, int policy, double seconds) {
    memset(&env->log, 0, sizeof(env->log));
    c_reset(env);
    long steps = 0;
    double start = now();
    while (now() - start < seconds) {
        for (int i = 0; i < 10000; i++) {
            if (policy == 0) env->actions[0] = (float)puffer_randint(&env->rng, 3);
            else env->actions[0] = policy == 1 ? FW_UP : (float)careful(env);
            c_step(env);
        }
        steps += 10000;
    }
    double sps = steps / (now() - start);
    float n = env->log.n;
    printf("freeway %-8s %.2fM steps/s  %.0f episodes  score %.1f  perf %.3f  hits %.1f\n", who,
           sps / 1e6, n, n > 0 ? env->log.score / n : 0.0f, n > 0 ? env->log.perf / n : 0.0f,
           n > 0 ? env->log.hits / n : 0.0f);
}

int main(int argc, char** argv) {
    int force_bench = 0, autoplay = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--bench") == 0) force_bench = 1;
        if (strcmp(argv[i], "--auto") == 0) autoplay = 1;
    }
    float obs[FREEWAY_OBS_SIZE];
    float action = 0, reward = 0, terminal = 0, truncation = 0;
    Freeway env = {0};
    env.observations = obs;
    env.actions = &action;
    env.rewards = &reward;
    env.terminals = &terminal;
    env.truncations = &truncation;
    env.rng = 42;
    freeway_defaults(&env);
    char why[200];
    if (freeway_check(&env, why, sizeof(why))) {
        fprintf(stderr, "bad config: %s\n", why);
        return 1;
    }
    freeway_init(&env);
    c_reset(&env);
#if PUFFER_RENDER
    if (!force_bench && getenv("DISPLAY") != NULL) {
        c_render(&env);
        while (IsWindowReady() && !WindowShouldClose()) {
            if (autoplay) {
                action = (float)careful(&env);
            } else {
                action = FW_STAY;
                if (IsKeyDown(KEY_UP) || IsKeyDown(KEY_W)) action = FW_UP;
                if (IsKeyDown(KEY_DOWN) || IsKeyDown(KEY_S)) action = FW_DOWN;
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
    (void)autoplay;
    bench(&env, "random", 0, 2.0);
    bench(&env, "up", 1, 2.0);
    bench(&env, "careful", 2, 2.0);
    c_close(&env);
    return 0;
}
