// linear.c: row-major GEMM and the bias-free linear layer, C reference (fp32, OpenMP).
//
//   forward   y(M,N)  = x(M,K) W(N,K)^T
//   backward  dW(N,K) = dy^T x        dx(M,K) = dy W
//
// One blocked GEMM serves all transpose cases: C is cut into 32-row tasks (OpenMP) and 4 x 16
// register tiles; B is read in 16-column x 256-deep panels, in place when its rows are contiguous
// (N and T cases of dx, dW), packed into a stack buffer otherwise (y = x W^T). Each register tile
// runs over its panel's depth with 8 independent FMA chains. The CUDA version calls cuBLAS.
// Measured on the 2-core dev machine (AMD EPYC, one thread, CPU time, AVX2 clone): 23-38 GFLOP/s
// at the breakout policy's shapes (4096 x 118 -> 64, 4096 x 64 -> 192, their backward), about
// twice the first plain-loop version and half of torch's oneDNN; a narrow N (the decoder) takes
// a dot-product path at ~12 GFLOP/s.
#include <stdlib.h>
#include <string.h>

#include "common.h"

// The loops below use GCC vector extensions (8 floats) so the compiler keeps the accumulator tile
// in registers; gemm_rows is compiled for AVX2 + FMA and for baseline x86-64 (PK_SIMD_CLONES).

typedef float v8 __attribute__((vector_size(32)));
typedef float v8u __attribute__((vector_size(32), aligned(4), may_alias));  // unaligned access

#define PK_JT 16   // columns of C per tile (two v8)
#define PK_IT 4    // rows of C per micro-kernel call
#define PK_KT 256  // depth of a packed B panel
#define PK_IB 32   // rows of C per parallel task

PK_INLINE v8 ld8(const float* p) { return *(const v8u*)p; }
PK_INLINE void st8(float* p, v8 v) { *(v8u*)p = v; }
PK_INLINE v8 splat(float x) { return (v8){x, x, x, x, x, x, x, x}; }

// A(i, k) = A[i * sai + k * sak]; B(k, j) = B[k * sbk + j * sbj]; C row-major (M, N).
typedef struct {
    const float* A;
    int64_t sai, sak;
    const float* B;
    int64_t sbk, sbj;
    float* C;
    int M, N, K;
    float alpha;
} Gemm;

// C[i0 .. i0 + rows, j0 .. j0 + jn) += alpha * A(rows, k0 .. k0 + kn) Bp, where Bp holds PK_JT
// contiguous columns per k (row stride ldb). rows <= PK_IT; missing rows repeat row 0 (discarded).
PK_INLINE void micro_kernel(const Gemm* g, int i0, int rows, int j0, int jn, int k0, int kn,
                            const float* Bp, int64_t ldb) {
    const int64_t sak = g->sak;
    const float* a0 = g->A + (int64_t)i0 * g->sai + (int64_t)k0 * sak;
    const float* a1 = rows > 1 ? a0 + g->sai : a0;
    const float* a2 = rows > 2 ? a0 + 2 * g->sai : a0;
    const float* a3 = rows > 3 ? a0 + 3 * g->sai : a0;
    v8 c00 = splat(0.0f), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00, c30 = c00,
       c31 = c00;
    for (int k = 0; k < kn; k++) {
        const float* b = Bp + k * ldb;
        v8 b0 = ld8(b), b1 = ld8(b + 8);
        v8 x0 = splat(a0[k * sak]), x1 = splat(a1[k * sak]);
        v8 x2 = splat(a2[k * sak]), x3 = splat(a3[k * sak]);
        c00 += x0 * b0; c01 += x0 * b1;
        c10 += x1 * b0; c11 += x1 * b1;
        c20 += x2 * b0; c21 += x2 * b1;
        c30 += x3 * b0; c31 += x3 * b1;
    }
    v8 acc[PK_IT][2] = {{c00, c01}, {c10, c11}, {c20, c21}, {c30, c31}};
    v8 al = splat(g->alpha);
    for (int r = 0; r < rows; r++) {
        float* crow = g->C + (int64_t)(i0 + r) * g->N + j0;
        if (jn == PK_JT) {
            st8(crow, ld8(crow) + al * acc[r][0]);
            st8(crow + 8, ld8(crow + 8) + al * acc[r][1]);
        } else {
            float t[PK_JT];
            st8(t, acc[r][0]);
            st8(t + 8, acc[r][1]);
            for (int j = 0; j < jn; j++) crow[j] += g->alpha * t[j];
        }
    }
}

