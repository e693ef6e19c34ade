// Grouped MXFP4 expert GEMMs for prefill-sized steps: one launch per
// projection over every expert of the layer, on tensor cores, with the
// weights dequantised in shared memory (no bf16 copy of the experts).
//
// moe.cu's kernels are built for decode: a block holds 32 weight rows and
// sweeps its expert's slots 16 at a time, so at thousands of tokens each
// weight row is re-read once per 16 slots; the old prefill path instead
// dequantised each expert to a bf16 buffer and ran cuBLAS 2 x 32 times per
// layer with a host sync for the expert counts. Here a block computes a tile
// of kBM slots x kBN weight rows of one expert: the tile list is derived on
// the device from the routing's per-expert offsets (no host round trip), the
// slots' activation rows are gathered straight into shared memory with
// cp.async, and each chunk of 4 MXFP4 blocks per row arrives raw (the packed
// layout keeps a 32-row group's chunk contiguous, mxfp4_mma_layout.h) and is
// turned into bf16 pairs in shared memory by the whole block, then fed to
// mma.m16n8k16 through ldmatrix (on Hopper builds with sm_90a code, to
// wgmma instead: moe_gemm_sm90.cu). Activations and weights agree on the
// MMA layout's permutation of k within each 8 values, so no shuffles are
// needed. The pieces both kernels share are in moe_gemm_tile.cuh. Epilogues as moe.cu's: SwiGLU into the MMA-layout activations (gate_up),
// float32 rows with the bias (down); moe_combine does the weighted sum.
#include <array>
#include <atomic>
#include <cstdlib>

#include "backend/cuda/cuda_common.cuh"
#include "backend/cuda/cuda_kernels.h"
#include "backend/cuda/launch.cuh"
#include "backend/cuda/moe_gemm_sm90.h"
#include "backend/cuda/moe_gemm_tile.cuh"
#include "core/env.h"

