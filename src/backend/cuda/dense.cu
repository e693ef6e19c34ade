// bf16 weight x activation products for steps of a few tokens (decode), on
// tensor cores: cuBLAS's choices for N = 1..16 leave much of the memory
// bandwidth unused, and these products are most of a decode step's bytes.
//
// Weight rows are the M dimension of mma.m16n8k16, tokens the N dimension (one
// or two n8 tiles). A block is 8 warps over the same 32 rows, each warp a
// strided share of K (split-K: many loads in flight even for 32-row outputs
// such as the router), reduced through shared memory, so each output has one
// writer and results do not depend on timing.
#include "backend/cuda/cuda_common.cuh"

#include <algorithm>
#include <array>
#include <atomic>

#include "backend/cuda/cuda_check.h"
#include "backend/cuda/cuda_kernels.h"
#include "backend/cuda/launch.cuh"
#include "core/env.h"

namespace gptoss::cuda {

namespace {

// k per warp iteration: four 16-byte loads per row and thread, so that a
// warp's whole share of K takes two or three round trips to memory.
constexpr int kU = 4;
constexpr int kChunk = 32 * kU;

// MT: 16-row tiles per block (1 doubles the blocks of a small product, e.g.
// o_proj's 2880 rows, so that every SM has work); NT: 8-token tiles.
template <int MT, int NT, int kWarps>
__global__ void __launch_bounds__(kWarps * 32) dense_mma_kernel(const uint16_t* x, int T, int K, const uint16_t* W,
                                                               int N, float* y, bool accumulate) {
  __shared__ float red[kWarps][MT * NT * 4][32];
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, g = lane >> 2, t = lane & 3;
  const int row0 = blockIdx.x * 16 * MT;
  const uint4* wrow[MT][2];
  bool row_ok[MT][2];
#pragma unroll
  for (int mt = 0; mt < MT; ++mt)
#pragma unroll
    for (int rr = 0; rr < 2; ++rr) {
      const int r = row0 + mt * 16 + rr * 8 + g;
      row_ok[mt][rr] = r < N;
      wrow[mt][rr] = reinterpret_cast<const uint4*>(W + size_t(min(r, N - 1)) * K) + t;
    }
  // This warp's first chunk of weights starts on its way while the previous
  // kernel finishes.
  if (warp * kChunk < K) {
#pragma unroll
    for (int u = 0; u < kU; ++u)
#pragma unroll
      for (int mt = 0; mt < MT; ++mt)
#pragma unroll
        for (int rr = 0; rr < 2; ++rr)
          if (warp * kChunk + 32 * u < K) prefetch_l2(wrow[mt][rr] + warp * kChunk / 8 + 4 * u);
  }
  pdl_enter(Release::kAtEntry);
  const uint4* xrow[NT];
#pragma unroll
  for (int nt = 0; nt < NT; ++nt) {
    const int tok = nt * 8 + g;
    xrow[nt] = tok < T ? reinterpret_cast<const uint4*>(x + size_t(tok) * K) + t : nullptr;
  }
  float acc[MT][NT][4] = {};
  for (int kc = warp * kChunk; kc < K; kc += kWarps * kChunk) {
    const int k8 = kc / 8;  // in uint4 units
    uint4 w[MT][2][kU], xv[NT][kU];
#pragma unroll
    for (int u = 0; u < kU; ++u) {
      const bool in_k = kc + 32 * u < K;  // K is a multiple of 64, not always of kChunk
#pragma unroll
      for (int mt = 0; mt < MT; ++mt)
#pragma unroll
        for (int rr = 0; rr < 2; ++rr)
          w[mt][rr][u] = in_k && row_ok[mt][rr] ? __ldg(wrow[mt][rr] + k8 + 4 * u) : make_uint4(0, 0, 0, 0);
#pragma unroll
      for (int nt = 0; nt < NT; ++nt) xv[nt][u] = in_k && xrow[nt] ? xrow[nt][k8 + 4 * u] : make_uint4(0, 0, 0, 0);
    }
    // Thread t holds k = 8t..8t+7 of each 32: words .x .y feed one MMA, .z .w the next.
#pragma unroll
    for (int u = 0; u < kU; ++u)
#pragma unroll
      for (int mt = 0; mt < MT; ++mt)
#pragma unroll
        for (int nt = 0; nt < NT; ++nt) {
          mma_bf16_16816(acc[mt][nt], w[mt][0][u].x, w[mt][1][u].x, w[mt][0][u].y, w[mt][1][u].y, xv[nt][u].x,
                         xv[nt][u].y);
          mma_bf16_16816(acc[mt][nt], w[mt][0][u].z, w[mt][1][u].z, w[mt][0][u].w, w[mt][1][u].w, xv[nt][u].z,
                         xv[nt][u].w);
        }
  }
#pragma unroll
  for (int mt = 0; mt < MT; ++mt)
#pragma unroll
    for (int nt = 0; nt < NT; ++nt)
#pragma unroll
      for (int c = 0; c < 4; ++c) red[warp][(mt * NT + nt) * 4 + c][lane] = acc[mt][nt][c];
  __syncthreads();
  if (warp >= MT * NT) return;
  const int mt = warp / NT, nt = warp % NT;
  float v[4];
#pragma unroll
  for (int c = 0; c < 4; ++c) {
    v[c] = 0.0f;
#pragma unroll
    for (int w = 0; w < kWarps; ++w) v[c] += red[w][warp * 4 + c][lane];
  }
  const int r = row0 + mt * 16 + g;
#pragma unroll
  for (int c = 0; c < 2; ++c) {
    const int tok = nt * 8 + 2 * t + c;
    if (tok >= T) continue;
    float* out = y + size_t(tok) * N;
    if (r < N) out[r] = accumulate ? out[r] + v[c] : v[c];
    if (r + 8 < N) out[r + 8] = accumulate ? out[r + 8] + v[2 + c] : v[2 + c];
  }
}

// Batch 1..4 without tensor cores: a warp per weight row, each lane a strided
// set of 16-byte pieces (a warp instruction reads 512 contiguous bytes). The
// whole row is loaded into registers before the kernel waits for the previous
// one (launch.cuh), so with PDL the weights stream while it finishes.
// Tried 2026-11-24 (H100, synthetic:20b): one wave of blocks whose warps take
// ceil(N / resident warps) rows each, the next row loaded into the same
// registers once the current one is used (qkv: 320 blocks x 2 rows instead of
// 640 blocks in 1.6 waves). ptxas then needs 100 registers, or spills at 80:
// tg128 453 -> 439 t/s, 4 sequences 993 -> 947. Also tried: rows of K <= 3072
// (qkv) with 12 pieces per lane, 64 registers, 4 blocks per SM instead of 3
// holding their rows before the wait: qkv's own time fell 7.9 -> 6.2 us per
// layer but the combine before it rose 7.4 -> 10.6 (its loads queue behind
// the larger prefetch; scripts/device/timeline.sh), tg128 within noise. And
// o_proj loading the residual it adds to with its inputs rather than after
// the sums: tg128 516.0 / 519.6 before, 518.6 / 515.9 after (2026-11-24).
constexpr int kRowChunks = 16;  // 16-byte pieces per lane: K <= 16 * 32 * 8
constexpr int kRowWarps = 8;

// S > 0 (one token): each warp also takes S more rows, copied into shared
// memory (cp.async, L2 only) before the wait, so that a block holds 8 (1 + S)
// rows and a whole product such as qkv can be on its way in one wave.
__device__ __forceinline__ void copy16_async(void* dst, const void* src) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  const unsigned d = static_cast<unsigned>(__cvta_generic_to_shared(dst));
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16;\n" ::"r"(d), "l"(src));
#else
  *static_cast<uint4*>(dst) = *static_cast<const uint4*>(src);
#endif
}

__device__ __forceinline__ void copies_done() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  asm volatile("cp.async.wait_all;\n" ::: "memory");
#endif
}

