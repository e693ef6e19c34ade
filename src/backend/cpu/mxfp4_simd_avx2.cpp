// AVX2 + FMA kernels. Only functions marked GPTOSS_AVX2 use these
// instructions, so the binary still runs on CPUs without them; lambdas would
// not inherit the target attribute, hence plain static functions.
//
// Decoding a 16-byte block: broadcast it to both 128-bit lanes, shift the
// high lane right by 4 and mask, so lane 0 holds the low nibbles (even
// values) and lane 1 the high nibbles (odd values). Two vpshufb lookups give
// the low and high bytes of each value's bfloat16 bits; interleaving them
// makes 16-bit words, and a shift (low words) or a mask (high words) turns
// those into float32. No integer-to-float conversion, and only four shuffles
// per 32 values: shuffles are the scarce port on Intel cores.
#include "backend/cpu/mxfp4_simd.h"

#if defined(__x86_64__)
#include <immintrin.h>

#define GPTOSS_AVX2 __attribute__((target("avx2,fma")))
#define GPTOSS_AVX2_INLINE __attribute__((target("avx2,fma"), always_inline)) inline

namespace gptoss::cpu {
namespace {

struct Avx2Consts {
  __m256i lut_low_byte, lut_high_byte, nibble_shift, low_nibble, high_half;
};

// vpshufb tables (one per 128-bit lane): low and high bytes of each E2M1 value's bfloat16 bits.
struct ByteTables {
  alignas(32) uint8_t low[32];
  alignas(32) uint8_t high[32];
};
constexpr ByteTables kBf16Bytes = [] {
  ByteTables t{};
  for (int i = 0; i < 32; ++i) {
    t.low[i] = uint8_t(kE2M1Bf16.v[i & 15] & 0xff);
    t.high[i] = uint8_t(kE2M1Bf16.v[i & 15] >> 8);
  }
  return t;
}();

GPTOSS_AVX2_INLINE Avx2Consts avx2_consts() {
  Avx2Consts c;
  c.lut_low_byte = _mm256_load_si256(reinterpret_cast<const __m256i*>(kBf16Bytes.low));
  c.lut_high_byte = _mm256_load_si256(reinterpret_cast<const __m256i*>(kBf16Bytes.high));
  c.nibble_shift = _mm256_setr_epi32(0, 0, 0, 0, 4, 4, 4, 4);
  c.low_nibble = _mm256_set1_epi8(0x0f);
  c.high_half = _mm256_set1_epi32(int(0xffff0000u));
  return c;
}

// The 32 values of one block, unscaled, as four vectors in permuted order.
GPTOSS_AVX2_INLINE void decode_block(const Avx2Consts& c, const uint8_t* block, __m256 v[4]) {
  const __m256i bytes = _mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(block)));
  const __m256i nib = _mm256_and_si256(_mm256_srlv_epi32(bytes, c.nibble_shift), c.low_nibble);
  const __m256i lo = _mm256_shuffle_epi8(c.lut_low_byte, nib), hi = _mm256_shuffle_epi8(c.lut_high_byte, nib);
  const __m256i w0 = _mm256_unpacklo_epi8(lo, hi), w1 = _mm256_unpackhi_epi8(lo, hi);
  v[0] = _mm256_castsi256_ps(_mm256_slli_epi32(w0, 16));
  v[1] = _mm256_castsi256_ps(_mm256_and_si256(w0, c.high_half));
  v[2] = _mm256_castsi256_ps(_mm256_slli_epi32(w1, 16));
  v[3] = _mm256_castsi256_ps(_mm256_and_si256(w1, c.high_half));
}

// The value decode_block puts at position p: element e = p % 8 of vector
// p / 8 (A0 B0 A1 B1) is word 2q (A) or 2q + 1 (B), q = e % 4, of lane e / 4
// of the low (A0 B0) or high (A1 B1) unpack, whose word m is nibble m (A0 B0)
// or 8 + m (A1 B1) of its lane; lane 0 holds even values, lane 1 odd ones.
constexpr auto kValueAt = [] {
  struct Table {
    uint8_t v[32];
  } t{};
  for (int p = 0; p < 32; ++p) {
    const int vec = p / 8, lane = (p % 8) / 4, q = p % 4;
    t.v[p] = uint8_t(16 * (vec / 2) + 4 * q + 2 * (vec % 2) + lane);
  }
  return t;
}();

GPTOSS_AVX2_INLINE float hsum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

