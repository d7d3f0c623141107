// policy_step.cu: one rollout step of the whole policy in one kernel (see PkPolicyStep in
// kernels.h). It is the composition ingest -> encoder -> L x (linear, MinGRU step) -> decoder ->
// sample -> store that the trainer otherwise runs as ~12 launches plus 5 copies per buffer and
// step, with the same math and the same rounding to the storage type after every layer, so it
// agrees with that chain up to the order of the fp32 sums inside a dot product.
//
// Why: a rollout step of one env buffer is ~0.1 GFLOP of work spread over a dozen launches that
// each wait on the previous one; with 8 buffers in flight the GPU front end, not the math, set the
// pace (breakout: ~60% of the rollout waiting on the GPU). One kernel per step removes that.
//
// Layout: one block per TA agents (TA chosen by the launcher so that the grid roughly fills half
// the SMs). Each matrix is staged in shared memory row by row with an odd-word row stride, so the
// lanes of a warp reading 32 consecutive rows j at one k hit 32 banks while the input element
// x[a][k] is a broadcast. (Reading the weights from global memory instead, with no staging, ran
// 1.3x slower in the trainer on an H100, breakout 13.7M vs 18.2M SPS in separate runs; so did
// more than 8 or fewer than 2 agents per block.) A work item is (agent, 32 consecutive outputs); its dot product runs over k with
// four partial sums. Activations stay in shared memory in fp32, rounded to the storage type where
// the unfused chain stores them. The env buffers may be device memory or host memory mapped into
// the device (zero-copy): each is read or written exactly once.
//
// Napkin math (breakout: OBS 118, H 64, L 2, 512 agents per buffer, bf16): weights 32 K elements
// (64 KB) staged per block from L2; 512 x 32 K = 17 M FMAs per step, a few us on an H100.
#include "common.cuh"

#define PS_THREADS 256
#define PS_WARPS (PS_THREADS / 32)

__device__ __forceinline__ float round_to(float v, const float*) { return v; }
__device__ __forceinline__ float round_to(float v, const bf16*) {
    return __bfloat162float(__float2bfloat16_rn(v));
}

// Floats of activations in front of the staged matrix, rounded up to 16 bytes.
__host__ __device__ static inline int act_floats(int OBS, int H, int G, int TA) {
    return (TA * (OBS + H + G) + TA + 3) / 4 * 4;
}

// Padded row length (elements) of a matrix with K columns in shared memory: an odd number of
// 4-byte words, so the lanes of a warp reading one column (32 consecutive rows) hit 32 banks.
__host__ __device__ static inline int padded_cols(int K, int elem_bytes) {
    int words = (K * elem_bytes + 3) / 4;
    if (words % 2 == 0) words++;
    return words * 4 / elem_bytes;
}

// Ws (N, Kp) <- W (N, K): a warp per row, ROW_ILP rows per round so that several L2 round trips
// are in flight per thread (the copy is latency-bound otherwise). 4-byte words when rows allow.
#define ROW_ILP 4
#define OBS_ILP 4
template <typename S>
__device__ void stage_rows(S* Ws, const S* __restrict__ W, int N, int K, int Kp) {
    int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    bool words = (K * sizeof(S)) % 4 == 0;
    int KW = words ? K * (int)sizeof(S) / 4 : K;          // units per row
    int KpW = words ? Kp * (int)sizeof(S) / 4 : Kp;
    for (int j0 = warp; j0 < N; j0 += PS_WARPS * ROW_ILP) {
        for (int k = lane; k < KW; k += 32) {
            if (words) {
                uint32_t v[ROW_ILP];
                #pragma unroll
                for (int u = 0; u < ROW_ILP; u++) {
                    int j = j0 + u * PS_WARPS;
                    if (j < N) v[u] = ((const uint32_t*)W)[(int64_t)j * KW + k];
                }
                #pragma unroll
                for (int u = 0; u < ROW_ILP; u++) {
                    int j = j0 + u * PS_WARPS;
                    if (j < N) ((uint32_t*)Ws)[j * KpW + k] = v[u];
                }
            } else {
                S v[ROW_ILP];
                #pragma unroll
                for (int u = 0; u < ROW_ILP; u++) {
                    int j = j0 + u * PS_WARPS;
                    if (j < N) v[u] = W[(int64_t)j * K + k];
                }
                #pragma unroll
                for (int u = 0; u < ROW_ILP; u++) {
                    int j = j0 + u * PS_WARPS;
                    if (j < N) Ws[j * Kp + k] = v[u];
                }
            }
        }
    }
}

