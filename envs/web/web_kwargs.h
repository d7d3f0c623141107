// web_kwargs.h: what an env's binding.c needs from the runtime (Kwargs, kw_get, kw_fail,
// log_put), for the browser build. play.c includes this and marks vecenv.h as already included,
// so a binding compiles unchanged against one env on the page instead of the vector runtime.
#ifndef PUFFER_WEB_KWARGS_H
#define PUFFER_WEB_KWARGS_H

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "env_abi.h"

typedef struct Kwargs {
    int count;
    const char* const* keys;
    const double* values;
    unsigned char used[PUFFER_MAX_LOG_KEYS];
    int failed;
    char message[256];
} Kwargs;

static void kw_fail(Kwargs* kw, const char* fmt, ...) {
    if (kw == NULL || kw->failed) return;
    va_list args;
    va_start(args, fmt);
    vsnprintf(kw->message, sizeof(kw->message), fmt, args);
    va_end(args);
    kw->failed = 1;
}

static double kw_get(Kwargs* kw, const char* key, double default_value) {
    if (kw == NULL) return default_value;
    for (int i = 0; i < kw->count && i < PUFFER_MAX_LOG_KEYS; i++) {
        if (strcmp(kw->keys[i], key) == 0) {
            kw->used[i] = 1;
            return kw->values[i];
        }
    }
    return default_value;
}

static void log_put(PufferLogOut* out, const char* key, float value) {
    if (out->count >= PUFFER_MAX_LOG_KEYS) return;
    out->keys[out->count] = key;
    out->values[out->count] = value;
    out->count++;
}

#endif