template <int NTOK, int S>
__global__ void __launch_bounds__(kRowWarps * 32) dense_rows_kernel(const uint16_t* x, int T, int K,
                                                                   const uint16_t* W, int N, float* y,
                                                                   bool accumulate) {
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, nc = K / 8;
  const int row0 = blockIdx.x * kRowWarps * (1 + S), row = row0 + warp;
  const uint4* wr = reinterpret_cast<const uint4*>(W + size_t(min(row, N - 1)) * K);
  uint4 w[kRowChunks];
#pragma unroll
  for (int i = 0; i < kRowChunks; ++i) {
    const int c = lane + 32 * i;
    w[i] = c < nc ? __ldg(wr + c) : make_uint4(0, 0, 0, 0);
  }
  extern __shared__ uint4 wsh[];  // S > 0: [S][kRowWarps][nc]
  if (S > 0) {
#pragma unroll
    for (int s = 0; s < S; ++s) {
      const uint4* src = reinterpret_cast<const uint4*>(W + size_t(min(row0 + kRowWarps * (1 + s) + warp, N - 1)) * K);
      uint4* dst = wsh + size_t(s * kRowWarps + warp) * nc;
      for (int c = lane; c < nc; c += 32) copy16_async(dst + c, src + c);
    }
  }
  pdl_enter(Release::kAtEntry);
  __shared__ uint4 xs[NTOK][kRowChunks * 32];
  for (int i = threadIdx.x; i < T * nc; i += blockDim.x) xs[i / nc][i % nc] = reinterpret_cast<const uint4*>(x)[i];
  __syncthreads();
  if (row >= N) {
    copies_done();  // none may land in shared memory a later block owns
    return;
  }
  float acc[NTOK] = {};
#pragma unroll
  for (int i = 0; i < kRowChunks; ++i) {
    const int c = lane + 32 * i;
    if (c >= nc) break;
#pragma unroll
    for (int t = 0; t < NTOK; ++t) acc[t] += row_dot1(w[i], xs[t][c]);
  }
#pragma unroll
  for (int t = 0; t < NTOK; ++t) {
    const float v = warp_sum(acc[t]);
    if (lane == 0 && t < T) y[size_t(t) * N + row] = accumulate ? y[size_t(t) * N + row] + v : v;
  }
  if (S > 0) {
    copies_done();
    __syncwarp();  // each lane's copies, visible to the warp
#pragma unroll
    for (int s = 0; s < S; ++s) {
      const int r = row0 + kRowWarps * (1 + s) + warp;
      if (r >= N) break;
      const uint4* ws = wsh + size_t(s * kRowWarps + warp) * nc;
      float a = 0.0f;
      for (int c = lane; c < nc; c += 32) a += row_dot1(ws[c], xs[0][c]);
      a = warp_sum(a);
      if (lane == 0) y[r] = accumulate ? y[r] + a : a;
    }
  }
}

