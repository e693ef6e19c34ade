// Mixture-of-experts kernels (the routing is in routing.cu): MXFP4 GEMVs for
// decode-sized batches (weights stay MXFP4 in memory and are dequantised in
// registers; each expert's weights are read once per step however many tokens
// chose it), and the gather/dequant/scatter helpers of the prefill path, which
// runs each expert through cuBLAS.
#include <algorithm>
#include <cstdlib>
#include <stdexcept>
#include <string>

#include "backend/cuda/cuda_common.cuh"
#include "backend/cuda/cuda_kernels.h"
#include "backend/cuda/launch.cuh"
#include "backend/cuda/mxfp4_mma_layout.h"
#include "core/env.h"

namespace gptoss::cuda {

namespace {

// ---- MXFP4 expert GEMMs on tensor cores (decode-sized steps) ----------------
//
// Weights stream from memory once per step; the slots routed to an expert are
// the N dimension of mma.m16n8k16 (16 per sweep, two n8 tiles), so the same
// kernel serves batch 1 (one slot, 15 columns idle: the tensor cores have
// time to spare) and batch 64 (about 8 slots per expert). A block is 4 warps
// over the same 32 weight rows, each warp a quarter of K (split-K: enough
// loads in flight at batch 1), reduced through shared memory.
//
// The reduction index k of an MMA may be permuted freely as long as A and B
// agree. Thread (g, t) takes the whole 16-byte MXFP4 block t of each of its
// rows (one scale per register set), and the activations are stored
// pre-permuted (bf16, "MMA layout": within each 8 values, the order
// 0 4 1 5 2 6 3 7) so that each 32-bit word of B pairs the same two k as the
// A word dequantised from nibbles m and m + 4 of one weight word.
//
// Dequantisation without tables: nibble s e1 e0 m placed as bf16 bits
// (s << 15) | (e1 e0 m << 6) is exactly value * 2^-126 (e = 0 gives the
// subnormal m * 0.5 * 2^-126). One bf16x2 multiply by 2^(scale - 1 - kShift)
// applies the block scale; the accumulators are multiplied by 2^kShift at the
// end. kShift moves the exactly-handled scale range to 2^-111 .. 2^17 (all
// real checkpoints sit near 2^-7): MXFP4 weights smaller than 2^-111 round to
// zero, and none larger than 6 * 2^17 exist.
//
// GPU-resident experts are repacked at load (mxfp4_mma_layout.h) so that the
// bits of each pair take 1-3 instructions instead of 4-5 and the scale byte
// one multiply. H100, synthetic:20b, same binary, 2026-11-24: 64 sequences
// 8012 -> 8124 t/s, tg128 423 -> 427 (GPTOSS_MXFP4_LAYOUT=checkpoint to
// compare); host-memory experts keep the checkpoint's layout.

__device__ __forceinline__ float e8m0(uint8_t s) { return __uint_as_float(uint32_t(s) << 23); }

constexpr int kShift = 16;
constexpr float kUnshift = 65536.0f;  // 2^kShift

static_assert(126 - kShift == kScaleBias, "the packed scales' bias is the kernels' exponent shift");

// bf16x2 of nibbles (m, m + 4) of w, times the scale (mxfp4_mma_layout.h).
template <bool kPacked, int m>
__device__ __forceinline__ uint32_t fp4_pair(uint32_t w, uint32_t scale) {
  return bf16x2_mul(kPacked ? fp4_pair_bits_packed<m>(w) : fp4_pair_bits_checkpoint<m>(w), scale);
}

// The bf16x2 block scale from a scale byte as stored: the packed layout
// stores the biased exponent itself; the checkpoint's byte gets the same bias.
template <bool kPacked>
__device__ __forceinline__ uint32_t block_scale(uint8_t s) {
  return uint32_t(kPacked ? s : pack_mxfp4_scale(s)) * 0x00800080u;
}


// acc[mt][nt] += W rows (tile mt) x slots (tile nt) for one 32-value block per thread.
template <bool kPacked, int NT>
__device__ __forceinline__ void moe_block_mma(const uint4 (&w)[2][2], const uint32_t (&sc)[2][2],
                                              const uint4 (&x)[NT][4], int n_tiles, float (&acc)[2][NT][4]) {
  const uint32_t* wv[2][2];
#pragma unroll
  for (int mt = 0; mt < 2; ++mt)
#pragma unroll
    for (int rr = 0; rr < 2; ++rr) wv[mt][rr] = reinterpret_cast<const uint32_t*>(&w[mt][rr]);
#pragma unroll
  for (int q = 0; q < 4; ++q) {
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      uint32_t a[2][4];
#pragma unroll
      for (int mt = 0; mt < 2; ++mt) {
        a[mt][0] = h ? fp4_pair<kPacked, 2>(wv[mt][0][q], sc[mt][0]) : fp4_pair<kPacked, 0>(wv[mt][0][q], sc[mt][0]);
        a[mt][1] = h ? fp4_pair<kPacked, 2>(wv[mt][1][q], sc[mt][1]) : fp4_pair<kPacked, 0>(wv[mt][1][q], sc[mt][1]);
        a[mt][2] = h ? fp4_pair<kPacked, 3>(wv[mt][0][q], sc[mt][0]) : fp4_pair<kPacked, 1>(wv[mt][0][q], sc[mt][0]);
        a[mt][3] = h ? fp4_pair<kPacked, 3>(wv[mt][1][q], sc[mt][1]) : fp4_pair<kPacked, 1>(wv[mt][1][q], sc[mt][1]);
      }
#pragma unroll
      for (int nt = 0; nt < NT; ++nt) {
        if (nt > 0 && nt >= n_tiles) break;
        const uint32_t b0 = h ? x[nt][q].z : x[nt][q].x, b1 = h ? x[nt][q].w : x[nt][q].y;
#pragma unroll
        for (int mt = 0; mt < 2; ++mt) mma_bf16_16816(acc[mt][nt], a[mt][0], a[mt][1], a[mt][2], a[mt][3], b0, b1);
      }
    }
  }
}

// One 32-value block of each of a thread's 4 weight rows, and its scales.
struct WeightTile {
  uint4 w[2][2];
  uint32_t sc[2][2];
};

// The weight rows thread (g, t) multiplies in row tile `tile` (32 rows) of expert e.
// kGateUp: 16 (gate, up) pairs, so that each thread's accumulators hold a gate
// and its up (MMA row g = gate, g + 8 = up); otherwise 32 plain rows. Rows
// past the end (rows % 32 != 0) read the last row, whose results are never
// stored, and blocks past K re-read the last one with a zero scale: the loads
// need no predicates.
// The packed layout is also in tile order (mxfp4_mma_layout.h): the block's
// 32 rows are one group, and a row's block b sits at tile_pos.
template <bool kGateUp, bool kPacked>
struct ExpertRows {
  const uint4* w[2][2];
  const uint8_t* s[2][2];
  int j[2][2];  // tile order: row within the group
  int nb;       // 32-value blocks per row
  int rg;       // tile order: rows in this block's group

