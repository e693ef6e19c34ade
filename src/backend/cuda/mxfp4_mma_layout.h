#pragma once
// The bit layout of MXFP4 expert weights once they live in GPU memory, chosen
// so that the decode MoE kernels (moe.cu) turn them into bf16 pairs with the
// fewest instructions. Plain header: the tests check it on the host.
//
// The kernels feed tensor cores pairs (nibble p, nibble p + 4) of each 32-bit
// word as one bf16x2 register, the nibble s e1 e0 m placed as bf16 bits
// (s << 15) | (e1 e0 m << 6) (value * 2^-126; the block scale multiplies it
// afterwards). In the checkpoint's order that costs two shifts and two masks
// per pair (ptxas' best, measured: 5.8 instructions with the scale multiply).
// Here the 32 bits of each word are permuted at load time so that
//   pair 0 = w & kPairMask                        (1 instruction)
//   pair 1 = rotr(w, 3) & kPairMask               (2)
//   pair 2 = rotr(w, 6) & kPairMask               (2)
//   pair 3 = ((w & kPair3Bits) * kPair3Spread) & kPairMask
//                                                 (3: the multiply lays three
//                                                  disjoint shifted copies of
//                                                  the leftover bits, no carries)
// The 16-byte blocks (and their scale bytes) are also reordered within each
// group of kTileRows rows of an expert (tile_pos): the 32 rows x 4 blocks a
// warp of those kernels reads per step become one contiguous 2 KB piece
// instead of 64 bytes from each of 32 rows. Experts keep their offsets.
//
// The block scales are stored pre-biased for the same kernels: byte
// min(s + kScaleBias, 254), whose bf16x2 scale is that byte * 0x00800080.
#include <cstdint>

#include "core/host_device.h"

namespace gptoss::cuda {

// Where a weight's layout is: the checkpoint's, or the one above.
enum class Mxfp4Layout { kCheckpoint, kMma };

constexpr uint32_t kPairMask = 0x81C081C0u;     // bits 6-8 and 15 of each half
constexpr uint32_t kPair3Bits = 0x001B001Bu;    // bits 0, 1, 3, 4 of each half
constexpr uint32_t kPair3Spread = 0x4108u;      // copies shifted by 3, 8 and 14

// Rows per group of the tile order: the decode kernels' rows per block.
constexpr int kTileRows = 32;

// Position of row j's block b within its group of rg rows (nb blocks per
// row): chunks of 4 blocks of every row in turn (the last chunk of a row may
// be shorter), so the group keeps its rg * nb slots.
GPTOSS_HD int tile_pos(int j, int b, int rg, int nb) {
  const int c = b >> 2, wc = nb - 4 * c < 4 ? nb - 4 * c : 4;
  return 4 * c * rg + j * wc + (b & 3);
}

// The row j and block b at position p of a group of rg rows (tile_pos inverted).
GPTOSS_HD void tile_row_block(int p, int rg, int nb, int& j, int& b) {
  const int full = 4 * rg * (nb / 4);  // the whole chunks of 4 blocks
  if (p < full) {
    const int c = p / (4 * rg), q = p - c * 4 * rg;
    j = q >> 2, b = 4 * c + (q & 3);
  } else {
    const int wc = nb % 4, q = p - full;  // the rows' last, shorter chunk
    j = q / wc, b = 4 * (nb / 4) + q % wc;
  }
}

// The kernels' scale is 2^(s - 1 - 16) (moe.cu's kShift = 16) as a bf16 biased
// exponent: s + 110, clamped to the largest finite one.
constexpr int kScaleBias = 110;

// The packed bit of each checkpoint bit (nibble v = bits 4v..4v+3: m, e0, e1, s).
GPTOSS_HD uint32_t pack_mxfp4_word(uint32_t w) {
  constexpr int kPackedBit[32] = {6,  7,  8,  15, 9,  10, 11, 18, 12, 13, 14, 21, 3,  4,  0,  1,
                                  22, 23, 24, 31, 25, 26, 27, 2,  28, 29, 30, 5,  19, 20, 16, 17};
  uint32_t r = 0;
  for (int b = 0; b < 32; ++b) r |= ((w >> b) & 1u) << kPackedBit[b];
  return r;
}

GPTOSS_HD uint8_t pack_mxfp4_scale(uint8_t s) { return uint8_t(s + kScaleBias > 254 ? 254 : s + kScaleBias); }
GPTOSS_HD uint8_t unpack_mxfp4_scale(uint8_t f) { return uint8_t(f - kScaleBias); }

GPTOSS_HD uint32_t rotr32(uint32_t w, int r) {
#if defined(__CUDA_ARCH__)
  return __funnelshift_r(w, w, r);
#else
  return (w >> r) | (w << (32 - r));
#endif
}

// bf16x2 bits (unscaled) of nibbles (p, p + 4) of the checkpoint word.
template <int p>
GPTOSS_HD uint32_t fp4_pair_bits_checkpoint(uint32_t w) {
  const uint32_t v = w >> (4 * p);
  return ((v << 6) & 0x01C001C0u) | ((v << 12) & 0x80008000u);
}

// The same from the packed word.
template <int p>
GPTOSS_HD uint32_t fp4_pair_bits_packed(uint32_t w) {
  if constexpr (p == 0) return w & kPairMask;
  else if constexpr (p == 1) return rotr32(w, 3) & kPairMask;
  else if constexpr (p == 2) return rotr32(w, 6) & kPairMask;
  else return ((w & kPair3Bits) * kPair3Spread) & kPairMask;
}

}  // namespace gptoss::cuda