namespace gptoss::cuda {

namespace {

using namespace moe_gemm;

// 8 warps: 2 (slots) x 4 (rows), 64 x 32 each, fragments by ldmatrix.
struct Smem {
  uint4 a[2][kBM * kRowChunks];  // activations, two stages
  uint4 raw[2][kRawPerStage];    // MXFP4 blocks as stored, two stages
  uint4 raw_scales[2][kRawPerStage / 16];
  uint4 b[kBN * kRowChunks];     // dequantised weights (bf16, MMA layout)
};
constexpr size_t kSmemBytes = sizeof(Smem);

// Chunk c of row r at c ^ (r & 7): ldmatrix's 8 row reads of one chunk hit 8 bank groups.
__device__ __forceinline__ int swz(int r, int c) { return r * kRowChunks + (c ^ (r & 7)); }
struct Swizzle {
  __device__ __forceinline__ int operator()(int r, int c) const { return swz(r, c); }
};

// kGateUp: xq [T, K] by token (slot / k_route), rows = 2I interleaved gate/up
// rows, SwiGLU into act_out [slots, rows / 2] (MMA layout); otherwise xq
// [slots, K], rows = H, y_out [slots, rows] float32 with the bias.
template <bool kGateUp>
__global__ void __launch_bounds__(kThreads, 2) moe_gemm_kernel(const uint16_t* xq, const uint8_t* blocks,
                                                            const uint8_t* scales, const uint16_t* bias, int rows,
                                                            int K, int k_route, int E, const int32_t* offsets,
                                                            const int32_t* slots, float alpha, float limit,
                                                            uint16_t* act_out, float* y_out, bool scan_tiles) {
  pdl_enter(Release::kAtEntry);
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  extern __shared__ uint4 smem_raw[];
  Smem& sh = *reinterpret_cast<Smem*>(smem_raw);
  int e, s0, s1;
  // The scan's scratch is the dequant buffer, first written after the main loop's first barrier.
  if (!(scan_tiles ? find_tile_block<kBM>(offsets, E, *reinterpret_cast<TileFindScratch*>(sh.b), e, s0, s1)
                   : find_tile(offsets, E, e, s0, s1)))
    return;
  const int n0 = blockIdx.y * kBN;
  const int nb = K / 32, n_chunks = (nb + 3) / 4;
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, wm = warp >> 2, wn = warp & 3;
  const size_t expert_row0 = size_t(e) * rows;
  ActivationRows<> act;
  act.init<kGateUp>(xq, slots, s0, s1, K, k_route);
  auto load_chunk = [&](int st, int c) {
    const int wc = min(4, nb - 4 * c);
    act.load(sh.a[st], c, wc, Swizzle{});
    load_raw(sh.raw[st], sh.raw_scales[st], blocks, scales, expert_row0, n0, rows, nb, c, wc);
    cp_async_commit();
  };

  float acc[4][4][4] = {};
  load_chunk(0, 0);
  for (int c = 0; c < n_chunks; ++c) {
    const int st = c & 1, wc = min(4, nb - 4 * c);
    cp_async_wait<0>();
    __syncthreads();  // chunk c is in; every warp is done with the previous chunk's b
    if (c + 1 < n_chunks) load_chunk(st ^ 1, c + 1);
    dequant(sh.raw[st], sh.raw_scales[st], sh.b, wc, Swizzle{});
    __syncthreads();
#pragma unroll
    for (int s = 0; s < kBK / 16; ++s) {
      if (s >= 2 * wc) break;
      uint32_t a[4][4], b[4][2];
#pragma unroll
      for (int mt = 0; mt < 4; ++mt)
        ldmatrix_x4(a[mt], &sh.a[st][swz(wm * 64 + mt * 16 + (lane & 7) + ((lane >> 3) & 1) * 8, 2 * s + (lane >> 4))]);
#pragma unroll
      for (int np = 0; np < 2; ++np) {
        uint32_t r[4];
        ldmatrix_x4(r, &sh.b[swz(wn * 32 + np * 16 + (lane & 7) + (lane >> 4) * 8, 2 * s + ((lane >> 3) & 1))]);
        b[2 * np][0] = r[0], b[2 * np][1] = r[1], b[2 * np + 1][0] = r[2], b[2 * np + 1][1] = r[3];
      }
#pragma unroll
      for (int mt = 0; mt < 4; ++mt)
#pragma unroll
        for (int nt = 0; nt < 4; ++nt)
          mma_bf16_16816(acc[mt][nt], a[mt][0], a[mt][1], a[mt][2], a[mt][3], b[nt][0], b[nt][1]);
    }
  }

  // Epilogue: thread (g, t) holds slots g, g + 8 of each m-tile x rows 2t, 2t + 1 of each n-tile.
  const int g = lane >> 2, t = lane & 3;
#pragma unroll
  for (int mt = 0; mt < 4; ++mt)
#pragma unroll
    for (int half = 0; half < 2; ++half) {
      const int s = s0 + wm * 64 + mt * 16 + g + 8 * half;
      if (s >= s1) continue;
      const int slot = slots[s];
#pragma unroll
      for (int nt = 0; nt < 4; ++nt) {
        const int col = n0 + wn * 32 + nt * 8 + 2 * t;
        if (col < rows)
          store_pair<kGateUp>(acc[mt][nt][2 * half], acc[mt][nt][2 * half + 1], slot, col, rows, expert_row0, bias,
                              alpha, limit, act_out, y_out);
      }
    }
#endif
}

// The kernels' shared memory is over the default 48 KB: allowed once per device.
void allow_smem(int dev) {
  static std::array<std::atomic<bool>, 64> done{};
  if (dev < 64 && done[size_t(dev)].load()) return;
  GPTOSS_CUDA_CHECK(cudaFuncSetAttribute(moe_gemm_kernel<true>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                         int(kSmemBytes)));
  GPTOSS_CUDA_CHECK(cudaFuncSetAttribute(moe_gemm_kernel<false>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                         int(kSmemBytes)));
  if (dev < 64) done[size_t(dev)].store(true);
}

// Hopper's wgmma kernel where this build has it, unless GPTOSS_GROUPED_WGMMA=0
// (2: the variant that dequantises the next chunk while this one's products
// run, one block an SM). Measured 2026-12-07 on the H100, synthetic:20b,
// one process each: pp2048 34.7k (mma.sync) / 41.4k (wgmma) / 31.3k
// (wgmma, pipelined); pp8192 29.8k / 34.8k / 27.3k; pp1024 29.3k / 34.7k /
// 26.6k. Both wgmma kernels give the mma.sync kernel's bits exactly
// (GroupedMoeGemmMatchesMmaAndCpu).
int wgmma_variant() {
  static const int v = [] {
    const char* e = std::getenv("GPTOSS_GROUPED_WGMMA");
    return e ? std::atoi(e) : 1;
  }();
  return v;
}
bool use_wgmma() { return wgmma_variant() != 0 && moe_grouped_sm90_available(); }

// Steps whose experts average fewer slots than this get the wgmma kernel's
// 64-slot tiles (GPTOSS_GROUPED_TILE64_BELOW; 0: never): a 128-slot tile of
// an expert with 32 slots spends 75% of its products on empty rows, but a
// 64-slot tile dequantises the same weights for half the slots. H100,
// synthetic:20b, 2026-12-07, grouped GEMMs from 256 tokens, 64- / 128-slot
// tiles: pp256 (32 a expert) 19.2k / 15.1k t/s; pp512 (64) 25.9k / 27.6k.
// (The runner starts the grouped GEMMs at 384 tokens: below, only with
// GPTOSS_GROUPED_MOE_FROM.)
//
// Steps whose experts average at most GPTOSS_GROUPED_NARROW_UPTO slots (0:
// never) take the narrow tiles (moe_gemm_sm90_narrow.cu): the smallest of 32,
// 48, 64 slots that holds 1.25 times the average, so that most experts fit
// one tile and their weights are read once (GPTOSS_GROUPED_NARROW_TILE=32,
// 48 or 64 forces one). Off: H100, synthetic:20b, 2026-12-07
// (scripts/device/grouped_ab.sh; bench/results/h100-synthetic-20b/
// narrow-2026-12-07): pp512 23.8k vs 28.0k t/s with the 128-slot tiles; as
// the decode path from 64 tokens (GPTOSS_GROUPED_MOE_FROM=64), 256
// sequences 16.3k vs 18.6k with the MMA GEMVs, 64 sequences 5.2k vs 9.6k.
Sm90Tile sm90_tile(int T, int k, int E) {
  static const int below = env_int("GPTOSS_GROUPED_TILE64_BELOW", 48);
  static const int narrow_upto = env_int("GPTOSS_GROUPED_NARROW_UPTO", 0);
  static const int narrow_tile = env_int("GPTOSS_GROUPED_NARROW_TILE", 0);
  if (wgmma_variant() == 2) return Sm90Tile::k128Pipelined;
  const int64_t slots = int64_t(T) * k;
  if (slots <= int64_t(narrow_upto) * E) {
    const int64_t need = narrow_tile > 0 ? narrow_tile : (slots + slots / 4 + E - 1) / E;
    return need <= 32 ? Sm90Tile::kNarrow32 : need <= 48 ? Sm90Tile::kNarrow48 : Sm90Tile::kNarrow64;
  }
  return slots < int64_t(below) * E ? Sm90Tile::k64 : Sm90Tile::k128;
}

Sm90Tile named_tile(GroupedGemm which) {
  switch (which) {
    case GroupedGemm::kWgmma64: return Sm90Tile::k64;
    case GroupedGemm::kWgmmaNarrow32: return Sm90Tile::kNarrow32;
    case GroupedGemm::kWgmmaNarrow48: return Sm90Tile::kNarrow48;
    case GroupedGemm::kWgmmaNarrow64: return Sm90Tile::kNarrow64;
    default: return Sm90Tile::k128;
  }
}

template <bool kGateUp>
void launch_gemm(const bf16_raw* xq, int T, const uint8_t* blocks, const uint8_t* scales, const bf16_raw* bias,
                 int rows, int K, int k, int E, const int32_t* offsets, const int32_t* slots, float alpha, float limit,
                 bf16_raw* act_out, float* y_out, cudaStream_t s, GroupedGemm which) {
  if (which != GroupedGemm::kMmaSync && use_wgmma()) {
    moe_gemm_sm90<kGateUp>(xq, T, blocks, scales, bias, rows, K, k, E, offsets, slots, alpha, limit, act_out, y_out, s,
                           which == GroupedGemm::kAuto ? sm90_tile(T, k, E) : named_tile(which));
    return;
  }
  int dev = 0;
  GPTOSS_CUDA_CHECK(cudaGetDevice(&dev));
  allow_smem(dev);
  // Every expert's partial tile counts once: at most T * k / kBM + E tiles.
  const int max_tiles = (T * k + kBM - 1) / kBM + E;
  launch_smem(moe_gemm_kernel<kGateUp>, dim3(max_tiles, (rows + kBN - 1) / kBN), kThreads, kSmemBytes, s, xq, blocks,
              scales, bias, rows, K, k, E, offsets, slots, alpha, limit, act_out, y_out, grouped_tile_scan());
}

}  // namespace

// GPTOSS_GROUPED_TILE_SCAN=1: the 64- and 128-slot tiles (both kernels) find
// their tile with find_tile_block (one scan of the offsets) instead of
// walking the experts before theirs with a round trip each. H100,
// 2026-12-07: pp512 28.4k vs 28.0k t/s, pp2048 41.8k vs 42.1k (within the
// runs' spread): off (the narrow tiles always scan).
bool grouped_tile_scan() {
  static const bool on = env_int("GPTOSS_GROUPED_TILE_SCAN", 0) != 0;
  return on;
}

bool moe_grouped_uses_wgmma() { return use_wgmma(); }

bool moe_grouped_supported(int H, int I) {
  int dev = 0, major = 0, optin = 0;
  if (cudaGetDevice(&dev) != cudaSuccess) return false;
  if (cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, dev) != cudaSuccess) return false;
  if (cudaDeviceGetAttribute(&optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, dev) != cudaSuccess) return false;
  // Whole 32-row groups in both projections, whole MXFP4 blocks along k.
  const bool ok = major >= 8 && size_t(optin) >= kSmemBytes && H % kTileRows == 0 && (2 * I) % kTileRows == 0 &&
                  H % 32 == 0 && I % 32 == 0;
  // The wgmma probe (a kernel launch and a copy) and the narrow kernels'
  // attributes happen now, at load time, never inside a step that a CUDA
  // graph may be capturing.
  if (ok && use_wgmma()) moe_gemm_sm90_narrow_allow();
  return ok;
}

void moe_gate_up_grouped(const bf16_raw* hq, int T, const uint8_t* blocks, const uint8_t* scales, const bf16_raw* bias,
                         int E, int H, int I, int k, const int32_t* expert_offsets, const int32_t* expert_slots,
                         float alpha, float limit, bf16_raw* actq, cudaStream_t s, GroupedGemm which) {
  if (T <= 0) return;
  launch_gemm<true>(hq, T, blocks, scales, bias, 2 * I, H, k, E, expert_offsets, expert_slots, alpha, limit, actq,
                    nullptr, s, which);
}

void moe_down_grouped(const bf16_raw* actq, int T, const uint8_t* blocks, const uint8_t* scales, const bf16_raw* bias,
                      int E, int H, int I, int k, const int32_t* expert_offsets, const int32_t* expert_slots, float* y,
                      cudaStream_t s, GroupedGemm which) {
  if (T <= 0) return;
  launch_gemm<false>(actq, T, blocks, scales, bias, H, I, k, E, expert_offsets, expert_slots, 0.0f, 0.0f, nullptr, y,
                     s, which);
}

}  // namespace gptoss::cuda