  ExpertRows() = default;
  __device__ __forceinline__ ExpertRows(const uint8_t* blocks, const uint8_t* scales, int e, int rows, int K, int tile)
      : nb(K / 32) {
    const int g = (threadIdx.x & 31) >> 2, row0 = tile * kTileRows;
    rg = min(kTileRows, rows - row0);
#pragma unroll
    for (int mt = 0; mt < 2; ++mt)
#pragma unroll
      for (int rr = 0; rr < 2; ++rr) {
        const int r = min(kGateUp ? row0 + 2 * (mt * 8 + g) + rr : row0 + mt * 16 + rr * 8 + g, rows - 1);
        const size_t first = size_t(e) * rows + (kPacked ? row0 : r);  // the group's first row, or this row
        w[mt][rr] = reinterpret_cast<const uint4*>(blocks + first * nb * 16);
        s[mt][rr] = scales + first * nb;
        j[mt][rr] = r - row0;
      }
  }

  __device__ __forceinline__ void load(int blk, WeightTile& tl) const {
    const bool ok = blk < nb;
    blk = min(blk, nb - 1);
#pragma unroll
    for (int mt = 0; mt < 2; ++mt)
#pragma unroll
      for (int rr = 0; rr < 2; ++rr) {
        const int i = kPacked ? tile_pos(j[mt][rr], blk, rg, nb) : blk;
        tl.w[mt][rr] = __ldg(w[mt][rr] + i);
        const uint32_t sc = block_scale<kPacked>(__ldg(s[mt][rr] + i));
        tl.sc[mt][rr] = ok ? sc : 0u;
      }
  }
};

// The end of one sweep over row tile `tile` (32 rows) for slots s0 .. s0 + n - 1:
// the split-K sum over the block's warps, then SwiGLU (gate_up) or the bias
// (down) and the stores. Every thread of the block calls it (it synchronises).
template <bool kGateUp, int kMoeWarps, int NT>
__device__ __forceinline__ void moe_finish(const float (&acc)[2][NT][4], float (*red)[2 * NT * 4][32], int n, int s0,
                                           int e, int rows, const int32_t* slots, const uint16_t* bias, float alpha,
                                           float limit, uint16_t* act_out, float* y_out, int tile) {
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, g = lane >> 2, t = lane & 3;
  const int row0 = tile * 32;
#pragma unroll
  for (int mt = 0; mt < 2; ++mt)
#pragma unroll
    for (int nt = 0; nt < NT; ++nt)
#pragma unroll
      for (int c = 0; c < 4; ++c) red[warp][(mt * NT + nt) * 4 + c][lane] = acc[mt][nt][c];
  __syncthreads();
  // Warp w < 2 NT finishes accumulator tile (mt, nt) = (w / NT, w % NT); the
  // other warps only helped load.
  static_assert(2 * NT <= kMoeWarps, "a warp finishes at most one accumulator tile");
  if (warp < 2 * NT) {
    const int mt = warp / NT, nt = warp % NT;
    float v[4];
#pragma unroll
    for (int c = 0; c < 4; ++c) {
      v[c] = 0.0f;
#pragma unroll
      for (int w = 0; w < kMoeWarps; ++w) v[c] += red[w][warp * 4 + c][lane];
      v[c] *= kUnshift;
    }
#pragma unroll
    for (int c = 0; c < 2; ++c) {
      const int j = nt * 8 + 2 * t + c;
      if (j >= n) continue;
      const int slot = slots[s0 + j];
      if (kGateUp) {
        const int i = tile * 16 + mt * 8 + g;  // intermediate index
        if (2 * i >= rows) continue;
        const size_t r = size_t(e) * rows + 2 * i;
        const float gt = fminf(v[c] + bf2f(bias[r]), limit);
        const float up = fminf(fmaxf(v[2 + c] + bf2f(bias[r + 1]), -limit), limit);
        act_out[size_t(slot) * (rows / 2) + mma_pos(i)] = f2bf((up + 1.0f) * (gt / (1.0f + __expf(-alpha * gt))));
      } else {
        const int r = row0 + mt * 16 + g;
        if (r < rows) y_out[size_t(slot) * rows + r] = v[c] + bf2f(bias[size_t(e) * rows + r]);
        if (r + 8 < rows) y_out[size_t(slot) * rows + r + 8] = v[2 + c] + bf2f(bias[size_t(e) * rows + r + 8]);
      }
    }
  }
  __syncthreads();  // red is reused by the next sweep
}

// kGateUp: the expert's 2I interleaved gate/up rows (ExpertRows), SwiGLU
// fused; otherwise the H rows of the down projection, float32 out with the bias.
// NT: 8-slot tiles per sweep over the weights (1 for decode-sized steps,
// which halves the registers and doubles the blocks an SM holds; 2 for larger
// batches, where each expert's weights then serve 16 slots per read).
// kGroups: row tiles of 32 per block, multiplied by the same inputs. Every
// block reads its slots' whole inputs once per sweep from L2, so with 32 rows
// a block at 256 sequences (~32 slots per expert) the step's input reads
// outweigh its weights (arithmetic: ~38 GB from L2 against ~10 GB); 2 halves
// them, at the cost of registers (150: 3 blocks an SM instead of 4). It
// gained only 2.5% there (launch_moe_mma), so L2 was not what bound it.
template <bool kGateUp, bool kPacked, int kMoeWarps, int kDepth, int NT, int kGroups = 1>
__global__ void __launch_bounds__(kMoeWarps * 32, kGroups == 1 ? (NT == 1 ? 32 : 16) / kMoeWarps : 3) moe_mma_kernel(
    const uint16_t* xq, const uint8_t* blocks, const uint8_t* scales, const uint16_t* bias, int rows, int K,
    int k_route, const int32_t* offsets, const int32_t* slots, const int32_t* active, float alpha, float limit,
    uint16_t* act_out, float* y_out, int n_split) {
  __shared__ float red[kMoeWarps][2 * NT * 4][32];
  // The expert comes from the routing, so there is nothing to prefetch. (L2
  // prefetches of the next tiles once it is known measured 7-11% slower.)
  pdl_enter(Release::kAtEntry);
  const int e = active[blockIdx.y];
  if (e < 0) return;
  const int warp = threadIdx.x >> 5, g = (threadIdx.x & 31) >> 2, t = threadIdx.x & 3;
  // n_split neighbouring blocks share a row tile, each taking every
  // n_split-th sweep of its slots (see slot_split()).
  const int tile0 = int(blockIdx.x) / n_split * kGroups, part = int(blockIdx.x) % n_split;
  ExpertRows<kGateUp, kPacked> wr[kGroups];
#pragma unroll
  for (int q = 0; q < kGroups; ++q) wr[q] = ExpertRows<kGateUp, kPacked>(blocks, scales, e, rows, K, tile0 + q);
  const int nb = wr[0].nb;
  const int begin = offsets[e], end = offsets[e + 1];
  for (int s0 = begin + part * 8 * NT; s0 < end; s0 += n_split * 8 * NT) {
    const int n = min(8 * NT, end - s0);
    const int n_tiles = (n + 7) / 8;
    // Columns past the step's slots repeat the first one (results unused);
    // decode-sized steps skip their loads, and so do 8-slot tiles past the end.
    const bool x_used = g < n;
    const uint4* xrow[NT];
#pragma unroll
    for (int nt = 0; nt < NT; ++nt) {
      const int j = nt * 8 + g;
      const int slot = slots[s0 + (j < n ? j : 0)];
      xrow[nt] = reinterpret_cast<const uint4*>(xq + size_t(kGateUp ? slot / k_route : slot) * K);
    }
    float acc[kGroups][2][NT][4] = {};
    // One 32-value block per row and thread: its weights, scales and inputs;
    // kDepth of them per round trip, all loaded before any is used.
    auto load_x = [&](int blk, uint4 (&x)[NT][4]) {
      blk = min(blk, nb - 1);
#pragma unroll
      for (int nt = 0; nt < NT; ++nt)
#pragma unroll
        for (int c = 0; c < 4; ++c)
          x[nt][c] = (NT > 1 ? nt < n_tiles : x_used) ? xrow[nt][blk * 4 + c] : make_uint4(0, 0, 0, 0);
    };
    for (int it = warp * 4; it < nb; it += kMoeWarps * 4 * kDepth) {
      WeightTile tl[kDepth][kGroups];
      uint4 x[kDepth][NT][4];
#pragma unroll
      for (int p = 0; p < kDepth; ++p) {
#pragma unroll
        for (int q = 0; q < kGroups; ++q) wr[q].load(it + p * kMoeWarps * 4 + t, tl[p][q]);
        load_x(it + p * kMoeWarps * 4 + t, x[p]);
      }
#pragma unroll
      for (int p = 0; p < kDepth; ++p)
#pragma unroll
        for (int q = 0; q < kGroups; ++q) moe_block_mma<kPacked, NT>(tl[p][q].w, tl[p][q].sc, x[p], n_tiles, acc[q]);
    }
#pragma unroll
    for (int q = 0; q < kGroups; ++q)
      moe_finish<kGateUp, kMoeWarps, NT>(acc[q], red, n, s0, e, rows, slots, bias, alpha, limit, act_out, y_out,
                                         tile0 + q);
  }
}

// Steps of at most 4 tokens, whose experts each have at most 4 slots: the
// slots' inputs are staged in shared memory once, so a tile in flight is only
// its weights and scales (20 registers), and the next tile's loads are issued
// before the current one is multiplied (two tiles per warp in flight).
// Tried 2026-11-24 (H100, synthetic:20b, timeline.sh): more tiles in flight
// without registers, through a cp.async ring of 3 tiles per warp in shared
// memory: gate_up 17.05 -> 18.30 us per layer, down 10.54 -> 12.58, tg128
// 521 -> 494 t/s (4 tiles: 474). These kernels are not short of loads in flight.
template <bool kGateUp, bool kPacked, int kMoeWarps>
__global__ void __launch_bounds__(kMoeWarps * 32, 24 / kMoeWarps) moe_mma_xs_kernel(
    const uint16_t* xq, const uint8_t* blocks, const uint8_t* scales, const uint16_t* bias, int rows, int K,
    int k_route, const int32_t* offsets, const int32_t* slots, const int32_t* active, float alpha, float limit,
    uint16_t* act_out, float* y_out, bool one_token) {
  extern __shared__ uint4 xs[];  // [slot of this expert][K / 8]
  __shared__ float red[kMoeWarps][8][32];
  pdl_enter(Release::kAtEntry);
  const int e = active[blockIdx.y];
  // One token: its k experts are distinct, so each active expert has one
  // slot, at its place in the active list; reading it alongside the expert
  // spares the inputs two dependent round trips (offsets, then slots).
  // H100, synthetic:20b, 2026-11-24 (GPTOSS_MOE_ONE_TOKEN=0 to compare):
  // gate_up 17.3 -> 16.8 us per layer, down 10.5 -> 10.3; 3 rounds, one
  // sequence at 512+64: 488.2 -> 493.9 t/s, tg128 518.2 -> 520.9.
  const int slot1 = one_token ? slots[blockIdx.y] : 0;
  if (e < 0) return;
  const int warp = threadIdx.x >> 5, g = (threadIdx.x & 31) >> 2, t = threadIdx.x & 3;
  const ExpertRows<kGateUp, kPacked> wr(blocks, scales, e, rows, K, blockIdx.x);
  const int nb = wr.nb, kc = K / 8;
  const int step = kMoeWarps * 4;
  int it = warp * 4;  // this warp's first block (thread t takes block it + t)
  WeightTile cur;
  // Tried 2026-11-24 (H100, synthetic:20b): the down kernel reading its expert
  // through L2 before its wait (the routing two kernels back had completed by
  // then, when every kernel released the next after its wait) and loading
  // this first tile while gate_up finishes: gate_up's own time rose as much
  // as down's fell (scripts/device/timeline.sh), tg128 the same with it on or
  // off, and this kernel without it faster than both.
  wr.load(it + t, cur);  // on its way while the inputs are staged
  const int begin = one_token ? int(blockIdx.y) : offsets[e], n = one_token ? 1 : offsets[e + 1] - begin;
  for (int j = 0; j < n; ++j) {
    const int slot = one_token ? slot1 : slots[begin + j];
    const uint4* src = reinterpret_cast<const uint4*>(xq + size_t(kGateUp ? slot / k_route : slot) * K);
    for (int c = threadIdx.x; c < kc; c += blockDim.x) xs[j * kc + c] = src[c];
  }
  __syncthreads();
  float acc[2][1][4] = {};
  for (; it < nb; it += step) {
    WeightTile next;
    if (it + step < nb) wr.load(it + step + t, next);
    uint4 x[1][4];
    const int blk = min(it + t, nb - 1);
#pragma unroll
    for (int c = 0; c < 4; ++c) x[0][c] = g < n ? xs[g * kc + blk * 4 + c] : make_uint4(0, 0, 0, 0);
    moe_block_mma<kPacked, 1>(cur.w, cur.sc, x, 1, acc);
    cur = next;
  }
  moe_finish<kGateUp, kMoeWarps, 1>(acc, red, n, begin, e, rows, slots, bias, alpha, limit, act_out, y_out,
                                    blockIdx.x);
}

__global__ void to_mma_layout_kernel(const float* src, int cols, uint16_t* dst) {
  const int r = blockIdx.x;
  for (int i = threadIdx.x; i < cols; i += blockDim.x) dst[size_t(r) * cols + mma_pos(i)] = f2bf(src[size_t(r) * cols + i]);
}

// ---- prefill helpers -----------------------------------------------------

// Packed words (mxfp4_mma_layout.h) go back to the checkpoint's nibble order
// through the kernels' own pair extraction.
__device__ __forceinline__ uint32_t nibble_of_bf16(uint32_t h) { return ((h >> 6) & 7u) | ((h >> 12) & 8u); }
__device__ __forceinline__ uint32_t unpack_word(uint32_t w) {
  const uint32_t p[4] = {fp4_pair_bits_packed<0>(w), fp4_pair_bits_packed<1>(w), fp4_pair_bits_packed<2>(w),
                         fp4_pair_bits_packed<3>(w)};
  uint32_t r = 0;
#pragma unroll
  for (int m = 0; m < 4; ++m) r |= nibble_of_bf16(p[m] & 0xffffu) << (4 * m) | nibble_of_bf16(p[m] >> 16) << (4 * m + 16);
  return r;
}

// One expert's rows x nb blocks, a thread per stored block: the packed
// layout's tile order is read in order (coalesced) and each block goes to
// its row and column of the output.
template <bool kPacked>
__global__ void dequant_kernel(const uint8_t* blocks, const uint8_t* scales, int rows, int nb, uint16_t* out) {
  const int src = blockIdx.x * blockDim.x + threadIdx.x;
  if (src >= rows * nb) return;
  int b = src;
  if (kPacked) {
    const int g = src / (kTileRows * nb);
    int j, blk;
    tile_row_block(src - g * kTileRows * nb, min(kTileRows, rows - g * kTileRows), nb, j, blk);
    b = (g * kTileRows + j) * nb + blk;
  }
  const float s = e8m0(kPacked ? unpack_mxfp4_scale(scales[src]) : scales[src]);
  const uint4 w = reinterpret_cast<const uint4*>(blocks)[src];
  uint32_t words[4] = {w.x, w.y, w.z, w.w};
  if (kPacked)
#pragma unroll
    for (int q = 0; q < 4; ++q) words[q] = unpack_word(words[q]);
  uint32_t packed[16];
#pragma unroll
  for (int q = 0; q < 4; ++q)
#pragma unroll
    for (int j = 0; j < 4; ++j) {
      const uint32_t byte = (words[q] >> (8 * j)) & 0xff;
      packed[q * 4 + j] = uint32_t(f2bf(fp4_value(byte & 0xf) * s)) | (uint32_t(f2bf(fp4_value(byte >> 4) * s)) << 16);
    }
  uint4* dst = reinterpret_cast<uint4*>(out + size_t(b) * 32);
#pragma unroll
  for (int c = 0; c < 4; ++c) dst[c] = make_uint4(packed[4 * c], packed[4 * c + 1], packed[4 * c + 2], packed[4 * c + 3]);
}

// In place, one group of kTileRows rows of one expert per block: the group
// goes through shared memory, so it can be written back in tile order.
__global__ void pack_kernel(uint8_t* blocks, uint8_t* scales, int rows, int nb) {
  extern __shared__ uint4 group[];  // rg * nb blocks, then their scales
  const int row0 = blockIdx.x * kTileRows, rg = min(kTileRows, rows - row0), n = rg * nb;
  const size_t first = (size_t(blockIdx.y) * rows + row0) * nb;  // the group's first block
  uint4* gb = reinterpret_cast<uint4*>(blocks) + first;
  uint8_t* gs = scales + first;
  uint8_t* sh_s = reinterpret_cast<uint8_t*>(group + n);
  for (int i = threadIdx.x; i < n; i += blockDim.x) group[i] = gb[i], sh_s[i] = gs[i];
  __syncthreads();
  for (int i = threadIdx.x; i < n; i += blockDim.x) {
    const uint4 w = group[i];
    const int at = tile_pos(i / nb, i % nb, rg, nb);
    gb[at] = make_uint4(pack_mxfp4_word(w.x), pack_mxfp4_word(w.y), pack_mxfp4_word(w.z), pack_mxfp4_word(w.w));
    gs[at] = pack_mxfp4_scale(sh_s[i]);
  }
}

__global__ void gather_kernel(const float* src, const int32_t* slots, int k, int H, uint16_t* dst) {
  const int i = blockIdx.x;
  const float* row = src + size_t(slots[i] / k) * H;
  for (int c = threadIdx.x; c < H; c += blockDim.x) dst[size_t(i) * H + c] = f2bf(row[c]);
}

__global__ void bias_swiglu_kernel(const float* gu, const uint16_t* bias, int I, float alpha, float limit,
                                   uint16_t* act) {
  const int i = blockIdx.x;
  for (int c = threadIdx.x; c < I; c += blockDim.x) {
    const float g = fminf(gu[size_t(i) * 2 * I + 2 * c] + bf2f(bias[2 * c]), limit);
    const float u = fminf(fmaxf(gu[size_t(i) * 2 * I + 2 * c + 1] + bf2f(bias[2 * c + 1]), -limit), limit);
    act[size_t(i) * I + c] = f2bf((u + 1.0f) * (g / (1.0f + __expf(-alpha * g))));
  }
}

__global__ void scatter_kernel(const float* src, const uint16_t* bias, const int32_t* slots, int H, float* y) {
  const int i = blockIdx.x;
  float* dst = y + size_t(slots[i]) * H;
  for (int c = threadIdx.x; c < H; c += blockDim.x) dst[c] = src[size_t(i) * H + c] + bf2f(bias[c]);
}

}  // namespace

