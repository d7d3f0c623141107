// linear.c: row-major GEMM and the bias-free linear layer, C reference (fp32, OpenMP).
//
//   forward   y(M,N)  = x(M,K) W(N,K)^T
//   backward  dW(N,K) = dy^T x        dx(M,K) = dy W
//
// Each transpose case gets the loop order that walks memory contiguously in the innermost loop:
//   NT (y = x W^T):  dot products of two contiguous rows, W tiled so a tile stays in cache.
//   NN (dx = dy W):  C row += a * B row (an axpy over contiguous rows).
//   TN (dW = dy^T x): each thread owns a block of C rows and streams A and B once.
// The CUDA version (cuda/linear.cu) calls cuBLAS.
#include <stdlib.h>
#include <string.h>

#include "common.h"

#define PK_TILE_N 64   // rows of W kept hot while a block of x rows runs over them (NT)
#define PK_TILE_C 32   // rows of C owned by one thread (TN)

static void scale_rows(float* C, int M, int N, float beta) {
    int64_t n = (int64_t)M * N;
    if (beta == 0.0f) {
        memset(C, 0, (size_t)n * sizeof(float));
    } else if (beta != 1.0f) {
        for (int64_t i = 0; i < n; i++) C[i] *= beta;
    }
}

// C(M,N) = alpha * A(M,K) B(N,K)^T + beta * C
static void gemm_nt(int M, int N, int K, float alpha, const float* A, const float* B, float beta,
                    float* C) {
    int64_t work = (int64_t)M * N * K;
    #pragma omp parallel for schedule(static) if (work > PK_OMP_MIN_WORK)
    for (int i0 = 0; i0 < M; i0 += 4) {
        int i1 = i0 + 4 < M ? i0 + 4 : M;
        for (int j0 = 0; j0 < N; j0 += PK_TILE_N) {
            int j1 = j0 + PK_TILE_N < N ? j0 + PK_TILE_N : N;
            for (int i = i0; i < i1; i++) {
                const float* a = A + (int64_t)i * K;
                for (int j = j0; j < j1; j++) {
                    const float* b = B + (int64_t)j * K;
                    float acc = 0.0f;
                    #pragma omp simd reduction(+ : acc)
                    for (int k = 0; k < K; k++) acc += a[k] * b[k];
                    float* c = &C[(int64_t)i * N + j];
                    *c = alpha * acc + (beta == 0.0f ? 0.0f : beta * *c);
                }
            }
        }
    }
}

// C(M,N) = alpha * A(M,K) B(K,N) + beta * C
static void gemm_nn(int M, int N, int K, float alpha, const float* A, const float* B, float beta,
                    float* C) {
    int64_t work = (int64_t)M * N * K;
    #pragma omp parallel for schedule(static) if (work > PK_OMP_MIN_WORK)
    for (int i = 0; i < M; i++) {
        float* c = C + (int64_t)i * N;
        if (beta == 0.0f) {
            for (int j = 0; j < N; j++) c[j] = 0.0f;
        } else if (beta != 1.0f) {
            for (int j = 0; j < N; j++) c[j] *= beta;
        }
        const float* a = A + (int64_t)i * K;
        for (int k = 0; k < K; k++) {
            float s = alpha * a[k];
            const float* b = B + (int64_t)k * N;
            #pragma omp simd
            for (int j = 0; j < N; j++) c[j] += s * b[j];
        }
    }
}

// C(M,N) = alpha * A(K,M)^T B(K,N) + beta * C
static void gemm_tn(int M, int N, int K, float alpha, const float* A, const float* B, float beta,
                    float* C) {
    int64_t work = (int64_t)M * N * K;
    #pragma omp parallel for schedule(static) if (work > PK_OMP_MIN_WORK)
    for (int i0 = 0; i0 < M; i0 += PK_TILE_C) {
        int i1 = i0 + PK_TILE_C < M ? i0 + PK_TILE_C : M;
        for (int i = i0; i < i1; i++) {
            float* c = C + (int64_t)i * N;
            if (beta == 0.0f) {
                for (int j = 0; j < N; j++) c[j] = 0.0f;
            } else if (beta != 1.0f) {
                for (int j = 0; j < N; j++) c[j] *= beta;
            }
        }
        for (int k = 0; k < K; k++) {
            const float* b = B + (int64_t)k * N;
            const float* a = A + (int64_t)k * M;
            for (int i = i0; i < i1; i++) {
                float s = alpha * a[i];
                float* c = C + (int64_t)i * N;
                #pragma omp simd
                for (int j = 0; j < N; j++) c[j] += s * b[j];
            }
        }
    }
}

// C(M,N) = alpha * A(K,M)^T B(N,K)^T + beta * C: rare (nothing in the trainer uses it), plain loops.
static void gemm_tt(int M, int N, int K, float alpha, const float* A, const float* B, float beta,
                    float* C) {
    #pragma omp parallel for schedule(static) if ((int64_t)M * N * K > PK_OMP_MIN_WORK)
    for (int i = 0; i < M; i++) {
        for (int j = 0; j < N; j++) {
            float acc = 0.0f;
            for (int k = 0; k < K; k++) acc += A[(int64_t)k * M + i] * B[(int64_t)j * K + k];
            float* c = &C[(int64_t)i * N + j];
            *c = alpha * acc + (beta == 0.0f ? 0.0f : beta * *c);
        }
    }
}

void pk_gemm_cpu(int trans_a, int trans_b, int M, int N, int K, float alpha, const float* A,
                 const float* B, float beta, float* C) {
    if (M <= 0 || N <= 0) return;
    if (K <= 0) {
        scale_rows(C, M, N, beta);
        return;
    }
    if (!trans_a && trans_b) gemm_nt(M, N, K, alpha, A, B, beta, C);
    else if (!trans_a && !trans_b) gemm_nn(M, N, K, alpha, A, B, beta, C);
    else if (trans_a && !trans_b) gemm_tn(M, N, K, alpha, A, B, beta, C);
    else gemm_tt(M, N, K, alpha, A, B, beta, C);
}

void pk_linear_forward_cpu(float* y, const float* x, const float* w, int M, int K, int N) {
    pk_gemm_cpu(0, 1, M, N, K, 1.0f, x, w, 0.0f, y);
}

void pk_linear_backward_cpu(float* dx, float* dw, const float* dy, const float* x, const float* w,
                            int M, int K, int N, float dx_beta, float dw_beta) {
    if (dw) pk_gemm_cpu(1, 0, N, K, M, 1.0f, dy, x, dw_beta, dw);
    if (dx) pk_gemm_cpu(0, 0, M, K, N, 1.0f, dy, w, dx_beta, dx);
}

int pk_abi_version(void) { return PK_ABI_VERSION; }
