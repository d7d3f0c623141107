// common.cuh: what every CUDA kernel file shares (not part of the ABI): error checks, the
// fp32/bf16 load/store overloads, dtype dispatch, warp/block reductions, the row-major GEMM.
#pragma once

#include <cublas_v2.h>
#include <cuda_bf16.h>
#include <cuda_runtime.h>
#include <float.h>
#include <stdint.h>

#include "../kernels.h"
#include "../rng.h"

typedef __nv_bfloat16 bf16;

// Records "file:line: what" as this thread's last error (pk_cuda_last_error), prints it to stderr
// and returns code, so a launcher can `return pk_fail(...)`.
int pk_fail(const char* file, int line, const char* what, int code);

// Every CUDA runtime call, cuBLAS call and kernel launch goes through one of these. Return codes:
// a cudaError_t, 1000 + a cublasStatus_t, or -1 for invalid arguments.
#define PK_CUDA_CHECK(call)                                                               \
    do {                                                                                  \
        cudaError_t pk_e_ = (call);                                                       \
        if (pk_e_ != cudaSuccess)                                                         \
            return pk_fail(__FILE__, __LINE__, cudaGetErrorString(pk_e_), (int)pk_e_);    \
    } while (0)
#define PK_CUBLAS_CHECK(call)                                                             \
    do {                                                                                  \
        cublasStatus_t pk_s_ = (call);                                                    \
        if (pk_s_ != CUBLAS_STATUS_SUCCESS)                                               \
            return pk_fail(__FILE__, __LINE__, cublasGetStatusString(pk_s_),              \
                           1000 + (int)pk_s_);                                            \
    } while (0)
#define PK_LAUNCH_CHECK() PK_CUDA_CHECK(cudaGetLastError())
#define PK_REQUIRE(cond)                                                                  \
    do {                                                                                  \
        if (!(cond)) return pk_fail(__FILE__, __LINE__, "invalid argument: " #cond, -1);  \
    } while (0)
// Propagates the code of a helper that already recorded its error.
#define PK_TRY(call)                  \
    do {                              \
        int pk_r_ = (call);           \
        if (pk_r_ != 0) return pk_r_; \
    } while (0)

// Runs BODY with T = float or bf16 according to a PK_F32 / PK_BF16 flag.
#define PK_DISPATCH(dtype, T, ...)                                  \
    do {                                                            \
        if ((dtype) == PK_BF16) {                                   \
            typedef bf16 T;                                         \
            __VA_ARGS__                                             \
        } else if ((dtype) == PK_F32) {                             \
            typedef float T;                                        \
            __VA_ARGS__                                             \
        } else {                                                    \
            return pk_fail(__FILE__, __LINE__, "unknown dtype", -1); \
        }                                                           \
    } while (0)

static inline cudaStream_t pk_stream(void* s) { return (cudaStream_t)s; }

// ---- element access: fp32 arithmetic on fp32 or bf16 storage --------------------------------
__device__ __forceinline__ float ldf(const float* p) { return *p; }
__device__ __forceinline__ float ldf(const bf16* p) { return __bfloat162float(*p); }
__device__ __forceinline__ void stf(float* p, float v) { *p = v; }
__device__ __forceinline__ void stf(bf16* p, float v) { *p = __float2bfloat16_rn(v); }

// The same scalar helpers as the C reference (cpu/common.h), same float operations.
__device__ __forceinline__ float pk_sigmoid(float x) { return 1.0f / (1.0f + expf(-x)); }
__device__ __forceinline__ float pk_gk(float k) { return k >= 0.0f ? k + 0.5f : pk_sigmoid(k); }
__device__ __forceinline__ float pk_dgk(float k) {
    if (k >= 0.0f) return 1.0f;
    float s = pk_sigmoid(k);
    return s * (1.0f - s);
}
__device__ __forceinline__ float pk_sanitize(float x) {
    if (x != x) return 0.0f;
    if (x > FLT_MAX) return FLT_MAX;
    if (x < -FLT_MAX) return -FLT_MAX;
    return x;
}
__device__ __forceinline__ float pk_clampf(float x, float lo, float hi) {
    return x < lo ? lo : (x > hi ? hi : x);
}

#define PK_LOGSTD_MIN -20.0f
#define PK_LOGSTD_MAX 2.0f
#define PK_LOG_SQRT_2PI 0.91893853320467274178f

// ---- deterministic reductions (fixed shapes, fixed order) -----------------------------------
template <typename V>
__device__ __forceinline__ V warp_sum(V v) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

// Sum over a block of NT threads (NT a multiple of 32, <= 1024). Every thread gets the result.
template <int NT, typename V>
__device__ V block_sum(V v) {
    __shared__ V warp_part[NT / 32];
    __shared__ V result;
    v = warp_sum(v);
    if ((threadIdx.x & 31) == 0) warp_part[threadIdx.x >> 5] = v;
    __syncthreads();
    if (threadIdx.x < 32) {
        V w = threadIdx.x < NT / 32 ? warp_part[threadIdx.x] : (V)0;
        w = warp_sum(w);
        if (threadIdx.x == 0) result = w;
    }
    __syncthreads();
    V r = result;
    __syncthreads();  // the shared slots may be reused by the next call
    return r;
}

// Sum of n (<= NT * 16) partials, same order in every block.
template <int NT, typename V>
__device__ V sum_partials(const V* part, int n) {
    V v = (V)0;
    for (int i = threadIdx.x; i < n; i += NT) v += part[i];
    return block_sum<NT>(v);
}

// Number of blocks (and partial sums) of the flat reductions: fixed so every consumer knows it.
#define PK_RED_BLOCKS 512
#define PK_RED_THREADS 256

__global__ void pk_add_counter_kernel(uint64_t* counter, uint64_t amount);

// ---- GEMM -------------------------------------------------------------------------------------
// Row-major C(M,N) = alpha op(A) op(B) + beta C on this thread's cuBLAS handle, storage dtype,
// fp32 compute. lda/ldb/ldc are the row lengths of the stored matrices.
int pk_rm_gemm(int trans_a, int trans_b, int M, int N, int K, float alpha, const void* A, int lda,
               const void* B, int ldb, float beta, void* C, int ldc, int dtype, cudaStream_t s);
