// demo.h: helpers shared by the standalone env demos (envs/<name>/<name>.c), not the libraries.
#ifndef PUFFER_DEMO_H
#define PUFFER_DEMO_H
#include <time.h>

// Monotonic wall clock in seconds, for the demos' steps-per-second printout.
static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + 1e-9 * t.tv_nsec;
}
#endif
