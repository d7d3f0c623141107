// bench_mingru.cu: checker + micro-benchmark of the MinGRU training scan (forward and backward),
// llm.c style: CUDA vs the C reference on random inputs (outputs poisoned with NaN first), then
// timings with achieved bandwidth next to the H100's (~3.0 TB/s measured device copy).
//
// Build: cmake -S kernels -B build-k -G Ninja && cmake --build build-k   (target bench_mingru)
// Run:   ./build-k/bench_mingru [B T H]     (default 4096 64 128, then a 128 x 64 minibatch)
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmath>
#include <vector>

#include "bench.cuh"

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static float randn(void) {  // xorshift + Box-Muller, good enough for test data
    auto next = [] {
        rng_state ^= rng_state << 13;
        rng_state ^= rng_state >> 7;
        rng_state ^= rng_state << 17;
        return (double)((rng_state >> 11) + 1) / 9007199254740993.0;
    };
    double u1 = next(), u2 = next();
    return (float)(sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
}

static std::vector<float> randv(size_t n, float scale) {
    std::vector<float> v(n);
    for (auto& x : v) x = randn() * scale;
    return v;
}

// Upload fp32 host data as dtype; returns the values the GPU sees (bf16-rounded) for the reference.
static void* upload(std::vector<float>& host, int dtype) {
    size_t n = host.size();
    void* d = nullptr;
    if (dtype == PK_BF16) {
        std::vector<uint16_t> b(n);
        pk_f32_to_bf16_cpu(b.data(), host.data(), (int64_t)n);
        pk_bf16_to_f32_cpu(host.data(), b.data(), (int64_t)n);
        CHECK(cudaMalloc(&d, n * 2));
        CHECK(cudaMemcpy(d, b.data(), n * 2, cudaMemcpyHostToDevice));
    } else {
        CHECK(cudaMalloc(&d, n * 4));
        CHECK(cudaMemcpy(d, host.data(), n * 4, cudaMemcpyHostToDevice));
    }
    return d;
}

static std::vector<float> download(const void* d, size_t n, int dtype) {
    std::vector<float> out(n);
    if (dtype == PK_BF16) {
        std::vector<uint16_t> b(n);
        CHECK(cudaMemcpy(b.data(), d, n * 2, cudaMemcpyDeviceToHost));
        pk_bf16_to_f32_cpu(out.data(), b.data(), (int64_t)n);
    } else {
        CHECK(cudaMemcpy(out.data(), d, n * 4, cudaMemcpyDeviceToHost));
    }
    return out;
}

static int compare(const char* name, const std::vector<float>& got, const std::vector<float>& ref,
                   double tol) {
    double num = 0, den = 0;
    size_t bad = 0;
    for (size_t i = 0; i < ref.size(); i++) {
        if (!std::isfinite(got[i])) bad++;
        double d = (double)got[i] - ref[i];
        num += d * d;
        den += (double)ref[i] * ref[i];
    }
    double err = sqrt(num / (den > 0 ? den : 1));
    int ok = bad == 0 && err < tol;
    printf("  %-8s rel err %.2e (tol %.0e) %s%s\n", name, err, tol, ok ? "ok" : "FAIL",
           bad ? " (non-finite elements)" : "");
    return ok;
}

// Checks and times one shape for each scan version: chunks = 1 (v1), 4, 8, 16 (v2), 0 (auto).
static int run(int B, int T, int H, int dtype) {
    const char* dn = dtype == PK_BF16 ? "bf16" : "fp32";
    size_t es = dtype == PK_BF16 ? 2 : 4;
    size_t n = (size_t)B * T * H;
    printf("B=%d T=%d H=%d %s\n", B, T, H, dn);
    auto kzp = randv(n * 3, 1.5f), x = randv(n, 1.0f), dy = randv(n, 1.0f);
    auto h0 = randv((size_t)B * H, 1.0f), dhl = randv((size_t)B * H, 1.0f);
    std::vector<float> reset((size_t)B * T);
    for (auto& r : reset) r = randn() > 2.0f ? 1.0f : 0.0f;  // ~2% episode ends
    void* d_kzp = upload(kzp, dtype);
    void* d_x = upload(x, dtype);
    void* d_dy = upload(dy, dtype);
    float* d_h0 = (float*)upload(h0, PK_F32);
    float* d_dhl = (float*)upload(dhl, PK_F32);
    float* d_reset = (float*)upload(reset, PK_F32);
    void *d_y, *d_hs, *d_dkzp, *d_dx;
    CHECK(cudaMalloc(&d_y, n * es));
    CHECK(cudaMalloc(&d_hs, n * 4));
    CHECK(cudaMalloc(&d_dkzp, 3 * n * es));
    CHECK(cudaMalloc(&d_dx, n * es));

    std::vector<float> y(n), hs(n), dkzp(3 * n), dx(n);
    pk_mingru_scan_forward_cpu(y.data(), hs.data(), kzp.data(), x.data(), h0.data(), reset.data(),
                               B, T, H);
    pk_mingru_scan_backward_cpu(dkzp.data(), dx.data(), dy.data(), dhl.data(), kzp.data(),
                                x.data(), hs.data(), h0.data(), reset.data(), B, T, H);
    double tol = dtype == PK_BF16 ? 1e-2 : 1e-5;
    // Bytes each pass must move at least once (see the napkin math in mingru.cu).
    double fwd_bytes = (double)n * (4 * es + 4 + es) + (double)B * T * 4;
    double bwd_bytes = (double)n * (5 * es + 4 + 4 * es) + (double)B * T * 4;
    int ok = 1;
    const int versions[] = {1, 4, 8, 16, 0};
    for (int chunks : versions) {
        pk_mingru_set_chunks_cuda(chunks);
        CHECK(cudaMemset(d_y, 0xFF, n * es));  // all-ones bits: NaN in fp32 and bf16
        CHECK(cudaMemset(d_hs, 0xFF, n * 4));
        CHECK(cudaMemset(d_dkzp, 0xFF, 3 * n * es));
        CHECK(cudaMemset(d_dx, 0xFF, n * es));
        auto fwd_fn = [&] {
            return pk_mingru_scan_forward_cuda(d_y, (float*)d_hs, d_kzp, d_x, d_h0, d_reset, B, T,
                                               H, dtype, nullptr);
        };
        auto bwd_fn = [&] {
            return pk_mingru_scan_backward_cuda(d_dkzp, d_dx, d_dy, d_dhl, d_kzp, d_x,
                                                (float*)d_hs, d_h0, d_reset, B, T, H, dtype,
                                                nullptr);
        };
        PK(fwd_fn());
        PK(bwd_fn());
        CHECK(cudaDeviceSynchronize());
        printf(" chunks=%d%s\n", chunks, chunks == 0 ? " (auto)" : chunks == 1 ? " (v1)" : "");
        ok &= compare("y", download(d_y, n, dtype), y, tol);
        ok &= compare("hs", download(d_hs, n, PK_F32), hs, 1e-5);
        ok &= compare("dkzp", download(d_dkzp, 3 * n, dtype), dkzp, tol);
        ok &= compare("dx", download(d_dx, n, dtype), dx, tol);
        char label[96];
        snprintf(label, sizeof(label), "mingru_scan_forward B=%d T=%d H=%d %s chunks=%d", B, T, H,
                 dn, chunks);
        double fwd = bench_time_us(label, fwd_fn, nullptr, 0, nullptr) / 1000.0;  // ms
        snprintf(label, sizeof(label), "mingru_scan_backward B=%d T=%d H=%d %s chunks=%d", B, T,
                 H, dn, chunks);
        double bwd = bench_time_us(label, bwd_fn, nullptr, 0, nullptr) / 1000.0;
        printf("  forward  %8.4f ms  %7.1f GB/s\n", fwd, fwd_bytes / fwd / 1e6);
        printf("  backward %8.4f ms  %7.1f GB/s   (H100 copy ~3000 GB/s)\n", bwd,
               bwd_bytes / bwd / 1e6);
    }
    pk_mingru_set_chunks_cuda(0);
    cudaFree(d_kzp); cudaFree(d_x); cudaFree(d_dy); cudaFree(d_h0); cudaFree(d_dhl);
    cudaFree(d_reset); cudaFree(d_y); cudaFree(d_hs); cudaFree(d_dkzp); cudaFree(d_dx);
    return ok;
}

int main(int argc, char** argv) {
    int count = 0;
    pk_cuda_device_count(&count);
    if (count == 0) {
        printf("no GPU\n");
        return 0;
    }
    int ok = 1;
    if (argc == 4) {
        int B = atoi(argv[1]), T = atoi(argv[2]), H = atoi(argv[3]);
        ok &= run(B, T, H, PK_BF16);
        ok &= run(B, T, H, PK_F32);
    } else {
        ok &= run(4096, 64, 128, PK_BF16);  // the GPU test shape
        ok &= run(4096, 64, 128, PK_F32);
        ok &= run(128, 64, 128, PK_BF16);   // one training minibatch (8192 rows), default policy
        ok &= run(128, 64, 64, PK_BF16);    // breakout's minibatch (hidden 64)
        ok &= run(37, 50, 96, PK_F32);      // ragged: H not a multiple of 32, T of the chunks
    }
    printf(ok ? "all ok\n" : "FAILED\n");
    return ok ? 0 : 1;
}