// Launch shapes (warps per block, tiles per round trip), tried side by side on
// the GPU machine with GPTOSS_MOE_VARIANT (scripts/device/sweep.sh). On an
// H100, synthetic:20b, 2026-11-23: tg64 / b64 decode t/s = (4,1) 353 / 7320,
// (4,2) 337 / 6714, (8,1) 347 / 7083, (8,2) 323 / 6173; (4,3) and (8,3) were
// slower still, and software-pipelining the (4,1) and (8,1) loops gained nothing.
constexpr int kMoeShapes = 4;

int moe_variant() {
  static const int v = [] {
    const int i = env_int("GPTOSS_MOE_VARIANT", 0);
    return i >= 0 && i < kMoeShapes ? i : 0;
  }();
  return v;
}

// Blocks that share a row tile of an expert, each sweeping a share of its
// slots (8 or 16 a sweep): with one block per tile, an expert with ~32 slots (256
// sequences on synthetic:20b) has its weights swept twice by one block, the
// second time long after the first, when most of them have left L2 (Nsight
// Compute, H100, 2026-12-07: gate_up read 454 MB of DRAM for 282 MB of
// weights). Neighbouring blocks sweeping at the same time read them once.
// H100, synthetic:20b, 512+128, one call (2026-12-08), decode t/s off / on:
// 64 sequences 9050 / 9047, 128: 13347 / 13863, 256: 16230 / 17285. With
// it, 8-slot sweeps at 64 sequences (GPTOSS_MOE_NARROW_UPTO=8) 9673 vs 9613
// (noise; 128: 15527 vs 15526), so those keep 16-slot sweeps.
// mean_slots: the step's slots per active expert, as the host knows it.
// GPTOSS_MOE_SLOT_SPLIT=0 turns it off (one block a tile).
int slot_split(int mean_slots, int sweep) {
  static const int on = env_int("GPTOSS_MOE_SLOT_SPLIT", 1);
  if (on == 0) return 1;
  // A quarter above the mean: the busier experts' last sweep gets a block too.
  return std::clamp((mean_slots * 5 / 4 + sweep - 1) / sweep, 1, 4);
}

