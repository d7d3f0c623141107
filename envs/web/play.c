// play.c: one env on a web page. The env's own binding.c (its my_init, c_step, c_render)
// compiled unchanged against the browser's raylib subset (raylib.h here) and stepped by the page,
// with the actions from a trained policy (policy.c), the keyboard or a random agent.
//
// Built by pufferlib/web.py (bash build.sh ENV --web, puffer export ENV --web DIR), which passes
//   -DWEB_BINDING="<env dir>/binding.c"    the env
//   web_config.h (generated)               its [env] kwargs and its [web] keyboard map
// page.js calls the web_* functions below; the page never blocks: each animation frame it steps
// the env as often as the speed control asks, then renders once.
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#ifdef __EMSCRIPTEN__
#include <emscripten.h>
#define WEB_EXPORT EMSCRIPTEN_KEEPALIVE
#else
#define WEB_EXPORT
#endif

#include "web_kwargs.h"
#define PUFFER_VECENV_H  // the binding's #include "vecenv.h" is replaced by web_kwargs.h
#include WEB_BINDING
#include "policy.h"

// One keyboard binding: while `key` is down, head `head` of agent 0 takes `value`.
typedef struct {
    int key, head;
    float value;
} WebKey;

// The keys of one action kind, and each head's action with no key down (NaN: keep the last).
typedef struct {
    int count;
    const WebKey* keys;
    int idle_count;
    const float* idle;
} WebKeymap;

#include "web_config.h"  // WEB_KWARGS, web_kwarg_keys/values, web_keymaps[discrete, continuous]

enum { WEB_AGENT_POLICY = 0, WEB_AGENT_KEYBOARD = 1, WEB_AGENT_RANDOM = 2 };

typedef struct {
    Env env;
    int agents, ready;
    void* obs;
    float *actions, *rewards, *terminals, *truncations, *dones;
    WebPolicy* policy;
    int agent, argmax, keyboard;  // keyboard: agent 0 was driven by keys in the last step
    uint32_t rng;                 // random agent
    double steps, episode_return, last_return;
    char error[512];
    char status[4096];
} Game;

static Game game;  // the page's one env

static const int web_act_sizes[NUM_ATNS] = ACT_SIZES;

static uint32_t xorshift(uint32_t* s) {
    uint32_t x = *s;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    return *s = x;
}

static void random_actions(int first_agent) {
    for (int a = first_agent; a < game.agents; a++) {
        for (int h = 0; h < NUM_ATNS; h++) {
            float* out = &game.actions[a * NUM_ATNS + h];
            uint32_t r = xorshift(&game.rng);
            if (web_act_sizes[h] == 1) *out = (float)(r >> 8) / 8388608.0f - 1.0f;  // [-1, 1)
            else *out = (float)(r % (uint32_t)web_act_sizes[h]);
        }
    }
}

// Agent 0 from the keyboard: each head starts at its idle action (NaN: keep the last one), then
// every held key sets its head.
static void keyboard_actions(void) {
    const WebKeymap* map = &web_keymaps[web_act_sizes[0] == 1];
    for (int h = 0; h < NUM_ATNS && h < map->idle_count; h++)
        if (!isnan(map->idle[h])) game.actions[h] = map->idle[h];
    for (int i = 0; i < map->count; i++)
        if (map->keys[i].head < NUM_ATNS && IsKeyDown(map->keys[i].key))
            game.actions[map->keys[i].head] = map->keys[i].value;
}

WEB_EXPORT int web_init(uint32_t seed) {
    if (game.ready) return 0;
    Kwargs kw = {WEB_KWARGS, web_kwarg_keys, web_kwarg_values, {0}, 0, {0}};
    game.env.rng = seed ? seed : 1;
    game.rng = seed * 2654435761u + 1u;
    my_init(&game.env, &kw);
    if (kw.failed) {
        snprintf(game.error, sizeof(game.error), "env %s: %s", ENV_NAME, kw.message);
        return 1;
    }
    for (int i = 0; i < kw.count; i++) {
        if (!kw.used[i]) {
            snprintf(game.error, sizeof(game.error), "unknown [env] key '%s' for env %s",
                     kw.keys[i], ENV_NAME);
            return 1;
        }
    }
    int n = game.agents = game.env.num_agents;
    size_t elem = OBS_DTYPE == PUFFER_OBS_U8 ? 1 : 4;
    game.obs = calloc((size_t)n * OBS_SIZE, elem);
    game.actions = (float*)calloc((size_t)n * NUM_ATNS, sizeof(float));
    game.rewards = (float*)calloc((size_t)n, sizeof(float));
    game.terminals = (float*)calloc((size_t)n, sizeof(float));
    game.truncations = (float*)calloc((size_t)n, sizeof(float));
    game.dones = (float*)calloc((size_t)n, sizeof(float));
    if (!game.obs || !game.actions || !game.rewards || !game.terminals || !game.truncations
            || !game.dones) {
        snprintf(game.error, sizeof(game.error), "out of memory for %d agents", n);
        return 1;
    }
    game.env.observations = game.obs;
    game.env.actions = game.actions;
    game.env.rewards = game.rewards;
    game.env.terminals = game.terminals;
    game.env.truncations = game.truncations;
    game.agent = WEB_AGENT_KEYBOARD;
    c_reset(&game.env);
    game.ready = 1;
    return 0;
}

