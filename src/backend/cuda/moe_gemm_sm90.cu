// The grouped MXFP4 expert GEMMs (moe_gemm.cu) on Hopper's warpgroup MMA.
//
// Same tiles, tile list, copies and dequant as the mma.sync kernel; what
// changes is how the tensor cores get their operands. There, 8 warps each
// load A and B fragments with ldmatrix for every k16 step (64 x 32 warp
// tiles: ~2 shared-memory wavefronts per MMA, and the kernel was bound by
// them at ~200 TFLOP/s). Here two warpgroups each issue one wgmma
// m64n128k16 per k16 step that reads its 64 slots' activations and the
// tile's 128 dequantised weight rows straight from shared memory, laid out
// in the 128-byte swizzle wgmma reads (wgmma.cuh), while the registers hold
// only the accumulators. H100, synthetic:20b: pp2048 34.7k -> 41.4k t/s,
// the same output bits.
#include <array>
#include <atomic>

#include "backend/cuda/cuda_common.cuh"
#include "backend/cuda/launch.cuh"
#include "backend/cuda/moe_gemm_sm90.h"
#include "backend/cuda/moe_gemm_tile.cuh"
#include "backend/cuda/wgmma.cuh"

namespace gptoss::cuda {

namespace {

using namespace moe_gemm;

// A chunk of kBK = 128 bf16 per row is two 64-wide halves, each a K-major
// 128-byte-swizzled tile of all the rows (wgmma.cuh's Sw128).

// kPipelined: two dequantised weight tiles, so that the next chunk's dequant
// runs while the tensor cores work on this one (145 KB: one block an SM);
// otherwise one (113 KB: two blocks an SM, which overlap each other instead;
// 81 KB with 64-slot tiles).
template <int BM, bool kPipelined>
struct Smem {
  uint4 a[2][2 * BM * 8];                  // activations, two stages (1024-byte aligned: BM / 4 KB each)
  uint4 b[kPipelined ? 2 : 1][2 * kBN * 8];  // dequantised weights
  uint4 raw[2][kRawPerStage];
  uint4 raw_scales[2][kRawPerStage / 16];
};
using Smem128 = Smem<kBM, false>;
using Smem64 = Smem<64, false>;
static_assert(sizeof(Smem128::a[0]) % 1024 == 0 && offsetof(Smem128, b) % 1024 == 0 &&
                  sizeof(Smem<kBM, true>::b[0]) % 1024 == 0 && sizeof(Smem64::a[0]) % 1024 == 0 &&
                  offsetof(Smem64, b) % 1024 == 0,
              "wgmma tiles need 1024-byte atoms");

// A warpgroup's share of a tile: with 128 slots, its 64 slots x all 128
// weight rows (m64n128); with 64, all 64 slots x its half of the rows (m64n64).
template <int BM>
struct WarpgroupTile {
  static constexpr int kN = BM == 128 ? 128 : 64;  // weight rows per product
  static constexpr int kAcc = kN / 2;              // accumulators per thread
  __device__ static int a_row0(int wg) { return BM == 128 ? 64 * wg : 0; }
  __device__ static int b_row0(int wg) { return BM == 128 ? 0 : 64 * wg; }
};

#ifdef GPTOSS_WGMMA
// Chunk products of one warpgroup (WarpgroupTile), wc blocks deep.
template <int BM>
__device__ __forceinline__ void chunk_products(float (&acc)[WarpgroupTile<BM>::kAcc], const uint4* a, const uint4* b,
                                               int wg, int wc) {
  using W = WarpgroupTile<BM>;
  wgmma_chunk<kBK / 16>(acc, 2 * wc, [&](int s) {
    const int h = s >> 2, kk = s & 3;
    const uint64_t da = wgmma_desc_sw128(&a[(h * BM + W::a_row0(wg)) * 8]) + uint64_t(2 * kk);
    const uint64_t db = wgmma_desc_sw128(&b[(h * kBN + W::b_row0(wg)) * 8]) + uint64_t(2 * kk);
    if constexpr (BM == 128) wgmma_m64n128k16_bf16(acc, da, db);
    else wgmma_m64n64k16_bf16(acc, da, db);
  });
}
#endif

template <bool kGateUp, int BM, bool kPipelined>
__global__ void __launch_bounds__(kThreads, kPipelined ? 1 : 2)
    moe_gemm_sm90_kernel(const uint16_t* xq, const uint8_t* blocks, const uint8_t* scales, const uint16_t* bias,
                         int rows, int K, int k_route, int E, const int32_t* offsets, const int32_t* slots,
                         float alpha, float limit, uint16_t* act_out, float* y_out, bool scan_tiles) {
  pdl_enter(Release::kAtEntry);
#ifdef GPTOSS_WGMMA
  extern __shared__ __align__(1024) uint4 smem_raw[];
  using W = WarpgroupTile<BM>;
  auto& sh = *reinterpret_cast<Smem<BM, kPipelined>*>(smem_raw);
  if (threadIdx.x == 0 && (__cvta_generic_to_shared(smem_raw) & 1023) != 0) __trap();  // the swizzle atoms would be off
  int e, s0, s1;
  // The scan's scratch is the dequant buffer, first written after a barrier of the main loop.
  if (!(scan_tiles ? find_tile_block<BM>(offsets, E, *reinterpret_cast<TileFindScratch*>(sh.b[0]), e, s0, s1)
                   : find_tile<BM>(offsets, E, e, s0, s1)))
    return;
  const int n0 = blockIdx.y * kBN;
  const int nb = K / 32, n_chunks = (nb + 3) / 4;
  const int wg = threadIdx.x / 128, warp = (threadIdx.x / 32) % 4, lane = threadIdx.x & 31;
  const size_t expert_row0 = size_t(e) * rows;
  ActivationRows<BM> act;
  act.template init<kGateUp>(xq, slots, s0, s1, K, k_route);
  auto width = [&](int c) { return min(4, nb - 4 * c); };
  auto load_chunk = [&](int st, int c) {
    act.load(sh.a[st], c, width(c), Sw128<BM>{});
    load_raw(sh.raw[st], sh.raw_scales[st], blocks, scales, expert_row0, n0, rows, nb, c, width(c));
    cp_async_commit();
  };

  float acc[W::kAcc];
#pragma unroll
  for (int i = 0; i < W::kAcc; ++i) acc[i] = 0.0f;
  if constexpr (kPipelined) {
    // Chunk c: a[c % 2], raw[c % 2] -> b[c % 2]. While chunk c's products
    // run, chunk c + 1 (copied during chunk c - 1) is dequantised; once they
    // are done, chunk c + 2 is copied into the stage they used.
    load_chunk(0, 0);
    if (n_chunks > 1) load_chunk(1, 1);
    if (n_chunks > 1) cp_async_wait<1>();
    else cp_async_wait<0>();
    __syncthreads();
    dequant(sh.raw[0], sh.raw_scales[0], sh.b[0], width(0), Sw128<kBN>{});
    fence_proxy_async_smem();
    __syncthreads();
    for (int c = 0; c < n_chunks; ++c) {
      const int st = c & 1;
      chunk_products<BM>(acc, sh.a[st], sh.b[st], wg, width(c));
      if (c + 1 < n_chunks) {
        cp_async_wait<0>();
        __syncthreads();  // chunk c + 1 is in
        dequant(sh.raw[st ^ 1], sh.raw_scales[st ^ 1], sh.b[st ^ 1], width(c + 1), Sw128<kBN>{});
        fence_proxy_async_smem();
      }
      wgmma_wait<0>();
      wgmma_fence_operands(acc);
      __syncthreads();  // both warpgroups are done with stage st; chunk c + 1's b is complete
      if (c + 2 < n_chunks) load_chunk(st, c + 2);
    }
  } else {
    load_chunk(0, 0);
    for (int c = 0; c < n_chunks; ++c) {
      const int st = c & 1;
      cp_async_wait<0>();
      __syncthreads();  // chunk c is in; both warpgroups' products of chunk c - 1 are done
      if (c + 1 < n_chunks) load_chunk(st ^ 1, c + 1);
      dequant(sh.raw[st], sh.raw_scales[st], sh.b[0], width(c), Sw128<kBN>{});
      fence_proxy_async_smem();  // this thread's dequant and copies, visible to wgmma
      __syncthreads();
      chunk_products<BM>(acc, sh.a[st], sh.b[0], wg, width(c));
      wgmma_wait<0>();
      wgmma_fence_operands(acc);
    }
  }

  const int g = lane >> 2, t = lane & 3;
#pragma unroll
  for (int half = 0; half < 2; ++half) {
    const int s = s0 + W::a_row0(wg) + warp * 16 + g + 8 * half;
    if (s >= s1) continue;
    const int slot = slots[s];
#pragma unroll
    for (int j = 0; j < W::kN / 8; ++j) {
      const int col = n0 + W::b_row0(wg) + 8 * j + 2 * t;
      if (col >= rows) continue;
      store_pair<kGateUp>(acc[4 * j + 2 * half], acc[4 * j + 2 * half + 1], slot, col, rows, expert_row0, bias, alpha,
                          limit, act_out, y_out);
    }
  }
#endif
}

__global__ void wgmma_probe_kernel(int* has) {
#ifdef GPTOSS_WGMMA
  *has = 1;
#else
  *has = 0;
#endif
}

}  // namespace

bool moe_grouped_sm90_available() {
  static std::array<std::atomic<int>, 64> known{};  // 0 unknown, 1 no, 2 yes
  int dev = 0, major = 0;
  if (cudaGetDevice(&dev) != cudaSuccess || dev >= 64) return false;
  if (const int k = known[size_t(dev)].load()) return k == 2;
  bool yes = false;
  if (cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, dev) == cudaSuccess && major == 9) {
    // The kernels hold wgmma only where this build compiled sm_90a code
    // (a compute_80 PTX build JIT-compiled here has the mma.sync kernel only).
    int* d = nullptr;
    int h = 0;
    if (cudaMalloc(&d, sizeof(int)) == cudaSuccess) {
      wgmma_probe_kernel<<<1, 1>>>(d);
      yes = cudaMemcpy(&h, d, sizeof(int), cudaMemcpyDeviceToHost) == cudaSuccess && h == 1;
      cudaFree(d);
    }
    int optin = 0;
    yes = yes && cudaDeviceGetAttribute(&optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, dev) == cudaSuccess &&
          size_t(optin) >= sizeof(Smem<kBM, true>);
  }
  known[size_t(dev)].store(yes ? 2 : 1);
  return yes;
}