// One block per (expert, token): the router's logits from float32
// activations. Top-k picks experts by rank, so rounding the activations to
// bf16 first (as the dense GEMMs do) flips near-tied choices and changes whole
// expert outputs; the reference computes this product in float32. A block per
// dot product keeps a decode step's 32 of them at a few loads per thread.
__global__ void router_logits_kernel(const float* __restrict__ h, int H, const uint16_t* __restrict__ W, int E,
                                     float* __restrict__ y) {
  pdl_enter();
  const int e = blockIdx.x, t = blockIdx.y;
  const float4* hr = reinterpret_cast<const float4*>(h + size_t(t) * H);
  const uint2* wr = reinterpret_cast<const uint2*>(W + size_t(e) * H);
  float acc = 0.0f;
  for (int i = threadIdx.x; i < H / 4; i += blockDim.x) {
    const float4 a = hr[i];
    const uint2 w = __ldg(wr + i);
    acc += a.x * bf2f(uint16_t(w.x & 0xffff)) + a.y * bf2f(uint16_t(w.x >> 16)) + a.z * bf2f(uint16_t(w.y & 0xffff)) +
           a.w * bf2f(uint16_t(w.y >> 16));
  }
  acc = block_sum(acc);
  if (threadIdx.x == 0) y[size_t(t) * E + e] = acc;
}

// Prompt-sized steps: a block of 8 tokens (a warp each) takes every expert,
// the router's rows staged through shared memory 128 columns at a time, so
// the 184 KB of router weights are read once per 8 tokens instead of every
// token's row once per expert (H100, synthetic:20b, 2048 tokens: 118 us per
// layer for 65k blocks of the kernel above).
constexpr int kRouterTileK = 128;
constexpr int kRouterMaxE = 128;
constexpr int kRouterTokensFrom = 1024;
template <int kJ>  // experts in groups of 32: E <= 32 kJ
__global__ void __launch_bounds__(256) router_logits_tokens_kernel(const float* __restrict__ h, int T, int H,
                                                                   const uint16_t* __restrict__ W, int E,
                                                                   float* __restrict__ y) {
  __shared__ uint2 w_sh[32 * kJ][kRouterTileK / 4];
  pdl_enter();
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, t = int(blockIdx.x) * 8 + warp;
  float acc[kJ][32];  // expert 32 j + e: acc[j][e], each lane its own columns
#pragma unroll
  for (int j = 0; j < kJ; ++j)
#pragma unroll
    for (int e = 0; e < 32; ++e) acc[j][e] = 0.0f;
  for (int k0 = 0; k0 < H; k0 += kRouterTileK) {
    __syncthreads();
    for (int i = threadIdx.x; i < E * kRouterTileK / 4; i += blockDim.x) {
      const int e = i / (kRouterTileK / 4), c = i % (kRouterTileK / 4);
      w_sh[e][c] = k0 + 4 * c < H ? __ldg(reinterpret_cast<const uint2*>(W + size_t(e) * H + k0) + c) : make_uint2(0, 0);
    }
    __syncthreads();
    const int col = k0 + 4 * lane;
    const float4 a = t < T && col < H ? reinterpret_cast<const float4*>(h + size_t(t) * H + k0)[lane]
                                      : make_float4(0.0f, 0.0f, 0.0f, 0.0f);
#pragma unroll
    for (int j = 0; j < kJ; ++j) {
#pragma unroll
      for (int e = 0; e < 32; ++e) {
        if (32 * j + e >= E) break;
        const uint2 w = w_sh[32 * j + e][lane];
        acc[j][e] += a.x * bf2f(uint16_t(w.x & 0xffff)) + a.y * bf2f(uint16_t(w.x >> 16)) +
                     a.z * bf2f(uint16_t(w.y & 0xffff)) + a.w * bf2f(uint16_t(w.y >> 16));
      }
    }
  }
  if (t >= T) return;
#pragma unroll
  for (int j = 0; j < kJ; ++j) {
    // Lane e ends with expert 32 j + e's sum (a butterfly per expert).
    float mine = 0.0f;
#pragma unroll
    for (int e = 0; e < 32; ++e) {
      const float v = warp_sum(acc[j][e]);
      if (lane == e) mine = v;
    }
    if (32 * j + lane < E) y[size_t(t) * E + 32 * j + lane] = mine;
  }
}

}  // namespace

