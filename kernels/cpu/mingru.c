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
// Speed: the loops over h vectorize (8 wide in the AVX2 clone) because the sigmoids use pk_exp
// (cpu/common.h) instead of libm's expf; one thread on the dev machine scans ~470 M elements/s
// forward and ~150 M/s backward (a breakout minibatch layer, 128 x 64 x 64: ~1.1 ms + ~3.5 ms),
// ten times the libm version.
#include "common.h"

// h_t and y_t for one element; shared by the step and the scan so they agree bit for bit.
PK_INLINE float mingru_cell(float k, float z, float p, float x, float hp, float* y) {
    float u = pk_sigmoid(z);
    float h = hp + u * (pk_gk(k) - hp);
    float s = pk_sigmoid(p);
    *y = x + s * (h - x);
    return h;
}

// One agent's row (H units): the inner loops run over h, contiguous, and vectorize.
PK_SIMD_CLONES
static void step_row(float* y, float* state, const float* kzp, const float* x, int cut, int H) {
    const float *k = kzp, *z = kzp + H, *p = kzp + 2 * H;
    #pragma omp simd
    for (int j = 0; j < H; j++) {
        float hp = cut ? 0.0f : state[j];
        state[j] = mingru_cell(k[j], z[j], p[j], x[j], hp, &y[j]);
    }
}

void pk_mingru_step_cpu(float* y, float* state, const float* kzp, const float* x,
                        const float* reset, int B, int H) {
    #pragma omp parallel for schedule(static) if ((int64_t)B * H > PK_OMP_MIN_WORK)
    for (int b = 0; b < B; b++) {
        int64_t o = (int64_t)b * H;
        step_row(y + o, state + o, kzp + 3 * o, x + o, reset != NULL && reset[b] != 0.0f, H);
    }
}

// One sequence b: all T steps of its H units.
PK_SIMD_CLONES
static void scan_forward_seq(float* y, float* hs, const float* kzp, const float* x,
                             const float* h0, const float* reset, int T, int H) {
    for (int t = 0; t < T; t++) {
        const float* k = kzp + (int64_t)t * 3 * H;
        const float* z = k + H;
        const float* p = k + 2 * H;
        const float* xt = x + (int64_t)t * H;
        float* yt = y + (int64_t)t * H;
        float* ht = hs + (int64_t)t * H;
        int cut = reset != NULL && reset[t] != 0.0f;
        const float* prev = t > 0 ? ht - H : h0;
        if (cut || prev == NULL) {
            #pragma omp simd
            for (int j = 0; j < H; j++) ht[j] = mingru_cell(k[j], z[j], p[j], xt[j], 0.0f, &yt[j]);
        } else {
            #pragma omp simd
            for (int j = 0; j < H; j++)
                ht[j] = mingru_cell(k[j], z[j], p[j], xt[j], prev[j], &yt[j]);
        }
    }
}

void pk_mingru_scan_forward_cpu(float* y, float* hs, const float* kzp, const float* x,
                                const float* h0, const float* reset, int B, int T, int H) {
    #pragma omp parallel for schedule(static) if ((int64_t)B * T * H > PK_OMP_MIN_WORK)
    for (int b = 0; b < B; b++) {
        int64_t o = (int64_t)b * T * H;
        scan_forward_seq(y + o, hs + o, kzp + 3 * o, x + o, h0 ? h0 + (int64_t)b * H : NULL,
                         reset ? reset + (int64_t)b * T : NULL, T, H);
    }
}

// One sequence b, backwards over t. dh (H) carries d loss / d h_t from the later steps.
PK_SIMD_CLONES
static void scan_backward_seq(float* dkzp, float* dx, const float* dy, float* dh,
                              const float* zeros, const float* kzp, const float* x,
                              const float* hs, const float* h0, const float* reset, int T,
                              int H) {
    for (int t = T - 1; t >= 0; t--) {
        int64_t r = (int64_t)t * H;
        const float* k = kzp + 3 * r;
        const float* z = k + H;
        const float* p = k + 2 * H;
        float* dk = dkzp + 3 * r;
        float* dz = dk + H;
        float* dp = dk + 2 * H;
        int cut = reset != NULL && reset[t] != 0.0f;
        const float* prev = cut ? NULL : (t > 0 ? hs + r - H : h0);
        if (prev == NULL) prev = zeros;
        #pragma omp simd
        for (int j = 0; j < H; j++) {
            float hp = prev[j];
            float s = pk_sigmoid(p[j]);
            float g = dy[r + j];
            float d = dh[j] + g * s;
            float u = pk_sigmoid(z[j]);
            dx[r + j] = g * (1.0f - s);
            dp[j] = g * (hs[r + j] - x[r + j]) * s * (1.0f - s);
            dk[j] = d * u * pk_dgk(k[j]);
            dz[j] = d * (pk_gk(k[j]) - hp) * u * (1.0f - u);
            float carry = d * (1.0f - u);
            dh[j] = cut ? 0.0f : carry;
        }
    }
}

void pk_mingru_scan_backward_cpu(float* dkzp, float* dx, const float* dy, const float* dh_last,
                                 const float* kzp, const float* x, const float* hs,
                                 const float* h0, const float* reset, int B, int T, int H) {
    #pragma omp parallel for schedule(static) if ((int64_t)B * T * H > PK_OMP_MIN_WORK)
    for (int b = 0; b < B; b++) {
        int64_t o = (int64_t)b * T * H;
        float dh[H], zeros[H];  // carried gradient of this sequence's state; a zero state
        for (int j = 0; j < H; j++) {
            dh[j] = dh_last ? dh_last[(int64_t)b * H + j] : 0.0f;
            zeros[j] = 0.0f;
        }
        scan_backward_seq(dkzp + 3 * o, dx + o, dy + o, dh, zeros, kzp + 3 * o, x + o, hs + o,
                          h0 ? h0 + (int64_t)b * H : NULL, reset ? reset + (int64_t)b * T : NULL,
                          T, H);
    }
}
