// mingru.c: MinGRU with highway residual and per-episode state reset, C reference (fp32).
//
// Per layer, kzp = x W^T gives three H-wide blocks per row: k ("hidden"), z ("gate"), p ("proj").
//   u = sigmoid(z)         g(k) = k + 0.5 if k >= 0 else sigmoid(k)   (always > 0)
//   h_t = (1 - u) * h_{t-1} + u * g(k)       with h_{t-1} := 0 where reset[b, t] != 0
//   y_t = s * h_t + (1 - s) * x_t,  s = sigmoid(p)
//
// Training: the reference (spec 5.3) evaluates this recurrence in log space (log h_t as a
// logcumsumexp, Heinsen-style) because that form is associative. Here, as there, one thread owns
// one (b, h) and walks t in order, so the associativity buys nothing; we run the recurrence
// h_t = a_t h_{t-1} + b_t (a = 1 - u in (0,1), b = u g > 0) directly. It is the same function
// (tests/test_kernels_cpu.py checks it against the log-space form), it never forms exp(A_t + s_t)
// from two large cancelling terms, and it needs no log/exp per step. A reset is just a_t := 0.
//
// Backward, from the top (t = T-1) down, carrying dh (gradient of h_t from later steps):
//   dh += dy s;  ds = dy (h - x);  dp = ds s (1 - s);  dx_highway = dy (1 - s)
//   h = hp + u (g - hp):  dz = dh (g - hp) u (1 - u);  dk = dh u g'(k);  dhp = dh (1 - u)
//   carry dh = dhp, or 0 across a reset.
// The forward stores every h_t in fp32 (B*T*H floats: 4 MB per layer for a 8192 x 128 minibatch),
// so the backward reloads h_{t-1} instead of recomputing chunks from checkpoints.
#include "common.h"

// h_t and y_t for one element; shared by the step and the scan so they agree bit for bit.
static inline float mingru_cell(float k, float z, float p, float x, float hp, float* y) {
    float u = pk_sigmoid(z);
    float h = hp + u * (pk_gk(k) - hp);
    float s = pk_sigmoid(p);
    *y = x + s * (h - x);
    return h;
}

void pk_mingru_step_cpu(float* y, float* state, const float* kzp, const float* x,
                        const float* reset, int B, int H) {
    #pragma omp parallel for schedule(static) if ((int64_t)B * H > PK_OMP_MIN_WORK)
    for (int b = 0; b < B; b++) {
        const float* k = kzp + (int64_t)b * 3 * H;
        const float* z = k + H;
        const float* p = k + 2 * H;
        int cut = reset != NULL && reset[b] != 0.0f;
        for (int j = 0; j < H; j++) {
            int64_t i = (int64_t)b * H + j;
            float hp = cut ? 0.0f : state[i];
            state[i] = mingru_cell(k[j], z[j], p[j], x[i], hp, &y[i]);
        }
    }
}

void pk_mingru_scan_forward_cpu(float* y, float* hs, const float* kzp, const float* x,
                                const float* h0, const float* reset, int B, int T, int H) {
    #pragma omp parallel for schedule(static) if ((int64_t)B * T * H > PK_OMP_MIN_WORK)
    for (int b = 0; b < B; b++) {
        for (int t = 0; t < T; t++) {
            int64_t row = (int64_t)b * T + t;
            const float* k = kzp + row * 3 * H;
            const float* z = k + H;
            const float* p = k + 2 * H;
            int cut = reset != NULL && reset[row] != 0.0f;
            const float* prev = t > 0 ? hs + (row - 1) * H : (h0 ? h0 + (int64_t)b * H : NULL);
            for (int j = 0; j < H; j++) {
                float hp = (cut || prev == NULL) ? 0.0f : prev[j];
                hs[row * H + j] = mingru_cell(k[j], z[j], p[j], x[row * H + j], hp, &y[row * H + j]);
            }
        }
    }
}

#define PK_SCAN_CHUNK 256  // hidden units whose carried dh live in one stack array

void pk_mingru_scan_backward_cpu(float* dkzp, float* dx, const float* dy, const float* dh_last,
                                 const float* kzp, const float* x, const float* hs,
                                 const float* h0, const float* reset, int B, int T, int H) {
    #pragma omp parallel for schedule(static) if ((int64_t)B * T * H > PK_OMP_MIN_WORK)
    for (int b = 0; b < B; b++) {
        for (int j0 = 0; j0 < H; j0 += PK_SCAN_CHUNK) {
            int n = H - j0 < PK_SCAN_CHUNK ? H - j0 : PK_SCAN_CHUNK;
            float dh[PK_SCAN_CHUNK];
            for (int j = 0; j < n; j++) dh[j] = dh_last ? dh_last[(int64_t)b * H + j0 + j] : 0.0f;
            for (int t = T - 1; t >= 0; t--) {
                int64_t row = (int64_t)b * T + t;
                const float* k = kzp + row * 3 * H + j0;
                const float* z = k + H;
                const float* p = k + 2 * H;
                float* dk = dkzp + row * 3 * H + j0;
                float* dz = dk + H;
                float* dp = dk + 2 * H;
                int cut = reset != NULL && reset[row] != 0.0f;
                const float* prev = t > 0 ? hs + (row - 1) * H + j0
                                          : (h0 ? h0 + (int64_t)b * H + j0 : NULL);
                for (int j = 0; j < n; j++) {
                    int64_t i = row * H + j0 + j;
                    float hp = (cut || prev == NULL) ? 0.0f : prev[j];
                    float s = pk_sigmoid(p[j]);
                    float g = dy[i];
                    float d = dh[j] + g * s;
                    float u = pk_sigmoid(z[j]);
                    dx[i] = g * (1.0f - s);
                    dp[j] = g * (hs[i] - x[i]) * s * (1.0f - s);
                    dk[j] = d * u * pk_dgk(k[j]);
                    dz[j] = d * (pk_gk(k[j]) - hp) * u * (1.0f - u);
                    dh[j] = cut ? 0.0f : d * (1.0f - u);
                }
            }
        }
    }
}