void router_logits_f32(const float* h, int T, int H, const bf16_raw* W, int E, float* y, cudaStream_t s) {
  if (T <= 0) return;
  // Decode-sized steps keep a block per (expert, token): 8 tokens a block
  // would leave most SMs idle (H100, synthetic:120b, 64 sequences: 2507 ->
  // 1945 t/s with it from 33 tokens on).
  if (T >= kRouterTokensFrom && E <= kRouterMaxE && H % 4 == 0) {
    const unsigned blocks = unsigned((T + 7) / 8);
    if (E <= 32) launch(router_logits_tokens_kernel<1>, blocks, 256, s, h, T, H, W, E, y);
    else if (E <= 64) launch(router_logits_tokens_kernel<2>, blocks, 256, s, h, T, H, W, E, y);
    else launch(router_logits_tokens_kernel<4>, blocks, 256, s, h, T, H, W, E, y);
    return;
  }
  launch(router_logits_kernel, dim3(E, T), 256, s, h, H, W, E, y);
}

bool small_gemm_supported(int T, int K) { return T >= 1 && T <= 16 && K % 64 == 0; }

bool row_gemv_supported(int T, int K) { return T >= 1 && T <= 4 && K % 8 == 0 && K <= kRowChunks * 32 * 8; }

// One-token products up to this many rows (qkv, o_proj) take rows in shared
// memory; the unembedding streams at ~95% of the bandwidth without.
constexpr int kRowsSmemMaxN = 16384;

constexpr int kMaxRowsInSmem = 2;
// Dynamic shared memory of a block with S rows per warp of K columns, and
// the static part beside it (one token's inputs).
constexpr size_t rows_smem_bytes(int S, int K) { return size_t(S) * kRowWarps * K * 2; }
constexpr size_t kRowsStaticSmem = kRowChunks * 32 * 16;

// Once per device (the attributes are per device): the shared memory those
// kernels may ask for, all of it as shared memory rather than L1; returns
// the device's shared memory per block.
int rows_in_smem_budget(int dev) {
  static std::array<std::atomic<int>, 64> budget{};
  if (dev < 64 && budget[size_t(dev)].load() > 0) return budget[size_t(dev)].load();
  int avail = 0;
  GPTOSS_CUDA_CHECK(cudaDeviceGetAttribute(&avail, cudaDevAttrMaxSharedMemoryPerBlockOptin, dev));
  const auto allow = [&](auto kernel, int S) {
    const size_t most = std::min(size_t(avail) - kRowsStaticSmem, rows_smem_bytes(S, kRowChunks * 32 * 8));
    GPTOSS_CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, int(most)));
    GPTOSS_CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributePreferredSharedMemoryCarveout, 100));
  };
  allow(dense_rows_kernel<1, 1>, 1);
  allow(dense_rows_kernel<1, 2>, 2);
  if (dev < 64) budget[size_t(dev)].store(avail);
  return avail;
}

