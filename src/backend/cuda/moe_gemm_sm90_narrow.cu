// The grouped MXFP4 expert GEMMs on wgmma for steps whose experts have few
// slots each: decode of many sequences (256 sequences: ~32 slots an expert)
// and short prompts (512 tokens: ~64).
//
// moe_gemm_sm90.cu makes the slots the product's M, which wgmma fixes at 64
// a warpgroup: an expert with 32 slots pays for 64, and each block's
// activation tile is as big as its weight tile. Here the roles swap: the
// block's 128 dequantised weight rows are M (64 a warpgroup) and the tile's
// slots are N, which wgmma lets be any multiple of 8 (this kernel takes 16,
// 32, 48 or 64, the smallest that holds the tile). The tile's activations
// then take a quarter to a half of the shared memory the weights do, which
// leaves room for a ring of 3-4 chunks in flight with two blocks an SM.
//
// Measured (H100, 2026-12-07, bench/results/h100-synthetic-20b/
// narrow-2026-12-07): slower than what it would replace, so off by default
// (moe_gemm.cu, GPTOSS_GROUPED_NARROW_UPTO). It reads each weight once, yet
// at 256 sequences its gate_up moves 25% of the DRAM bandwidth against the
// MMA GEMVs' 54%: 16 warps an SM wait on the per-chunk barriers and the
// dequant through shared memory (with 5x down's bank conflicts in gate_up,
// whose gate and up rows sit 8 apart). Dequantising into registers as A
// operands (wgmma takes A from registers) would skip that round trip.
//
// Gate/up rows are interleaved in memory (gate 2i, up 2i + 1); the dequant
// puts gate i at MMA row 16 (i / 8) + i % 8 and its up 8 rows below, where
// the accumulator layout gives both to the same thread for the SwiGLU.
#include <array>
#include <atomic>

#include "backend/cuda/cuda_common.cuh"
#include "backend/cuda/launch.cuh"
#include "backend/cuda/moe_gemm_narrow_rows.h"
#include "backend/cuda/moe_gemm_sm90.h"
#include "backend/cuda/moe_gemm_tile.cuh"
#include "backend/cuda/wgmma.cuh"