// Each block's four products are summed unscaled, then scaled once.
GPTOSS_AVX2_INLINE __m256 block_dot(const Avx2Consts& c, const uint8_t* block, uint8_t scale, const float* x,
                                    __m256 acc) {
  __m256 v[4];
  decode_block(c, block, v);
  __m256 s = _mm256_mul_ps(v[0], _mm256_loadu_ps(x));
  s = _mm256_fmadd_ps(v[1], _mm256_loadu_ps(x + 8), s);
  s = _mm256_fmadd_ps(v[2], _mm256_loadu_ps(x + 16), s);
  s = _mm256_fmadd_ps(v[3], _mm256_loadu_ps(x + 24), s);
  return _mm256_fmadd_ps(s, _mm256_set1_ps(kE8M0ToF32.v[scale]), acc);
}

// Two accumulators so that consecutive blocks do not wait on each other.
GPTOSS_AVX2 float dot_row_avx2(const uint8_t* blocks, const uint8_t* scales, const float* xp, int n_blocks) {
  const Avx2Consts c = avx2_consts();
  __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
  int b = 0;
  for (; b + 2 <= n_blocks; b += 2) {
    acc0 = block_dot(c, blocks + size_t(b) * kMxfp4BlockBytes, scales[b], xp + size_t(b) * kMxfp4BlockValues, acc0);
    acc1 = block_dot(c, blocks + size_t(b + 1) * kMxfp4BlockBytes, scales[b + 1],
                     xp + size_t(b + 1) * kMxfp4BlockValues, acc1);
  }
  if (b < n_blocks)
    acc0 = block_dot(c, blocks + size_t(b) * kMxfp4BlockBytes, scales[b], xp + size_t(b) * kMxfp4BlockValues, acc0);
  return hsum(_mm256_add_ps(acc0, acc1));
}

GPTOSS_AVX2 void decode_row_avx2(const uint8_t* blocks, const uint8_t* scales, int n_blocks, float* dst) {
  const Avx2Consts c = avx2_consts();
  for (int b = 0; b < n_blocks; ++b) {
    __m256 v[4];
    decode_block(c, blocks + size_t(b) * kMxfp4BlockBytes, v);
    const __m256 s = _mm256_set1_ps(kE8M0ToF32.v[scales[b]]);
    float* d = dst + size_t(b) * kMxfp4BlockValues;
    for (int i = 0; i < 4; ++i) _mm256_storeu_ps(d + 8 * i, _mm256_mul_ps(v[i], s));
  }
}

constexpr int kTileRows = 4, kTileTokens = 2;

// 4 rows x NT tokens of accumulators: 8 of the 16 registers at NT = 2, and
// each loaded row vector feeds NT multiply-adds.
template <int NT>
GPTOSS_AVX2 void dot_tile_n(const float* w, size_t w_stride, const float* const* x, size_t x_offset, int len,
                            float* c, size_t c_stride) {
  __m256 acc[kTileRows][NT];
  const float* xt[NT];
  for (int t = 0; t < NT; ++t) xt[t] = x[t] + x_offset;
  for (int r = 0; r < kTileRows; ++r)
    for (int t = 0; t < NT; ++t) acc[r][t] = _mm256_setzero_ps();
  for (int k = 0; k < len; k += 8) {
    __m256 xv[NT];
    for (int t = 0; t < NT; ++t) xv[t] = _mm256_loadu_ps(xt[t] + k);
#pragma GCC unroll 4
    for (int r = 0; r < kTileRows; ++r) {
      const __m256 wv = _mm256_loadu_ps(w + size_t(r) * w_stride + size_t(k));
      for (int t = 0; t < NT; ++t) acc[r][t] = _mm256_fmadd_ps(wv, xv[t], acc[r][t]);
    }
  }
  for (int t = 0; t < NT; ++t)
    for (int r = 0; r < kTileRows; ++r) c[size_t(t) * c_stride + size_t(r)] += hsum(acc[r][t]);
}

GPTOSS_AVX2 void dot_tile_avx2(const float* w, size_t w_stride, const float* const* x, size_t x_offset, int n_tokens,
                               int len, float* c, size_t c_stride) {
  if (n_tokens == 2)
    dot_tile_n<2>(w, w_stride, x, x_offset, len, c, c_stride);
  else
    dot_tile_n<1>(w, w_stride, x, x_offset, len, c, c_stride);
}

constexpr Mxfp4Kernels kAvx2 = make_mxfp4_kernels("avx2", [](int p) { return kValueAt.v[p]; }, kTileRows, kTileTokens,
                                                 dot_row_avx2, decode_row_avx2, dot_tile_avx2);

}  // namespace

const Mxfp4Kernels* mxfp4_kernels_avx2() { return &kAvx2; }

}  // namespace gptoss::cpu

#else

namespace gptoss::cpu {
const Mxfp4Kernels* mxfp4_kernels_avx2() { return nullptr; }
}  // namespace gptoss::cpu

#endif