// Rows per warp in shared memory for one-token products of K columns: 2
// where a block's 16 such rows fit in this device's shared memory per block
// (sm_80, sm_90), else 1 or 0. H100, synthetic:20b, 2026-11-24, same binary,
// 3 rounds (GPTOSS_ROWS_SMEM=N to compare): tg128 553.0 / 554.2 / 561.5 t/s,
// one sequence at 512+64 514.7 / 532.7 / 533.2 for 0 / 1 / 2; again, 0 vs 2:
// tg128 550.5 -> 564.7, 512+64 520.0 -> 531.3 (qkv: 640 blocks in 2.4 waves
// -> 214 blocks, all resident, their rows on the way before the wait).
int rows_in_smem(int K) {
  static const int wanted = env_int("GPTOSS_ROWS_SMEM", kMaxRowsInSmem);
  int dev = 0;
  GPTOSS_CUDA_CHECK(cudaGetDevice(&dev));
  const size_t avail = size_t(rows_in_smem_budget(dev));
  int s = std::min(wanted, kMaxRowsInSmem);
  while (s > 0 && rows_smem_bytes(s, K) + kRowsStaticSmem > avail) --s;
  return s;
}

void row_gemv_bf16(const bf16_raw* x, int T, int K, const bf16_raw* W, int N, float* y, bool accumulate,
                   cudaStream_t s) {
  const unsigned blocks = unsigned(ceil_div(N, kRowWarps));
  const int smem_rows = T == 1 && N <= kRowsSmemMaxN ? rows_in_smem(K) : 0;
  if (smem_rows > 0) {
    const size_t smem = rows_smem_bytes(smem_rows, K);
    const unsigned b = unsigned(ceil_div(N, kRowWarps * (1 + smem_rows)));
    if (smem_rows == 1)
      launch_smem(dense_rows_kernel<1, 1>, b, kRowWarps * 32, smem, s, x, T, K, W, N, y, accumulate);
    else
      launch_smem(dense_rows_kernel<1, 2>, b, kRowWarps * 32, smem, s, x, T, K, W, N, y, accumulate);
    return;
  }
  if (T == 1)
    launch(dense_rows_kernel<1, 0>, blocks, kRowWarps * 32, s, x, T, K, W, N, y, accumulate);
  else if (T == 2)
    launch(dense_rows_kernel<2, 0>, blocks, kRowWarps * 32, s, x, T, K, W, N, y, accumulate);
  else
    launch(dense_rows_kernel<4, 0>, blocks, kRowWarps * 32, s, x, T, K, W, N, y, accumulate);
}

void small_gemm_bf16(const bf16_raw* x, int T, int K, const bf16_raw* W, int N, float* y, bool accumulate,
                     cudaStream_t s) {
  // Shapes measured on an H100 at batch 1 (2026-11-23; GPTOSS_DENSE_VARIANT
  // 1/2 force 8/16 warps of 32-row blocks to re-measure): 8 warps suit qkv
  // (160 blocks of 32 rows: 433 vs 507 us per step over 24 layers), 16 suit
  // o_proj (90 blocks: 352 vs 440 us) and the unembedding (466 vs 526 us).
  // Batch 1..4 takes row_gemv_bf16 (warp per row): with PDL it measured
  // tg128 399 -> 419 t/s over the tensor-core kernel (1 and 2 force that;
  // 64 sequences are unchanged: they never take this path).
  // Products with fewer 32-row blocks than SMs take 16-row blocks instead.
  static const int variant = env_int("GPTOSS_DENSE_VARIANT", 0);
  static const int half_below = env_int("GPTOSS_DENSE_HALF_BELOW", 132);
  if (variant == 0 && row_gemv_supported(T, K)) {
    row_gemv_bf16(x, T, K, W, N, y, accumulate, s);
    return;
  }
  const int blocks32 = (N + 31) / 32;
  const bool half_rows = variant == 0 && blocks32 < half_below;
  const int warps = variant == 1 ? 8 : variant == 2 ? 16 : (blocks32 >= 132 && blocks32 < 1024 ? 8 : 16);
  const unsigned blocks = unsigned(half_rows ? (N + 15) / 16 : blocks32);
#define GPTOSS_DENSE_LAUNCH(MT, W)                                                  \
  if (T <= 8)                                                                       \
    launch(dense_mma_kernel<MT, 1, W>, blocks, W * 32, s, x, T, K, weights, N, y, accumulate); \
  else                                                                              \
    launch(dense_mma_kernel<MT, 2, W>, blocks, W * 32, s, x, T, K, weights, N, y, accumulate);
  const bf16_raw* weights = W;
  if (half_rows) {
    GPTOSS_DENSE_LAUNCH(1, 16)
  } else if (warps == 8) {
    GPTOSS_DENSE_LAUNCH(2, 8)
  } else {
    GPTOSS_DENSE_LAUNCH(2, 16)
  }
#undef GPTOSS_DENSE_LAUNCH
}

}  // namespace gptoss::cuda