namespace gptoss::cuda {

namespace {

using namespace moe_gemm;

// NMax slots a tile, S chunks in the ring; one dequantised weight chunk.
template <int NMax, int S>
struct NarrowSmem {
  uint4 a[S][2 * NMax * 8];  // activations (wgmma's B), NMax * 256 bytes a stage
  uint4 b[2 * kBN * 8];      // dequantised weights (wgmma's A)
  uint4 raw[S][kRawPerStage];
  uint4 raw_scales[S][kRawPerStage / 16];
  TileFindScratch find;
};
static_assert(sizeof(NarrowSmem<32, 4>) <= 113 * 1024 && sizeof(NarrowSmem<48, 3>) <= 113 * 1024 &&
                  sizeof(NarrowSmem<64, 3>) <= 113 * 1024,
              "two blocks an SM");
using Narrow48 = NarrowSmem<48, 3>;
static_assert(sizeof(Narrow48::a[0]) % 1024 == 0 && offsetof(Narrow48, b) % 1024 == 0,
              "wgmma tiles need 1024-byte atoms");

// Where the dequant puts weight row r of the block's 128 (narrow_rows::a_row).
template <bool kGateUp>
struct WeightRowIndex {
  __device__ __forceinline__ int operator()(int r, int c) const { return Sw128<kBN>{}(narrow_rows::a_row(kGateUp, r), c); }
};

#ifdef GPTOSS_WGMMA
// One chunk's products of warpgroup wg: its 64 weight rows x NW slots, wc blocks deep.
template <int NW, int NMax>
__device__ __forceinline__ void narrow_products(float (&acc)[NW / 2], const uint4* a, const uint4* b, int wg, int wc) {
  wgmma_chunk<kBK / 16>(acc, 2 * wc, [&](int s) {
    const int h = s >> 2, kk = s & 3;
    const uint64_t dw = wgmma_desc_sw128(&b[(h * kBN + 64 * wg) * 8]) + uint64_t(2 * kk);
    const uint64_t dx = wgmma_desc_sw128(&a[(h * NMax) * 8]) + uint64_t(2 * kk);
    wgmma_m64nNk16_bf16<NW>(acc, dw, dx);
  });
}

// The tile of slots s0 .. s1 - 1 (at most NW) of expert e, block's rows n0 ..
template <bool kGateUp, int NMax, int S, int NW>
__device__ __forceinline__ void narrow_tile(NarrowSmem<NMax, S>& sh, const uint16_t* xq, const uint8_t* blocks,
                                            const uint8_t* scales, const uint16_t* bias, int rows, int K, int k_route,
                                            const int32_t* slots, int e, int s0, int s1, float alpha, float limit,
                                            uint16_t* act_out, float* y_out) {
  const int n0 = blockIdx.y * kBN;
  const int nb = K / 32, n_chunks = (nb + 3) / 4;
  const int wg = threadIdx.x / 128, warp = (threadIdx.x / 32) % 4, lane = threadIdx.x & 31;
  const size_t expert_row0 = size_t(e) * rows;
  ActivationRows<NMax> act;
  act.template init<kGateUp>(xq, slots, s0, s1, K, k_route);
  auto width = [&](int c) { return min(4, nb - 4 * c); };
  // Every call commits a group (empty past the end), so that waiting for
  // all but the S - 2 newest always means "chunk c is in".
  auto load_chunk = [&](int c) {
    if (c < n_chunks) {
      const int st = c % S;
      act.load(sh.a[st], c, width(c), Sw128<NMax>{});
      load_raw(sh.raw[st], sh.raw_scales[st], blocks, scales, expert_row0, n0, rows, nb, c, width(c));
    }
    cp_async_commit();
  };

  float acc[NW / 2];
#pragma unroll
  for (int i = 0; i < NW / 2; ++i) acc[i] = 0.0f;
  for (int c = 0; c < S - 1; ++c) load_chunk(c);
  for (int c = 0; c < n_chunks; ++c) {
    const int st = c % S;
    cp_async_wait<S - 2>();
    __syncthreads();  // chunk c is in; both warpgroups' products of chunk c - 1 are done
    load_chunk(c + S - 1);  // into chunk c - 1's stage
    dequant(sh.raw[st], sh.raw_scales[st], sh.b, width(c), WeightRowIndex<kGateUp>{});
    fence_proxy_async_smem();  // this thread's dequant and copies, visible to wgmma
    __syncthreads();
    narrow_products<NW, NMax>(acc, sh.a[st], sh.b, wg, width(c));
    wgmma_wait<0>();
    wgmma_fence_operands(acc);
  }
  cp_async_wait<0>();  // no copy outlives the block

  // Thread (warp w, lane 4g + t) holds acc[4j + h] = D[row 16w + g + 8 (h / 2)][slot 8j + 2t + h % 2].
  const int g = lane >> 2, t = lane & 3;
#pragma unroll
  for (int j = 0; j < NW / 8; ++j)
#pragma unroll
    for (int hh = 0; hh < 2; ++hh) {
      const int s = s0 + 8 * j + 2 * t + hh;
      if (s >= s1) continue;
      const int slot = slots[s];
      if constexpr (kGateUp) {
        const int col = n0 + 2 * narrow_rows::gate_index(wg, warp, g);  // the gate's row; its up is col + 1
        if (col < rows)
          store_pair<true>(acc[4 * j + hh], acc[4 * j + 2 + hh], slot, col, rows, expert_row0, bias, alpha, limit,
                           act_out, y_out);
      } else {
#pragma unroll
        for (int hr = 0; hr < 2; ++hr) {
          const int col = n0 + narrow_rows::acc_row(wg, warp, g, 2 * hr);
          if (col < rows)
            y_out[size_t(slot) * rows + col] = acc[4 * j + 2 * hr + hh] * kUnshift + bf2f(bias[expert_row0 + col]);
        }
      }
    }
}
#endif

template <bool kGateUp, int NMax, int S>
__global__ void __launch_bounds__(kThreads, 2)
    moe_gemm_narrow_kernel(const uint16_t* xq, const uint8_t* blocks, const uint8_t* scales, const uint16_t* bias,
                           int rows, int K, int k_route, int E, const int32_t* offsets, const int32_t* slots,
                           float alpha, float limit, uint16_t* act_out, float* y_out) {
  pdl_enter(Release::kAtEntry);
#ifdef GPTOSS_WGMMA
  extern __shared__ __align__(1024) uint4 smem_raw[];
  auto& sh = *reinterpret_cast<NarrowSmem<NMax, S>*>(smem_raw);
  if (threadIdx.x == 0 && (__cvta_generic_to_shared(smem_raw) & 1023) != 0) __trap();  // the swizzle atoms would be off
  int e, s0, s1;
  if (!find_tile_block<NMax>(offsets, E, sh.find, e, s0, s1)) return;
  const int n = s1 - s0;
  // The narrowest product that holds the tile (block-uniform: every warp takes the same branch).
  if (n <= 16) {
    narrow_tile<kGateUp, NMax, S, 16>(sh, xq, blocks, scales, bias, rows, K, k_route, slots, e, s0, s1, alpha, limit,
                                      act_out, y_out);
  } else if (n <= 32) {
    narrow_tile<kGateUp, NMax, S, 32>(sh, xq, blocks, scales, bias, rows, K, k_route, slots, e, s0, s1, alpha, limit,
                                      act_out, y_out);
  } else if constexpr (NMax >= 48) {
    if (n <= 48)
      narrow_tile<kGateUp, NMax, S, 48>(sh, xq, blocks, scales, bias, rows, K, k_route, slots, e, s0, s1, alpha,
                                        limit, act_out, y_out);
    else if constexpr (NMax >= 64)
      narrow_tile<kGateUp, NMax, S, 64>(sh, xq, blocks, scales, bias, rows, K, k_route, slots, e, s0, s1, alpha,
                                        limit, act_out, y_out);
  }
#endif
}

// The kernel's shared memory, allowed once per device; at load time
// (moe_gemm_sm90_narrow_allow), so that no step a CUDA graph captures is the first.
template <bool kGateUp, int NMax, int S>
void allow_narrow() {
  static std::array<std::atomic<bool>, 64> allowed{};
  int dev = 0;
  GPTOSS_CUDA_CHECK(cudaGetDevice(&dev));
  if (dev < 64 && allowed[size_t(dev)].load()) return;
  GPTOSS_CUDA_CHECK(cudaFuncSetAttribute(moe_gemm_narrow_kernel<kGateUp, NMax, S>,
                                         cudaFuncAttributeMaxDynamicSharedMemorySize,
                                         int(sizeof(NarrowSmem<NMax, S>))));
  // Two blocks an SM need nearly all of it as shared memory rather than L1.
  GPTOSS_CUDA_CHECK(cudaFuncSetAttribute(moe_gemm_narrow_kernel<kGateUp, NMax, S>,
                                         cudaFuncAttributePreferredSharedMemoryCarveout, 100));
  if (dev < 64) allowed[size_t(dev)].store(true);
}

template <bool kGateUp, int NMax, int S>
void launch_narrow(const bf16_raw* xq, int T, const uint8_t* blocks, const uint8_t* scales, const bf16_raw* bias,
                   int rows, int K, int k, int E, const int32_t* offsets, const int32_t* slots, float alpha,
                   float limit, bf16_raw* act_out, float* y_out, cudaStream_t s) {
  allow_narrow<kGateUp, NMax, S>();
  const int max_tiles = (T * k + NMax - 1) / NMax + E;
  launch_smem(moe_gemm_narrow_kernel<kGateUp, NMax, S>, dim3(max_tiles, (rows + kBN - 1) / kBN), kThreads,
              sizeof(NarrowSmem<NMax, S>), s, xq, blocks, scales, bias, rows, K, k, E, offsets, slots, alpha, limit,
              act_out, y_out);
}

}  // namespace

void moe_gemm_sm90_narrow_allow() {
  allow_narrow<true, 32, 4>();
  allow_narrow<false, 32, 4>();
  allow_narrow<true, 48, 3>();
  allow_narrow<false, 48, 3>();
  allow_narrow<true, 64, 3>();
  allow_narrow<false, 64, 3>();
}

template <bool kGateUp>
void moe_gemm_sm90_narrow(const bf16_raw* xq, int T, const uint8_t* blocks, const uint8_t* scales,
                          const bf16_raw* bias, int rows, int K, int k, int E, const int32_t* offsets,
                          const int32_t* slots, float alpha, float limit, bf16_raw* act_out, float* y_out,
                          cudaStream_t s, int max_slots) {
  if (max_slots <= 32)
    launch_narrow<kGateUp, 32, 4>(xq, T, blocks, scales, bias, rows, K, k, E, offsets, slots, alpha, limit, act_out,
                                  y_out, s);
  else if (max_slots <= 48)
    launch_narrow<kGateUp, 48, 3>(xq, T, blocks, scales, bias, rows, K, k, E, offsets, slots, alpha, limit, act_out,
                                  y_out, s);
  else
    launch_narrow<kGateUp, 64, 3>(xq, T, blocks, scales, bias, rows, K, k, E, offsets, slots, alpha, limit, act_out,
                                  y_out, s);
}

template void moe_gemm_sm90_narrow<true>(const bf16_raw*, int, const uint8_t*, const uint8_t*, const bf16_raw*, int,
                                         int, int, int, const int32_t*, const int32_t*, float, float, bf16_raw*,
                                         float*, cudaStream_t, int);
template void moe_gemm_sm90_narrow<false>(const bf16_raw*, int, const uint8_t*, const uint8_t*, const bf16_raw*, int,
                                          int, int, int, const int32_t*, const int32_t*, float, float, bf16_raw*,
                                          float*, cudaStream_t, int);

}  // namespace gptoss::cuda