// small: steps of at most 4 tokens, so at most max_slots (= tokens) slots per
// expert; sweep: slots per sweep over an expert's weights (8 or 16, sweep_slots()).
template <bool kGateUp, bool kPacked>
void launch_moe_mma(dim3 grid, bool small, int sweep, int max_slots, cudaStream_t s, const uint16_t* xq, const uint8_t* blocks, const uint8_t* scales,
                    const uint16_t* bias, int rows, int K, int k_route, const int32_t* offsets, const int32_t* slots,
                    const int32_t* active, float alpha, float limit, uint16_t* act_out, float* y_out) {
#define GPTOSS_MOE_CASE(i, W, D)                                                                                   \
  case i:                                                                                                        \
    if (sweep == 8)                                                                                              \
      launch(moe_mma_kernel<kGateUp, kPacked, W, D, 1>, split_grid, W * 32, s, xq, blocks, scales, bias, rows, K,  \
             k_route, offsets, slots, active, alpha, limit, act_out, y_out, split);                                \
    else                                                                                                         \
      launch(moe_mma_kernel<kGateUp, kPacked, W, D, 2>, split_grid, W * 32, s, xq, blocks, scales, bias, rows, K,  \
             k_route, offsets, slots, active, alpha, limit, act_out, y_out, split);                                \
    break;
  // The down projection has half the blocks of gate_up (H rows, not 2I): at
  // decode sizes 8 warps per block keep as many loads in flight
  // (GPTOSS_MOE_DOWN_WARPS=4 to compare; with the staged-input kernel,
  // 2026-11-24: tg128 453 -> 436 t/s).
  static const bool down8 = env_int("GPTOSS_MOE_DOWN_WARPS", 8) != 4;
  // Steps of up to 4 tokens stage their inputs in shared memory
  // (moe_mma_xs_kernel; GPTOSS_MOE_XS=0 to compare).
  static const bool xs_on = env_int("GPTOSS_MOE_XS", 1) != 0;
  // Beyond the default 48 KB of dynamic shared memory (K > 6144 at 4 tokens;
  // gpt-oss has 2880) the inputs stay in registers.
  const size_t smem = size_t(max_slots) * K * 2;
  if (small && xs_on && moe_variant() == 0 && smem <= 48 * 1024) {
    static const bool one_token_path = env_int("GPTOSS_MOE_ONE_TOKEN", 1) != 0;
    const bool one_token = max_slots == 1 && one_token_path;
    if (kGateUp || !down8)
      launch_smem(moe_mma_xs_kernel<kGateUp, kPacked, 4>, grid, 4 * 32, smem, s, xq, blocks, scales, bias, rows, K,
                  k_route, offsets, slots, active, alpha, limit, act_out, y_out, one_token);
    else
      launch_smem(moe_mma_xs_kernel<kGateUp, kPacked, 8>, grid, 8 * 32, smem, s, xq, blocks, scales, bias, rows, K,
                  k_route, offsets, slots, active, alpha, limit, act_out, y_out, one_token);
    return;
  }
  const int variant = (!kGateUp && sweep == 8 && down8 && moe_variant() == 0) ? 2 : moe_variant();
  // max_slots is the step's tokens; each takes k_route slots among grid.y experts.
  const int split = slot_split(int(int64_t(max_slots) * k_route / std::max(1u, grid.y)), sweep);
  // 16-slot sweeps take two row tiles a block (moe_mma_kernel's kGroups)
  // where the grid's row tiles come in pairs (gpt-oss: 180 and 90). H100,
  // synthetic:20b, 512+128, 2026-12-07, with decode_mma_attention, decode
  // t/s with GPTOSS_MOE_ROW_GROUPS=1 / 2: 256 sequences 18008 / 18453 (same
  // call), 64 sequences 9572 / 9632 (two calls on one machine); without it,
  // 64 sequences 8983 / 9032. 16 and 32 sequences, both on vs both off:
  // 2951 / 2981, 5375 / 5437. tg128 (never 16-slot sweeps) 646 / 649.
  static const int row_groups = env_int("GPTOSS_MOE_ROW_GROUPS", 2);
  if (row_groups == 2 && sweep == 16 && variant == 0 && grid.x % 2 == 0) {
    grid.x = grid.x / 2 * unsigned(split);
    launch(moe_mma_kernel<kGateUp, kPacked, 4, 1, 2, 2>, grid, 4 * 32, s, xq, blocks, scales, bias, rows, K, k_route,
           offsets, slots, active, alpha, limit, act_out, y_out, split);
    return;
  }
  const dim3 split_grid(grid.x * unsigned(split), grid.y);
  switch (variant) {
    GPTOSS_MOE_CASE(0, 4, 1)
    GPTOSS_MOE_CASE(1, 4, 2)
    GPTOSS_MOE_CASE(2, 8, 1)
    GPTOSS_MOE_CASE(3, 8, 2)
  }
#undef GPTOSS_MOE_CASE
}

