// env_loader.h: opens an env library (libocean_<name>.so) and resolves its C ABI (env_abi.h),
// so a C main, core/ or the Python module can drive any env without knowing it at build time.
#ifndef PUFFER_ENV_LOADER_H
#define PUFFER_ENV_LOADER_H

#include "env_abi.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    void* handle;
    const PufferEnvInfo* (*info)(void);
    int (*agents)(const PufferVecSpec*, char*, size_t);
    PufferVec* (*create)(const PufferVecSpec*, char*, size_t);
    void (*reset)(PufferVec*, uint64_t);
    void (*step)(PufferVec*);
    void (*step_buffer)(PufferVec*, int);
    int (*check_actions)(const PufferVec*, char*, size_t);
    void (*log)(PufferVec*, PufferLogOut*, int);
    int (*render)(PufferVec*, int, char*, size_t);
    int (*save_frame)(PufferVec*, const char*, char*, size_t);
    int (*window_closed)(PufferVec*);
    int (*capture_key)(PufferVec*);
    void (*close)(PufferVec*);
    // CUDA variant only (NULL otherwise): see env_abi.h.
    int (*to_device)(PufferVec*, int, char*, size_t);
    void (*device_buffers)(const PufferVec*, PufferDeviceBuffers*);
    int (*step_device)(PufferVec*, int, void*);
    int (*device_error)(PufferVec*, char*, size_t);
    double (*bench_device)(PufferVec*, int);
} PufferEnvLib;

// Loads the library at path and checks its ABI version. Returns 0, or 1 with a message in err.
// The library stays loaded for the life of the process: env code may have registered raylib or
// OpenMP state that outlives a vector env.
int puffer_env_lib_open(PufferEnvLib* lib, const char* path, char* err, size_t err_len);

#ifdef __cplusplus
}
#endif
#endif
