// env_abi.h: the C ABI every env library (libocean_<name>.so) exports.
// The trainer and the Python module load an env library with dlopen and call only these.
// The implementation lives in vecenv.h, compiled inside each env library so that the
// OpenMP stepping loop inlines the env's c_step.
#ifndef PUFFER_ENV_ABI_H
#define PUFFER_ENV_ABI_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define PUFFER_ENV_ABI_VERSION 2
#define PUFFER_MAX_HEADS 32
#define PUFFER_MAX_LOG_KEYS 64
#define PUFFER_ERR_LEN 512

enum { PUFFER_OBS_U8 = 0, PUFFER_OBS_F32 = 1 };
// Keys seen by the last puffer_vec_render: F12 = screenshot, ctrl+F12 = start/stop a GIF.
enum { PUFFER_CAPTURE_NONE = 0, PUFFER_CAPTURE_SCREENSHOT = 1, PUFFER_CAPTURE_GIF = 2 };

typedef struct {
    int abi_version;
    const char* name;
    int obs_size;           // per agent
    int obs_dtype;          // PUFFER_OBS_U8 or PUFFER_OBS_F32
    int obs_elem_size;      // bytes
    int num_atns;           // action heads
    const int* act_sizes;   // num_atns entries; 1 marks a continuous dimension
    int render;             // 1 if this library variant links raylib
} PufferEnvInfo;

// Memory for the shared buffers (pinned host memory on GPU, aligned malloc by default).
typedef struct {
    void* (*alloc)(size_t bytes, void* ctx);  // must return zeroed, 64-byte aligned memory
    void (*free)(void* ptr, void* ctx);
    void* ctx;
} PufferAllocator;

typedef struct {
    int total_agents;
    int num_buffers;
    int num_threads;
    uint64_t seed;
    int num_kwargs;
    const char* const* kwarg_keys;   // [env] section keys
    const double* kwarg_values;
    const PufferAllocator* allocator;  // NULL: aligned calloc
} PufferVecSpec;

// Public view of a vector env. Per-agent rows are contiguous; env e owns agent rows
// [env_agent_start[e], env_agent_start[e] + env_num_agents[e]).
typedef struct {
    int total_agents;
    int num_envs;
    int num_buffers;
    int num_threads;
    void* observations;   // (total_agents, obs_size) of obs_dtype
    float* actions;       // (total_agents, num_atns)
    float* rewards;       // (total_agents)
    float* terminals;     // (total_agents)
    float* truncations;   // (total_agents)
    const int* env_agent_start;
    const int* env_num_agents;
    const int* buffer_env_start;    // num_buffers + 1 entries
    const int* buffer_agent_start;  // num_buffers + 1 entries
    int device;           // 0: envs step on host threads; 1: on the GPU (puffer_vec_to_device)
} PufferVec;

// A device vec's buffers in GPU memory (same shapes as PufferVec's, which become host mirrors
// refreshed by puffer_vec_reset / puffer_vec_step; the trainer uses only these).
typedef struct {
    void* observations;
    float* actions;
    float* rewards;
    float* terminals;
    float* truncations;
} PufferDeviceBuffers;

typedef struct {
    int count;
    const char* keys[PUFFER_MAX_LOG_KEYS];
    float values[PUFFER_MAX_LOG_KEYS];
} PufferLogOut;

// All functions that can fail return 0 on success and write a message into err.
const PufferEnvInfo* puffer_env_info(void);
int puffer_env_agents(const PufferVecSpec* spec, char* err, size_t err_len);
PufferVec* puffer_vec_create(const PufferVecSpec* spec, char* err, size_t err_len);
void puffer_vec_reset(PufferVec* vec, uint64_t seed);
void puffer_vec_step(PufferVec* vec);                    // all buffers
void puffer_vec_step_buffer(PufferVec* vec, int buffer);  // one buffer, its share of threads
int puffer_vec_check_actions(const PufferVec* vec, char* err, size_t err_len);
void puffer_vec_log(PufferVec* vec, PufferLogOut* out, int clear);
int puffer_vec_render(PufferVec* vec, int env_index, char* err, size_t err_len);
int puffer_vec_save_frame(PufferVec* vec, const char* png_path, char* err, size_t err_len);
int puffer_vec_window_closed(PufferVec* vec);
int puffer_vec_capture_key(PufferVec* vec);
void puffer_vec_close(PufferVec* vec);

// Only in the CUDA variant of an env library (libocean_<name>_cuda.so; env_loader.c leaves them
// NULL elsewhere). puffer_vec_to_device moves a freshly created vec's envs and buffers onto GPU
// gpu_id; afterwards reset/step/log/render act on the device state. puffer_vec_step_device
// launches one buffer's env step on a cudaStream_t and returns a cudaError_t (0 = launched; it can
// be captured in a CUDA graph). puffer_vec_device_error reports a failure of a void call above.
int puffer_vec_to_device(PufferVec* vec, int gpu_id, char* err, size_t err_len);
void puffer_vec_device_buffers(const PufferVec* vec, PufferDeviceBuffers* out);
int puffer_vec_step_device(PufferVec* vec, int buffer, void* stream);
int puffer_vec_device_error(PufferVec* vec, char* err, size_t err_len);
// Seconds per step of all envs, stepped on the device alone (graphs of 64 steps, `graphs` replays).
double puffer_vec_bench_device(PufferVec* vec, int graphs);

#ifdef __cplusplus
}
#endif
#endif