// Slots per sweep over an expert's weights: 8 (NT = 1: half the registers,
// twice the blocks an SM holds) for steps of up to 4 tokens and where the
// experts average up to 4 slots (synthetic:120b at 64 sequences: 2), else 16.
// GPTOSS_MOE_NARROW_UPTO moves that bound (0: 8-slot sweeps only up to 4
// tokens, as before). H100, 2026-12-07, decode t/s of 512+128 with it / 0:
// synthetic:20b 16 sequences 2953 / 2787 (64: 16-slot sweeps either way);
// synthetic:120b 64 sequences 2899 (78% of 3.35 TB/s) / 2576 (the day
// before). Sweeps of 32 slots (NT = 4: each weight dequantised once at 256
// sequences) measured slower everywhere: 256 sequences 12.5k vs 15.9k t/s,
// pp512 18.2k vs 23.9k (166 registers: one block of 8 warps an SM).
int sweep_slots(int T, int k, int E) {
  static const int narrow_upto = std::max(0, env_int("GPTOSS_MOE_NARROW_UPTO", 4));
  return T <= 4 || int64_t(T) * k <= int64_t(narrow_upto) * E ? 8 : 16;
}

template <bool kGateUp>
void launch_moe_mma(Mxfp4Layout layout, dim3 grid, bool small, int sweep, int max_slots, cudaStream_t s, const uint16_t* xq,
                    const uint8_t* blocks, const uint8_t* scales, const uint16_t* bias, int rows, int K, int k_route,
                    const int32_t* offsets, const int32_t* slots, const int32_t* active, float alpha, float limit,
                    uint16_t* act_out, float* y_out) {
  if (layout == Mxfp4Layout::kMma)
    launch_moe_mma<kGateUp, true>(grid, small, sweep, max_slots, s, xq, blocks, scales, bias, rows, K, k_route, offsets, slots, active,
                                  alpha, limit, act_out, y_out);
  else
    launch_moe_mma<kGateUp, false>(grid, small, sweep, max_slots, s, xq, blocks, scales, bias, rows, K, k_route, offsets, slots, active,
                                   alpha, limit, act_out, y_out);
}