namespace {

template <bool kGateUp, int BM, bool kPipelined>
void launch_sm90(const bf16_raw* xq, int T, const uint8_t* blocks, const uint8_t* scales, const bf16_raw* bias,
                 int rows, int K, int k, int E, const int32_t* offsets, const int32_t* slots, float alpha, float limit,
                 bf16_raw* act_out, float* y_out, cudaStream_t s) {
  static std::array<std::atomic<bool>, 64> allowed{};
  constexpr size_t smem = sizeof(Smem<BM, kPipelined>);
  int dev = 0;
  GPTOSS_CUDA_CHECK(cudaGetDevice(&dev));
  if (dev >= 64 || !allowed[size_t(dev)].load()) {
    GPTOSS_CUDA_CHECK(cudaFuncSetAttribute(moe_gemm_sm90_kernel<kGateUp, BM, kPipelined>,
                                           cudaFuncAttributeMaxDynamicSharedMemorySize, int(smem)));
    if (dev < 64) allowed[size_t(dev)].store(true);
  }
  const int max_tiles = (T * k + BM - 1) / BM + E;
  launch_smem(moe_gemm_sm90_kernel<kGateUp, BM, kPipelined>, dim3(max_tiles, (rows + kBN - 1) / kBN), kThreads, smem, s,
              xq, blocks, scales, bias, rows, K, k, E, offsets, slots, alpha, limit, act_out, y_out,
              grouped_tile_scan());
}

}  // namespace