// out (rows, N; row stride ldo) = in (rows, K) W^T with W staged as Ws (N, Kp); results rounded
// to S. A work item is (agent, 32 consecutive outputs j): lane j reads row j of Ws (conflict-free
// by the padding), x[k] is a broadcast; four partial sums.
template <typename S>
__device__ void matmul(float* out, int ldo, const float* in, const S* Ws, int rows, int K, int N,
                       int Kp) {
    int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    int chunks = (N + 31) / 32;
    for (int item = warp; item < rows * chunks; item += PS_WARPS) {
        int a = item / chunks, j = (item - a * chunks) * 32 + lane;
        if (j >= N) continue;
        const float* x = in + a * K;
        const S* w = Ws + j * Kp;
        float s0 = 0.0f, s1 = 0.0f, s2 = 0.0f, s3 = 0.0f;
        int k = 0;
        for (; k + 3 < K; k += 4) {
            s0 = fmaf(x[k], ldf(w + k), s0);
            s1 = fmaf(x[k + 1], ldf(w + k + 1), s1);
            s2 = fmaf(x[k + 2], ldf(w + k + 2), s2);
            s3 = fmaf(x[k + 3], ldf(w + k + 3), s3);
        }
        for (; k < K; k++) s0 = fmaf(x[k], ldf(w + k), s0);
        out[a * ldo + j] = round_to((s0 + s1) + (s2 + s3), (const S*)nullptr);
    }
}

// One agent's actions from its decoder row (same operations, in the same order, as sample.cu).
template <typename S>
__device__ void sample_row(const PkPolicyStep& p, const float* l, const S* logstd, int row,
                           uint64_t step) {
    int agent = p.agent_offset + row;
    int64_t slot = (int64_t)row * p.T + p.t;
    float logp = 0.0f;
    if (p.continuous) {
        float* act = (float*)p.actions + slot * p.NH;
        for (int d = 0; d < p.NH; d++) {
            float ls = pk_clampf(pk_sanitize(ldf(logstd + d)), PK_LOGSTD_MIN, PK_LOGSTD_MAX);
            uint32_t r[4];
            pk_philox_draw(p.seed, (uint32_t)d, (uint32_t)agent, step, r);
            float eps = pk_normal(r[0], r[1]);
            float a = pk_sanitize(l[d]) + expf(ls) * eps;
            act[d] = a;
            p.env_actions[(int64_t)row * p.NH + d] = a;
            logp += -0.5f * eps * eps - PK_LOG_SQRT_2PI - ls;
        }
    } else {
        int32_t* act = (int32_t*)p.actions + slot * p.NH;
        int off = 0;
        for (int h = 0; h < p.NH; h++) {
            int A = p.act_sizes[h];
            float mx = -FLT_MAX;
            for (int j = 0; j < A; j++) mx = fmaxf(mx, pk_sanitize(l[off + j]));
            float sum = 0.0f;
            for (int j = 0; j < A; j++) sum += expf(pk_sanitize(l[off + j]) - mx);
            uint32_t r[4];
            pk_philox_draw(p.seed, (uint32_t)h, (uint32_t)agent, step, r);
            float target = __fmul_rn(pk_uniform(r[0]), sum);
            int a = A - 1;
            float cum = 0.0f;
            for (int j = 0; j < A; j++) {
                cum += expf(pk_sanitize(l[off + j]) - mx);
                if (cum >= target) {
                    a = j;
                    break;
                }
            }
            logp += (pk_sanitize(l[off + a]) - mx) - logf(sum);
            act[h] = a;
            p.env_actions[(int64_t)row * p.NH + h] = (float)a;
            off += A;
        }
    }
    p.logprob[slot] = logp;
    p.values[slot] = l[p.ld - 1];
}