void moe_gate_up_mma(const bf16_raw* hq, int T, const uint8_t* blocks, const uint8_t* scales, const bf16_raw* bias,
                     int E, int H, int I, int k, const int32_t* expert_offsets, const int32_t* expert_slots,
                     const int32_t* active_experts, float alpha, float limit, bf16_raw* actq, cudaStream_t s,
                     Mxfp4Layout layout) {
  dim3 grid(ceil_div(2 * I, 32), std::min(E, T * k));
  launch_moe_mma<true>(layout, grid, T <= 4, sweep_slots(T, k, E), T, s, hq, blocks, scales, bias, 2 * I, H, k, expert_offsets, expert_slots,
                       active_experts, alpha, limit, actq, nullptr);
}

void moe_down_mma(const bf16_raw* actq, int T, const uint8_t* blocks, const uint8_t* scales, const bf16_raw* bias,
                  int E, int H, int I, int k, const int32_t* expert_offsets, const int32_t* expert_slots,
                  const int32_t* active_experts, float* y, cudaStream_t s, Mxfp4Layout layout) {
  dim3 grid(ceil_div(H, 32), std::min(E, T * k));
  launch_moe_mma<false>(layout, grid, T <= 4, sweep_slots(T, k, E), T, s, actq, blocks, scales, bias, H, I, k, expert_offsets, expert_slots,
                        active_experts, 0.0f, 0.0f, nullptr, y);
}