template <bool kGateUp>
void moe_gemm_sm90(const bf16_raw* xq, int T, const uint8_t* blocks, const uint8_t* scales, const bf16_raw* bias,
                   int rows, int K, int k, int E, const int32_t* offsets, const int32_t* slots, float alpha,
                   float limit, bf16_raw* act_out, float* y_out, cudaStream_t s, Sm90Tile tile) {
  switch (tile) {
    case Sm90Tile::kNarrow32:
    case Sm90Tile::kNarrow48:
    case Sm90Tile::kNarrow64:
      moe_gemm_sm90_narrow<kGateUp>(xq, T, blocks, scales, bias, rows, K, k, E, offsets, slots, alpha, limit, act_out,
                                    y_out, s,
                                    tile == Sm90Tile::kNarrow32 ? 32 : tile == Sm90Tile::kNarrow48 ? 48 : 64);
      break;
    case Sm90Tile::k128Pipelined:
      launch_sm90<kGateUp, 128, true>(xq, T, blocks, scales, bias, rows, K, k, E, offsets, slots, alpha, limit,
                                      act_out, y_out, s);
      break;
    case Sm90Tile::k64:
      launch_sm90<kGateUp, 64, false>(xq, T, blocks, scales, bias, rows, K, k, E, offsets, slots, alpha, limit,
                                      act_out, y_out, s);
      break;
    default:
      launch_sm90<kGateUp, 128, false>(xq, T, blocks, scales, bias, rows, K, k, E, offsets, slots, alpha, limit,
                                       act_out, y_out, s);
  }
}

template void moe_gemm_sm90<true>(const bf16_raw*, int, const uint8_t*, const uint8_t*, const bf16_raw*, int, int, int,
                                  int, const int32_t*, const int32_t*, float, float, bf16_raw*, float*, cudaStream_t,
                                  Sm90Tile);
template void moe_gemm_sm90<false>(const bf16_raw*, int, const uint8_t*, const uint8_t*, const bf16_raw*, int, int, int,
                                   int, const int32_t*, const int32_t*, float, float, bf16_raw*, float*, cudaStream_t,
                                   Sm90Tile);

}  // namespace gptoss::cuda
