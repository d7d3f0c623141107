// common.cu: error reporting, device query, the per-thread cuBLAS handle and the row-major GEMM
// that linear.cu and optim.cu share.
//
// cuBLAS is column-major. A row-major matrix X (r x c) read as column-major is X^T (c x r), so the
// row-major product C = op(A) op(B) is computed as the column-major C^T = op(B)^T op(A)^T: swap
// the operands, keep each one's transpose flag, swap M and N.
#include <stdio.h>
#include <string.h>

#include "common.cuh"

static thread_local char pk_error_msg[512] = "";

int pk_fail(const char* file, int line, const char* what, int code) {
    const char* base = strrchr(file, '/');
    snprintf(pk_error_msg, sizeof(pk_error_msg), "%s:%d: %s (code %d)", base ? base + 1 : file,
             line, what, code);
    fprintf(stderr, "puffer_kernels_cuda: %s\n", pk_error_msg);
    return code == 0 ? -1 : code;
}

extern "C" const char* pk_cuda_last_error(void) { return pk_error_msg; }

extern "C" int pk_cuda_device_count(int* count) {
    *count = 0;
    int n = 0;
    cudaError_t e = cudaGetDeviceCount(&n);
    if (e != cudaSuccess) {
        cudaGetLastError();  // no driver / no device: not an error, just no GPU
        return 0;
    }
    *count = n;
    return 0;
}

__global__ void pk_add_counter_kernel(uint64_t* counter, uint64_t amount) { *counter += amount; }

// ---- cuBLAS handle: one per thread (rollout threads each drive a stream), made on first use ----
#define PK_CUBLAS_WORKSPACE (32u << 20)

// No destructor: at process exit the CUDA context may be torn down before thread-locals are, so
// release explicitly with pk_cuda_thread_release() from a thread that is done with the GPU.
struct CublasState {
    cublasHandle_t handle;
    void* workspace;
    int device;
};

static thread_local CublasState pk_cublas = {nullptr, nullptr, -1};

static int get_handle(cublasHandle_t* out) {
    int device = 0;
    PK_CUDA_CHECK(cudaGetDevice(&device));
    if (pk_cublas.handle == nullptr || pk_cublas.device != device) {
        if (pk_cublas.handle) {
            cublasDestroy(pk_cublas.handle);
            cudaFree(pk_cublas.workspace);
            pk_cublas.handle = nullptr;
            pk_cublas.workspace = nullptr;
        }
        PK_CUBLAS_CHECK(cublasCreate(&pk_cublas.handle));
        PK_CUDA_CHECK(cudaMalloc(&pk_cublas.workspace, PK_CUBLAS_WORKSPACE));
        PK_CUBLAS_CHECK(cublasSetWorkspace(pk_cublas.handle, pk_cublas.workspace,
                                           PK_CUBLAS_WORKSPACE));
        pk_cublas.device = device;
    }
    *out = pk_cublas.handle;
    return 0;
}

extern "C" int pk_cuda_thread_init(void) {
    cublasHandle_t h = nullptr;
    return get_handle(&h);
}

extern "C" int pk_cuda_thread_release(void) {
    if (pk_cublas.handle) {
        PK_CUBLAS_CHECK(cublasDestroy(pk_cublas.handle));
        PK_CUDA_CHECK(cudaFree(pk_cublas.workspace));
    }
    pk_cublas.handle = nullptr;
    pk_cublas.workspace = nullptr;
    pk_cublas.device = -1;
    return 0;
}

int pk_rm_gemm(int trans_a, int trans_b, int M, int N, int K, float alpha, const void* A, int lda,
               const void* B, int ldb, float beta, void* C, int ldc, int dtype, cudaStream_t s) {
    PK_REQUIRE(dtype == PK_F32 || dtype == PK_BF16);
    PK_REQUIRE(M >= 0 && N >= 0 && K >= 0);
    if (M == 0 || N == 0) return 0;
    cublasHandle_t h = nullptr;
    PK_TRY(get_handle(&h));
    PK_CUBLAS_CHECK(cublasSetStream(h, s));
    cudaDataType_t t = dtype == PK_BF16 ? CUDA_R_16BF : CUDA_R_32F;
    PK_CUBLAS_CHECK(cublasGemmEx(h, trans_b ? CUBLAS_OP_T : CUBLAS_OP_N,
                                 trans_a ? CUBLAS_OP_T : CUBLAS_OP_N, N, M, K, &alpha, B, t, ldb,
                                 A, t, lda, &beta, C, t, ldc, CUBLAS_COMPUTE_32F,
                                 CUBLAS_GEMM_DEFAULT));
    return 0;
}