// All of C's rows [i0, i1): for each PK_JT-column tile and PK_KT-deep panel, B's panel is used in
// place when its columns are contiguous, else packed (transposed B, or a ragged last tile).
PK_SIMD_CLONES
static void gemm_rows(const Gemm* g, int i0, int i1) {
    float pack[PK_KT * PK_JT];
    for (int j0 = 0; j0 < g->N; j0 += PK_JT) {
        int jn = g->N - j0 < PK_JT ? g->N - j0 : PK_JT;
        for (int k0 = 0; k0 < g->K; k0 += PK_KT) {
            int kn = g->K - k0 < PK_KT ? g->K - k0 : PK_KT;
            const float* Bp;
            int64_t ldb;
            if (g->sbj == 1 && jn == PK_JT) {
                Bp = g->B + (int64_t)k0 * g->sbk + j0;
                ldb = g->sbk;
            } else {
                for (int k = 0; k < kn; k++)
                    for (int j = 0; j < PK_JT; j++)
                        pack[k * PK_JT + j] =
                            j < jn ? g->B[(int64_t)(k0 + k) * g->sbk + (int64_t)(j0 + j) * g->sbj] : 0.0f;
                Bp = pack;
                ldb = PK_JT;
            }
            for (int i = i0; i < i1; i += PK_IT) {
                int rows = i1 - i < PK_IT ? i1 - i : PK_IT;
                micro_kernel(g, i, rows, j0, jn, k0, kn, Bp, ldb);
            }
        }
    }
}

// One row of C when N is small: N dot products over K (contiguous when A and B^T are rows).
PK_SIMD_CLONES
static void gemm_narrow_row(const Gemm* g, int i) {
    for (int j = 0; j < g->N; j++) {
        float acc = 0.0f;
        if (g->sak == 1 && g->sbk == 1) {
            const float* a = g->A + (int64_t)i * g->sai;
            const float* b = g->B + (int64_t)j * g->sbj;
            #pragma omp simd reduction(+ : acc)
            for (int k = 0; k < g->K; k++) acc += a[k] * b[k];
        } else {
            for (int k = 0; k < g->K; k++)
                acc += g->A[i * g->sai + k * g->sak] * g->B[k * g->sbk + j * g->sbj];
        }
        g->C[(int64_t)i * g->N + j] += g->alpha * acc;
    }
}

void pk_gemm_cpu(int trans_a, int trans_b, int M, int N, int K, float alpha, const float* A,
                 const float* B, float beta, float* C) {
    if (M <= 0 || N <= 0) return;
    int64_t work = (int64_t)M * N * (K > 0 ? K : 1);
    // C = beta C first (beta == 0 overwrites, so NaNs in C do not survive), then accumulate.
    #pragma omp parallel for schedule(static) if (work > PK_OMP_MIN_WORK)
    for (int i = 0; i < M; i++) {
        float* c = C + (int64_t)i * N;
        if (beta == 0.0f) memset(c, 0, (size_t)N * sizeof(float));
        else if (beta != 1.0f)
            for (int j = 0; j < N; j++) c[j] *= beta;
    }
    if (K <= 0 || alpha == 0.0f) return;
    Gemm g = {A, trans_a ? 1 : K, trans_a ? M : 1, B, trans_b ? 1 : N, trans_b ? K : 1,
              C, M, N, K, alpha};
    if (N < PK_JT / 2) {  // a few columns (the decoder): dot products, no padding to 16
        #pragma omp parallel for schedule(static) if (work > PK_OMP_MIN_WORK)
        for (int i = 0; i < M; i++) gemm_narrow_row(&g, i);
        return;
    }
    int blocks = (M + PK_IB - 1) / PK_IB;
    #pragma omp parallel for schedule(static) if (work > PK_OMP_MIN_WORK)
    for (int blk = 0; blk < blocks; blk++) {
        int i0 = blk * PK_IB;
        int i1 = i0 + PK_IB < M ? i0 + PK_IB : M;
        gemm_rows(&g, i0, i1);
    }
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