void to_mma_layout_bf16(const float* src, int rows, int cols, bf16_raw* dst, cudaStream_t s) {
  if (rows > 0) to_mma_layout_kernel<<<rows, 256, 0, s>>>(src, cols, dst);
}

void dequant_mxfp4_bf16(const uint8_t* blocks, const uint8_t* scales, int rows, int cols, bf16_raw* out,
                        cudaStream_t s, Mxfp4Layout layout) {
  const int nb = cols / 32;
  const unsigned grid = unsigned((size_t(rows) * nb + 255) / 256);
  if (layout == Mxfp4Layout::kMma) dequant_kernel<true><<<grid, 256, 0, s>>>(blocks, scales, rows, nb, out);
  else dequant_kernel<false><<<grid, 256, 0, s>>>(blocks, scales, rows, nb, out);
}

void pack_mxfp4_for_mma(uint8_t* blocks, uint8_t* scales, int experts, int rows, int cols, cudaStream_t s) {
  if (experts <= 0 || rows <= 0) return;
  const int nb = cols / 32;
  const size_t smem = size_t(kTileRows) * nb * 17;
  if (smem > 48 * 1024) {
    int dev = 0, max_smem = 0;
    GPTOSS_CUDA_CHECK(cudaGetDevice(&dev));
    GPTOSS_CUDA_CHECK(cudaDeviceGetAttribute(&max_smem, cudaDevAttrMaxSharedMemoryPerBlockOptin, dev));
    if (smem > size_t(max_smem))
      throw std::runtime_error("MXFP4 rows of " + std::to_string(cols) + " values are too long for this GPU's " +
                               "shared memory (" + std::to_string(max_smem) + " bytes per block)");
    GPTOSS_CUDA_CHECK(cudaFuncSetAttribute(pack_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, int(smem)));
  }
  pack_kernel<<<dim3(unsigned(ceil_div(rows, kTileRows)), unsigned(experts)), 256, smem, s>>>(blocks, scales, rows, nb);
  GPTOSS_CUDA_CHECK(cudaGetLastError());
}

void gather_slots_bf16(const float* src, const int32_t* slots, int n, int k, int H, bf16_raw* dst, cudaStream_t s) {
  if (n > 0) gather_kernel<<<n, 256, 0, s>>>(src, slots, k, H, dst);
}

void bias_swiglu_bf16(const float* gu, const bf16_raw* bias, int n, int I, float alpha, float limit, bf16_raw* act,
                      cudaStream_t s) {
  if (n > 0) bias_swiglu_kernel<<<n, 256, 0, s>>>(gu, bias, I, alpha, limit, act);
}

void scatter_slots_bias(const float* src, const bf16_raw* bias, const int32_t* slots, int n, int H, float* y,
                        cudaStream_t s) {
  if (n > 0) scatter_kernel<<<n, 256, 0, s>>>(src, bias, slots, H, y);
}

}  // namespace gptoss::cuda
