// bench.cuh: what the kernel benchmarks (bench_kernels.cu, bench_mingru.cu) share: checks that stop
// the program at the first failure, and the timer.
//
// Timer: a few warm-up calls (cuBLAS heuristics, lazy module loading), an estimate of one call,
// then BENCH_REPS timed batches of k calls between two cudaEvents, k chosen so a batch lasts about
// BENCH_BATCH_US. With use_graph the k calls are captured into one CUDA graph and the graph is
// replayed (what the trainer does: no CPU launch gaps between kernels); otherwise they are
// launched eagerly, which adds the CPU launch cost (a few us) to kernels shorter than that.
// Everything runs inside an NVTX range named `label`, so Nsight Systems
// (nsys profile -t cuda,nvtx ...) shows which launches belong to which measurement.
#pragma once

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include <algorithm>
#include <vector>

#include <cuda_runtime.h>
#include <nvtx3/nvToolsExt.h>

#include "../kernels.h"

// A CUDA runtime call, or a kernels.h launcher (non-zero: its message is pk_cuda_last_error()).
#define CHECK(call)                                                                       \
    do {                                                                                  \
        cudaError_t e_ = (call);                                                          \
        if (e_ != cudaSuccess) {                                                          \
            fprintf(stderr, "%s:%d: %s\n", __FILE__, __LINE__, cudaGetErrorString(e_));   \
            exit(1);                                                                      \
        }                                                                                 \
    } while (0)
#define PK(call)                                                                          \
    do {                                                                                  \
        if ((call) != 0) {                                                                \
            fprintf(stderr, "%s:%d: %s\n", __FILE__, __LINE__, pk_cuda_last_error());     \
            exit(1);                                                                      \
        }                                                                                 \
    } while (0)

#define BENCH_WARMUP 3
#define BENCH_REPS 25
#define BENCH_BATCH_US 1000.0
#define BENCH_MAX_BATCH 200

// k calls of fn captured on stream s into an executable graph; NULL when a launcher refuses the
// capture (the caller then launches eagerly). fn: a callable returning 0 or a kernels.h code.
template <typename F>
static cudaGraphExec_t bench_capture(F& fn, cudaStream_t s, int k, const char* label) {
    cudaGraph_t graph = nullptr;
    cudaGraphExec_t exec = nullptr;
    CHECK(cudaStreamBeginCapture(s, cudaStreamCaptureModeThreadLocal));
    int rc = 0;
    for (int i = 0; i < k && rc == 0; i++) rc = fn();
    cudaError_t e = cudaStreamEndCapture(s, &graph);
    if (rc == 0 && e == cudaSuccess) e = cudaGraphInstantiate(&exec, graph, 0);
    if (graph != nullptr) CHECK(cudaGraphDestroy(graph));
    if (rc != 0 || e != cudaSuccess) {
        (void)cudaGetLastError();  // clear the capture error before going on eagerly
        fprintf(stderr, "note: %s: graph capture failed (%s); timed eagerly\n", label,
                rc != 0 ? pk_cuda_last_error() : cudaGetErrorString(e));
        return nullptr;
    }
    return exec;
}

// Median microseconds per call of fn on stream s (see the top of the file). *graphed (may be
// NULL) says whether the timed calls came from a graph.
template <typename F>
static double bench_time_us(const char* label, F fn, cudaStream_t s, int use_graph,
                            int* graphed) {
    if (getenv("BENCH_TRACE")) fprintf(stderr, "bench: %s\n", label);   // which call failed
    nvtxRangePushA(label);
    cudaEvent_t start, stop;
    CHECK(cudaEventCreate(&start));
    CHECK(cudaEventCreate(&stop));
    for (int i = 0; i < BENCH_WARMUP; i++) PK(fn());
    const int probe = 5;
    float ms = 0.0f;
    CHECK(cudaEventRecord(start, s));
    for (int i = 0; i < probe; i++) PK(fn());
    CHECK(cudaEventRecord(stop, s));
    CHECK(cudaEventSynchronize(stop));
    CHECK(cudaEventElapsedTime(&ms, start, stop));
    double one_us = std::max(1000.0 * ms / probe, 0.5);
    int k = (int)std::min(std::max(ceil(BENCH_BATCH_US / one_us), 1.0), (double)BENCH_MAX_BATCH);

    cudaGraphExec_t exec = use_graph ? bench_capture(fn, s, k, label) : nullptr;
    auto batch = [&] {
        if (exec != nullptr) CHECK(cudaGraphLaunch(exec, s));
        else
            for (int i = 0; i < k; i++) PK(fn());
    };
    batch();  // the graph's first launch uploads it
    std::vector<double> us(BENCH_REPS);
    for (int r = 0; r < BENCH_REPS; r++) {
        CHECK(cudaEventRecord(start, s));
        batch();
        CHECK(cudaEventRecord(stop, s));
        CHECK(cudaEventSynchronize(stop));
        CHECK(cudaEventElapsedTime(&ms, start, stop));
        us[r] = 1000.0 * ms / k;
    }
    std::sort(us.begin(), us.end());
    if (graphed != nullptr) *graphed = exec != nullptr;
    if (exec != nullptr) CHECK(cudaGraphExecDestroy(exec));
    CHECK(cudaEventDestroy(start));
    CHECK(cudaEventDestroy(stop));
    nvtxRangePop();
    return us[BENCH_REPS / 2];
}
