// linear.cu: row-major GEMM and the bias-free linear layer on cuBLAS (GemmEx: fp32 or bf16
// storage, fp32 compute, no TF32). Same contract as cpu/linear.c.
//   forward   y(M,N)  = x(M,K) W(N,K)^T
//   backward  dW(N,K) = dy^T x      dx(M,K) = dy W (+ dx_beta dx: the MinGRU highway term)
// Napkin math (H100, bf16): a training forward of one 128 -> 384 layer on 8192 rows is 0.8 GFLOP,
// well under 10 us of tensor-core time; these GEMMs are small and launch-bound, which is why the
// trainer captures them in a graph.
#include "common.cuh"

extern "C" int pk_gemm_cuda(int trans_a, int trans_b, int M, int N, int K, float alpha,
                            const void* A, const void* B, float beta, void* C, int dtype,
                            void* stream) {
    return pk_rm_gemm(trans_a, trans_b, M, N, K, alpha, A, trans_a ? M : K, B, trans_b ? K : N,
                      beta, C, N, dtype, pk_stream(stream));
}

extern "C" int pk_linear_forward_cuda(void* y, const void* x, const void* w, int M, int K, int N,
                                      int dtype, void* stream) {
    return pk_rm_gemm(0, 1, M, N, K, 1.0f, x, K, w, K, 0.0f, y, N, dtype, pk_stream(stream));
}

extern "C" int pk_linear_backward_cuda(void* dx, void* dw, const void* dy, const void* x,
                                       const void* w, int M, int K, int N, float dx_beta,
                                       float dw_beta, int dtype, void* stream) {
    cudaStream_t s = pk_stream(stream);
    if (dw) PK_TRY(pk_rm_gemm(1, 0, N, K, M, 1.0f, dy, N, x, K, dw_beta, dw, K, dtype, s));
    if (dx) PK_TRY(pk_rm_gemm(0, 0, M, K, N, 1.0f, dy, N, w, K, dx_beta, dx, K, dtype, s));
    return 0;
}