WEB_EXPORT const char* web_error(void) { return game.error; }
WEB_EXPORT const char* web_env_name(void) { return ENV_NAME; }
WEB_EXPORT int web_obs_size(void) { return OBS_SIZE; }
WEB_EXPORT int web_num_atns(void) { return NUM_ATNS; }
WEB_EXPORT int web_act_size(int head) { return head >= 0 && head < NUM_ATNS ? web_act_sizes[head] : 0; }
WEB_EXPORT int web_agents(void) { return game.agents; }

// weights: the checkpoint payload (see policy.h). 0 on success, else web_error() says why.
WEB_EXPORT int web_load_policy(const float* weights, int count, int hidden_size, int num_layers,
                               uint32_t seed) {
    WebPolicy* p = web_policy_create(OBS_SIZE, NUM_ATNS, web_act_sizes, hidden_size, num_layers,
                                     game.agents, weights, (size_t)count, seed, game.error,
                                     sizeof(game.error));
    if (p == NULL) return 1;
    web_policy_destroy(game.policy);
    game.policy = p;
    game.agent = WEB_AGENT_POLICY;
    return 0;
}

// Who plays (WEB_AGENT_*); the episode statistics start over.
WEB_EXPORT void web_set_agent(int agent) {
    if (agent == WEB_AGENT_POLICY && game.policy == NULL) agent = WEB_AGENT_KEYBOARD;
    game.agent = agent;
    memset(&game.env.log, 0, sizeof(game.env.log));
    game.episode_return = game.last_return = 0;
}

WEB_EXPORT void web_set_argmax(int argmax) { game.argmax = argmax != 0; }

// n env steps; returns the number taken.
WEB_EXPORT int web_step(int n) {
    if (!game.ready) return 0;
    for (int i = 0; i < n; i++) {
        int shift = IsKeyDown(KEY_LEFT_SHIFT) || IsKeyDown(KEY_RIGHT_SHIFT);
        game.keyboard = game.agent == WEB_AGENT_KEYBOARD
                        || (game.agent == WEB_AGENT_POLICY && shift);
        if (game.agent == WEB_AGENT_POLICY) {
            web_policy_act(game.policy, game.obs, OBS_DTYPE == PUFFER_OBS_U8, game.dones,
                           game.argmax ? WEB_POLICY_ARGMAX : WEB_POLICY_SAMPLE, game.actions);
        } else {
            random_actions(game.keyboard ? 1 : 0);
        }
        if (game.keyboard) keyboard_actions();
        memset(game.rewards, 0, (size_t)game.agents * sizeof(float));
        memset(game.terminals, 0, (size_t)game.agents * sizeof(float));
        memset(game.truncations, 0, (size_t)game.agents * sizeof(float));
        c_step(&game.env);
        for (int a = 0; a < game.agents; a++)
            game.dones[a] = fmaxf(game.terminals[a], game.truncations[a]);
        game.episode_return += game.rewards[0];
        if (game.dones[0] != 0.0f) {
            game.last_return = game.episode_return;
            game.episode_return = 0;
        }
        game.steps += 1;
    }
    return n;
}

WEB_EXPORT void web_render(void) {
    if (game.ready) c_render(&game.env);
}

// The page's numbers as JSON: steps, finished episodes, mean score over them (the env's `score`
// log field, else its episode return), agent 0's running and last episode return, who plays,
// and every field the env logs (means over the finished episodes).
WEB_EXPORT const char* web_status(void) {
    enum { FIELDS = sizeof(Log) / sizeof(float) };
    float mean[FIELDS];
    memcpy(mean, &game.env.log, sizeof(mean));
    float episodes = mean[FIELDS - 1];
    PufferLogOut out = {0};
    if (episodes > 0) {
        for (int i = 0; i < FIELDS - 1; i++) mean[i] /= episodes;
        Log log;
        memcpy(&log, mean, sizeof(log));
        my_log(&log, &out);
    }
    double score = game.last_return;
    int have_score = 0;
    for (int i = 0; i < out.count; i++) {
        if (strcmp(out.keys[i], "score") == 0) score = out.values[i], have_score = 1;
        if (!have_score && strcmp(out.keys[i], "episode_return") == 0) score = out.values[i];
    }
    static const char* const agents[] = {"policy", "keyboard", "random"};
    int len = snprintf(game.status, sizeof(game.status),
                       "{\"env\":\"%s\",\"steps\":%.0f,\"episode\":%.0f,\"score\":%.6g,"
                       "\"return\":%.6g,\"last_return\":%.6g,\"agent\":\"%s\",\"keyboard\":%s,"
                       "\"argmax\":%s,\"agents\":%d,\"log\":{",
                       ENV_NAME, game.steps, (double)episodes, score, game.episode_return,
                       game.last_return, agents[game.agent], game.keyboard ? "true" : "false",
                       game.argmax ? "true" : "false", game.agents);
    for (int i = 0; i < out.count && len < (int)sizeof(game.status) - 64; i++) {
        float v = out.values[i];
        len += snprintf(game.status + len, sizeof(game.status) - len, "%s\"%s\":%.6g",
                        i ? "," : "", out.keys[i], isfinite(v) ? (double)v : 0.0);
    }
    snprintf(game.status + len, sizeof(game.status) - len, "}}");
    return game.status;
}
