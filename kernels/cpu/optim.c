// optim.c: global-norm gradient clipping and the Muon optimizer, C reference (fp32).
//
// Muon (spec 6.5), per step over the flat gradient and flat fp32 master weights:
//   clip:      g = grad * min(max_grad_norm / (||grad||_2 + 1e-6), 1)
//   Nesterov:  M = mu M + g;  u = g + mu M
//   2-D tensors (R x C): X = u / max(||u||_F, 1e-7), then 5 Newton-Schulz iterations with
//     per-iteration (a, b, c); wide (R <= C): S = X X^T, X = a X + (b S + c S S) X;
//     tall: S = X^T X, X = a X + X (b S + c S S). Update = sqrt(max(1, R / C)) X.
//   1-D tensors: update = u.
//   W = W (1 - lr wd) - lr update
// Each iteration is three GEMMs in this order (the CUDA version runs the same sequence):
//   S = X X^T;  Bm = b S and Y = a X;  Bm += c S S;  Y += Bm X;  swap X, Y.
#include <string.h>

#include "common.h"

static const float NS_COEFS[5][3] = {
    {4.0848f, -6.8946f, 2.9270f}, {3.9505f, -6.3029f, 2.6377f}, {3.7418f, -5.5913f, 2.3037f},
    {2.8769f, -3.1427f, 1.2046f}, {2.8366f, -3.0525f, 1.2012f},
};

#define PK_NORM_CHUNKS 64

static double sum_squares(const float* g, int64_t n) {
    double part[PK_NORM_CHUNKS];
    #pragma omp parallel for schedule(static) if (n > 4 * PK_OMP_MIN_WORK)
    for (int c = 0; c < PK_NORM_CHUNKS; c++) {
        int64_t i0 = n * c / PK_NORM_CHUNKS, i1 = n * (c + 1) / PK_NORM_CHUNKS;
        double s = 0.0;
        for (int64_t i = i0; i < i1; i++) s += (double)g[i] * g[i];
        part[c] = s;
    }
    double s = 0.0;
    for (int c = 0; c < PK_NORM_CHUNKS; c++) s += part[c];
    return s;
}

float pk_grad_norm_cpu(const float* g, int64_t n) { return (float)sqrt(sum_squares(g, n)); }

float pk_clip_grad_norm_cpu(float* g, int64_t n, float max_norm) {
    float norm = pk_grad_norm_cpu(g, n);
    float scale = fminf(max_norm / (norm + 1e-6f), 1.0f);
    for (int64_t i = 0; i < n; i++) g[i] *= scale;
    return norm;
}

static int64_t tensor_numel(int32_t rows, int32_t cols) {
    return rows > 0 ? (int64_t)rows * cols : cols;
}

size_t pk_muon_workspace_floats_cpu(const int32_t* rows, const int32_t* cols, int num_tensors) {
    int64_t max_n = 0, max_m = 0;
    for (int i = 0; i < num_tensors; i++) {
        int64_t n = tensor_numel(rows[i], cols[i]);
        int64_t m = rows[i] > 0 ? (rows[i] < cols[i] ? rows[i] : cols[i]) : 0;
        if (n > max_n) max_n = n;
        if (m > max_m) max_m = m;
    }
    return (size_t)(2 * max_n + 2 * max_m * max_m);
}

// X (R x C) <- orthogonalized X; Y, S, Bm scratch. Returns the buffer holding the result.
static float* newton_schulz(float* X, float* Y, float* S, float* Bm, int R, int C) {
    int wide = R <= C;
    int m = wide ? R : C;
    int64_t n = (int64_t)R * C;
    for (int it = 0; it < 5; it++) {
        float a = NS_COEFS[it][0], b = NS_COEFS[it][1], c = NS_COEFS[it][2];
        if (wide) pk_gemm_cpu(0, 1, m, m, C, 1.0f, X, X, 0.0f, S);   // S = X X^T
        else pk_gemm_cpu(1, 0, m, m, R, 1.0f, X, X, 0.0f, S);        // S = X^T X
        for (int64_t i = 0; i < (int64_t)m * m; i++) Bm[i] = b * S[i];
        for (int64_t i = 0; i < n; i++) Y[i] = a * X[i];
        pk_gemm_cpu(0, 0, m, m, m, c, S, S, 1.0f, Bm);               // Bm += c S S
        if (wide) pk_gemm_cpu(0, 0, R, C, R, 1.0f, Bm, X, 1.0f, Y);  // Y += Bm X
        else pk_gemm_cpu(0, 0, R, C, C, 1.0f, X, Bm, 1.0f, Y);       // Y += X Bm
        float* t = X;
        X = Y;
        Y = t;
    }
    return X;
}

float pk_muon_cpu(float* master, const float* grad, float* momentum, const int64_t* offsets,
                  const int32_t* rows, const int32_t* cols, int num_tensors, const float* lr,
                  float mu, float max_grad_norm, float weight_decay, float* workspace) {
    int64_t span = 0;  // the norm covers grad[0, end of the last tensor): padding must be zero
    for (int i = 0; i < num_tensors; i++) {
        int64_t end = offsets[i] + tensor_numel(rows[i], cols[i]);
        if (end > span) span = end;
    }
    float norm = (float)sqrt(sum_squares(grad, span));
    float scale = max_grad_norm > 0.0f ? fminf(max_grad_norm / (norm + 1e-6f), 1.0f) : 1.0f;
    float step = *lr;
    float decay = 1.0f - step * weight_decay;

    size_t ws = pk_muon_workspace_floats_cpu(rows, cols, num_tensors);
    int64_t max_n = 0;
    for (int i = 0; i < num_tensors; i++) {
        int64_t n = tensor_numel(rows[i], cols[i]);
        if (n > max_n) max_n = n;
    }
    float* U = workspace;
    float* Y = U + max_n;
    float* S = Y + max_n;
    float* Bm = S + (ws - 2 * max_n) / 2;

    for (int i = 0; i < num_tensors; i++) {
        int64_t n = tensor_numel(rows[i], cols[i]);
        const float* G = grad + offsets[i];
        float* Mom = momentum + offsets[i];
        float* W = master + offsets[i];
        double fro = 0.0;
        for (int64_t e = 0; e < n; e++) {
            float g = G[e] * scale;
            float m = mu * Mom[e] + g;
            Mom[e] = m;
            U[e] = g + mu * m;
            fro += (double)U[e] * U[e];
        }
        if (rows[i] <= 0) {
            for (int64_t e = 0; e < n; e++) W[e] = W[e] * decay - step * U[e];
            continue;
        }
        int R = rows[i], C = cols[i];
        float inv = 1.0f / fmaxf((float)sqrt(fro), 1e-7f);
        for (int64_t e = 0; e < n; e++) U[e] *= inv;
        float* X = newton_schulz(U, Y, S, Bm, R, C);
        float s = sqrtf(fmaxf(1.0f, (float)R / (float)C));
        for (int64_t e = 0; e < n; e++) W[e] = W[e] * decay - step * s * X[e];
    }
    return norm;
}