template <typename S, typename O>
__global__ void __launch_bounds__(PS_THREADS) policy_step_kernel(PkPolicyStep p, int TA) {
    extern __shared__ float4 smem_raw[];
    const int OBS = p.OBS, H = p.H, G = 3 * H > p.ld ? 3 * H : p.ld;
    float* xin = (float*)smem_raw;        // (TA, OBS) the observations
    float* x = xin + TA * OBS;            // (TA, H) the layer input / output
    float* kzp = x + TA * H;              // (TA, G) a layer's [k | z | p], then the decoder row
    float* reset = kzp + TA * G;          // (TA)
    S* Ws = (S*)(xin + act_floats(OBS, H, G, TA));   // the staged matrix

    int first = blockIdx.x * TA;
    int rows = min(TA, p.n - first);
    uint64_t step = *p.counter + (uint64_t)p.draw_offset;

    // ingest: env rows -> storage slot t and the encoder input (rounded as the storage rounds).
    // The per-agent reads first, so that they are in flight with the observation reads (one
    // PCIe round trip instead of two when the env buffers are host memory).
    if (threadIdx.x < rows) {
        int row = first + threadIdx.x;
        float done = fmaxf(p.env_terminals[row], p.env_truncations[row]);
        float reward = p.env_rewards[row];
        reset[threadIdx.x] = done;
        p.dones[(int64_t)row * p.T + p.t] = done;
        p.rewards[(int64_t)row * p.T + p.t] = reward;
    }
    const O* env_obs = (const O*)p.env_obs + (int64_t)first * OBS;
    S* obs_store = (S*)p.obs;
    const int RO = rows * OBS;
    auto store_obs = [&](int i, float v) {
        int r = i / OBS, k = i - r * OBS;
        float x0 = round_to(v, (const S*)nullptr);
        xin[i] = x0;
        stf(obs_store + ((int64_t)(first + r) * p.T + p.t) * OBS + k, x0);
    };
    // The first OBS_ILP observation reads per thread go out before the encoder's weights are
    // staged (L2), so the two latencies overlap; the rest, if any, follow OBS_ILP at a time.
    float v[OBS_ILP];
    #pragma unroll
    for (int u = 0; u < OBS_ILP; u++) {
        int i = threadIdx.x + u * PS_THREADS;
        if (i < RO) v[u] = (float)env_obs[i];
    }
    int Kp = padded_cols(OBS, (int)sizeof(S));
    stage_rows(Ws, (const S*)p.enc, H, OBS, Kp);
    for (int base = threadIdx.x;; ) {
        #pragma unroll
        for (int u = 0; u < OBS_ILP; u++)
            if (base + u * PS_THREADS < RO) store_obs(base + u * PS_THREADS, v[u]);
        base += PS_THREADS * OBS_ILP;
        if (base >= RO) break;
        #pragma unroll
        for (int u = 0; u < OBS_ILP; u++)
            if (base + u * PS_THREADS < RO) v[u] = (float)env_obs[base + u * PS_THREADS];
    }
    __syncthreads();
    matmul(x, H, xin, Ws, rows, OBS, H, Kp);

    for (int l = 0; l < p.L; l++) {
        Kp = padded_cols(H, (int)sizeof(S));
        __syncthreads();   // Ws and x free again
        stage_rows(Ws, (const S*)p.layers[l], 3 * H, H, Kp);
        __syncthreads();
        matmul(kzp, G, x, Ws, rows, H, 3 * H, Kp);
        __syncthreads();
        float* state = p.state + (int64_t)l * p.state_stride + (int64_t)first * H;
        for (int i = threadIdx.x; i < rows * H; i += PS_THREADS) {
            int r = i / H, j = i - r * H;
            const float* g = kzp + r * G;
            float k = g[j], z = g[H + j], q = g[2 * H + j];
            float xv = x[r * H + j];
            float hp = reset[r] != 0.0f ? 0.0f : state[i];
            float u = pk_sigmoid(z);
            float h = hp + u * (pk_gk(k) - hp);
            float s = pk_sigmoid(q);
            state[i] = h;
            x[r * H + j] = round_to(xv + s * (h - xv), (const S*)nullptr);
        }
    }

    Kp = padded_cols(H, (int)sizeof(S));
    __syncthreads();
    stage_rows(Ws, (const S*)p.dec, p.ld, H, Kp);
    __syncthreads();
    matmul(kzp, G, x, Ws, rows, H, p.ld, Kp);
    __syncthreads();
    if (threadIdx.x < rows)
        sample_row(p, kzp + threadIdx.x * G, (const S*)p.logstd, first + threadIdx.x, step);
}

