#pragma once
// What both grouped MoE GEMM kernels (moe_gemm.cu: mma.sync, any sm_80+;
// moe_gemm_sm90.cu: wgmma, sm_90a) share: the tile list, the copies of a
// chunk of activations and raw MXFP4 blocks into shared memory, the dequant
// of those blocks into bf16 rows, and the epilogue of one pair of outputs.
// Where a 16-byte chunk lives in shared memory differs (each kernel's reads
// need their own swizzle), so the copies and the dequant take that as a
// function Index(row, chunk) -> uint4 index.
#include <cstdint>

#include "backend/cuda/async_copy.cuh"
#include "backend/cuda/cuda_common.cuh"
#include "backend/cuda/mxfp4_mma_layout.h"

namespace gptoss::cuda::moe_gemm {

constexpr int kBM = 128;             // slots per tile (the wgmma kernel also has 64-slot tiles)
constexpr int kBN = 128;             // weight rows per tile (4 groups of kTileRows)
constexpr int kBK = 128;             // k per chunk: 4 MXFP4 blocks per row
constexpr int kRowChunks = kBK / 8;  // 16-byte chunks per row of a chunk
constexpr int kThreads = 256;
constexpr int kGroups = kBN / kTileRows;
constexpr int kRawPerStage = kGroups * kTileRows * 4;  // uint4 blocks of one chunk
constexpr float kUnshift = 65536.0f;                   // the packed scales' 2^-16 (moe.cu's kShift)

// Block blockIdx.x's (expert, first slot, end slot): the experts' tiles of BM slots in order.
template <int BM = kBM>
__device__ __forceinline__ bool find_tile(const int32_t* offsets, int E, int& e, int& s0, int& s1) {
  int b = int(blockIdx.x);
  for (e = 0; e < E; ++e) {
    const int begin = offsets[e], end = offsets[e + 1], tiles = (end - begin + BM - 1) / BM;
    if (b < tiles) {
      s0 = begin + b * BM;
      s1 = min(end, s0 + BM);
      return true;
    }
    b -= tiles;
  }
  return false;
}

// find_tile's scratch in the kernel's shared memory (find_tile_block).
struct TileFindScratch {
  int warp_tiles[kThreads / 32];
  int e, s0, s1;
};

// The same as find_tile, with the block reading every expert's offsets at
// once and summing their tile counts in a scan: one round trip to memory
// instead of one an expert before it (up to 32 or 128 dependent loads for
// the last experts' blocks). Every thread of the block calls it.
template <int BM>
__device__ __forceinline__ bool find_tile_block(const int32_t* offsets, int E, TileFindScratch& sc, int& e, int& s0,
                                                int& s1) {
  if (E > kThreads) return find_tile<BM>(offsets, E, e, s0, s1);
  const int tid = int(threadIdx.x), lane = tid & 31, warp = tid >> 5;
  int begin = 0, end = 0;
  if (tid < E) begin = offsets[tid], end = offsets[tid + 1];
  const int n = (end - begin + BM - 1) / BM;
  int incl = n;  // inclusive scan of the tile counts within the warp
#pragma unroll
  for (int off = 1; off < 32; off <<= 1) {
    const int y = __shfl_up_sync(0xffffffffu, incl, off);
    if (lane >= off) incl += y;
  }
  if (lane == 31) sc.warp_tiles[warp] = incl;
  if (tid == 0) sc.e = -1;
  __syncthreads();
  for (int w = 0; w < warp; ++w) incl += sc.warp_tiles[w];
  const int b = int(blockIdx.x), first = incl - n;
  if (b >= first && b < incl) {  // this thread's expert holds the block's tile
    sc.e = tid;
    sc.s0 = begin + (b - first) * BM;
    sc.s1 = min(end, sc.s0 + BM);
  }
  __syncthreads();
  e = sc.e, s0 = sc.s0, s1 = sc.s1;
  return e >= 0;
}

// The activation rows this thread copies: BM * kRowChunks / kThreads of the
// tile's BM rows, one 16-byte column each. kGateUp: xq rows are tokens (slot /
// k_route); otherwise slots.
template <int BM = kBM>
struct ActivationRows {
  static constexpr int kPerThread = BM * kRowChunks / kThreads;
  const uint16_t* src[kPerThread];
  int col;