// Shared memory of a block of TA agents.
static size_t smem_bytes(const PkPolicyStep* p, int TA, int elem) {
    int G = 3 * p->H > p->ld ? 3 * p->H : p->ld;
    size_t acts = (size_t)act_floats(p->OBS, p->H, G, TA);
    size_t enc = (size_t)p->H * padded_cols(p->OBS, elem);
    size_t layer = (size_t)3 * p->H * padded_cols(p->H, elem);
    size_t dec = (size_t)p->ld * padded_cols(p->H, elem);
    size_t w = enc > layer ? enc : layer;
    if (dec > w) w = dec;
    return acts * 4 + w * elem;
}

static int max_smem(void) {
    int dev = 0, bytes = 0;
    if (cudaGetDevice(&dev) != cudaSuccess ||
        cudaDeviceGetAttribute(&bytes, cudaDevAttrMaxSharedMemoryPerBlockOptin, dev) !=
            cudaSuccess) {
        cudaGetLastError();
        return 48 * 1024;
    }
    return bytes;
}

static int forced_ta = 0;   // pk_policy_step_set_agents_cuda (benchmarks)

extern "C" void pk_policy_step_set_agents_cuda(int agents_per_block) {  // 0: automatic
    forced_ta = agents_per_block;
}

// Agents per block: at least 2 (1 measured 1.2x slower in the trainer), and more only while the grid
// would exceed two blocks per SM. Breakout's 512-agent buffers: 2 (16 us per step alone on an H100;
// 8 agents per block: 26 us).
static int pick_ta(const PkPolicyStep* p, int elem, int smem_limit) {
    if (forced_ta > 0) {
        int ta = forced_ta > 32 ? 32 : forced_ta;
        while (ta > 1 && smem_bytes(p, ta, elem) > (size_t)smem_limit) ta /= 2;
        return ta;
    }
    int dev = 0, sms = 132;
    if (cudaGetDevice(&dev) != cudaSuccess ||
        cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, dev) != cudaSuccess) {
        cudaGetLastError();
        sms = 132;
    }
    int ta = 2;
    while (ta < 32 && (p->n + ta - 1) / ta > 2 * sms) ta *= 2;
    while (ta > 1 && smem_bytes(p, ta, elem) > (size_t)smem_limit) ta /= 2;
    return ta;
}

extern "C" int pk_policy_step_fits_cuda(const PkPolicyStep* p, int dtype) {
    int elem = dtype == PK_BF16 ? 2 : 4;
    return p->L >= 0 && p->L <= PK_MAX_LAYERS && smem_bytes(p, 1, elem) <= (size_t)max_smem();
}

extern "C" int pk_policy_step_cuda(const PkPolicyStep* p, int dtype, void* stream) {
    PK_REQUIRE(p->n >= 0 && p->OBS > 0 && p->H > 0 && p->L >= 0 && p->L <= PK_MAX_LAYERS);
    PK_REQUIRE(p->NH > 0 && p->NH <= PK_MAX_HEADS && p->t >= 0 && p->t < p->T);
    if (p->continuous) {
        PK_REQUIRE(p->ld == p->NH + 1 && p->logstd != nullptr);
    } else {
        int D = 0;
        for (int h = 0; h < p->NH; h++) {
            PK_REQUIRE(p->act_sizes[h] > 0);
            D += p->act_sizes[h];
        }
        PK_REQUIRE(p->ld == D + 1);
    }
    int elem = dtype == PK_BF16 ? 2 : 4;
    int limit = max_smem();
    int ta = pick_ta(p, elem, limit);
    size_t smem = smem_bytes(p, ta, elem);
    if (smem > (size_t)limit)
        return pk_fail(__FILE__, __LINE__, "policy too large for one block's shared memory", -1);
    cudaStream_t s = pk_stream(stream);
    if (p->n > 0) {
        unsigned grid = (unsigned)((p->n + ta - 1) / ta);
#define PS_LAUNCH(O)                                                                        \
    do {                                                                                    \
        auto kernel = policy_step_kernel<S, O>;                                             \
        PK_CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, \
                                           (int)smem));                                     \
        kernel<<<grid, PS_THREADS, smem, s>>>(*p, ta);                                      \
    } while (0)
        PK_DISPATCH(dtype, S, {
            if (p->obs_u8) PS_LAUNCH(uint8_t);
            else PS_LAUNCH(float);
        });
#undef PS_LAUNCH
        PK_LAUNCH_CHECK();
    }
    if (p->counter_add) {
        pk_add_counter_kernel<<<1, 1, 0, s>>>(p->counter, p->counter_add);
        PK_LAUNCH_CHECK();
    }
    return 0;
}