  template <bool kGateUp>
  __device__ __forceinline__ void init(const uint16_t* xq, const int32_t* slots, int s0, int s1, int K, int k_route) {
    col = int(threadIdx.x) % kRowChunks;
#pragma unroll
    for (int i = 0; i < kPerThread; ++i) {
      const int s = s0 + row(i);
      src[i] = nullptr;
      if (s < s1) {
        const int slot = slots[s];
        src[i] = xq + size_t(kGateUp ? slot / k_route : slot) * K + col * 8;
      }
    }
  }
  __device__ __forceinline__ static int row(int i) { return int(threadIdx.x) / kRowChunks + i * (kThreads / kRowChunks); }

  // Chunk c (wc of its 4 blocks exist) into a; rows past the tile's slots are left as they are.
  template <class Index>
  __device__ __forceinline__ void load(uint4* a, int c, int wc, Index idx) const {
#pragma unroll
    for (int i = 0; i < kPerThread; ++i)
      if (src[i] && col < 4 * wc) cp_async16(&a[idx(row(i), col)], src[i] + size_t(c) * kBK);
  }
};

// Chunk c of the tile's weight rows, as stored: each 32-row group's chunk is
// 32 * wc blocks and as many scale bytes, contiguous (mxfp4_mma_layout.h).
__device__ __forceinline__ void load_raw(uint4* raw, uint4* raw_scales, const uint8_t* blocks, const uint8_t* scales,
                                         size_t expert_row0, int n0, int rows, int nb, int c, int wc) {
  for (int i = threadIdx.x; i < kRawPerStage; i += kThreads) {
    const int gi = i / (kTileRows * 4), q = i % (kTileRows * 4), row0 = n0 + gi * kTileRows;
    if (q >= kTileRows * wc || row0 >= rows) continue;
    const size_t first = (expert_row0 + row0) * nb + size_t(4 * c * kTileRows);
    cp_async16(&raw[gi * kTileRows * 4 + q], blocks + (first + q) * 16);
    if (q < kTileRows * wc / 16) cp_async16(&raw_scales[gi * kTileRows * 4 / 16 + q], scales + first + size_t(q) * 16);
  }
}

// Raw blocks -> bf16 pairs in the MMA layout (value * 2^-16 after the
// scale): row r's 16-byte chunk 4b + j is word j of its block b.
template <class Index>
__device__ __forceinline__ void dequant(const uint4* raw, const uint4* raw_scales, uint4* b_out, int wc, Index idx) {
  const uint8_t* sc_bytes = reinterpret_cast<const uint8_t*>(raw_scales);
  for (int i = threadIdx.x; i < kRawPerStage; i += kThreads) {
    const int gi = i / (kTileRows * 4), q = i % (kTileRows * 4);
    if (q >= kTileRows * wc) continue;
    const int r = gi * kTileRows + q / wc, b = q % wc;
    const uint32_t sc = uint32_t(sc_bytes[gi * kTileRows * 4 + q]) * 0x00800080u;
    const uint4 w = raw[gi * kTileRows * 4 + q];
    const uint32_t words[4] = {w.x, w.y, w.z, w.w};
#pragma unroll
    for (int j = 0; j < 4; ++j)
      b_out[idx(r, 4 * b + j)] = make_uint4(
          bf16x2_mul(fp4_pair_bits_packed<0>(words[j]), sc), bf16x2_mul(fp4_pair_bits_packed<1>(words[j]), sc),
          bf16x2_mul(fp4_pair_bits_packed<2>(words[j]), sc), bf16x2_mul(fp4_pair_bits_packed<3>(words[j]), sc));
  }
}

// Outputs (col, col + 1) of slot s: gate_up's SwiGLU of an interleaved
// (gate, up) pair into the MMA-layout activations, or down's float32 pair
// with the bias.
template <bool kGateUp>
__device__ __forceinline__ void store_pair(float v0, float v1, int slot, int col, int rows, size_t expert_row0,
                                           const uint16_t* bias, float alpha, float limit, uint16_t* act_out,
                                           float* y_out) {
  v0 *= kUnshift, v1 *= kUnshift;
  const size_t br = expert_row0 + col;
  if (kGateUp) {
    const float gt = fminf(v0 + bf2f(bias[br]), limit);
    const float up = fminf(fmaxf(v1 + bf2f(bias[br + 1]), -limit), limit);
    act_out[size_t(slot) * (rows / 2) + mma_pos(col / 2)] = f2bf((up + 1.0f) * (gt / (1.0f + __expf(-alpha * gt))));
  } else {
    *reinterpret_cast<float2*>(y_out + size_t(slot) * rows + col) =
        make_float2(v0 + bf2f(bias[br]), v1 + bf2f(bias[br + 1]));
  }
}

}  // namespace gptoss::cuda::moe_gemm
