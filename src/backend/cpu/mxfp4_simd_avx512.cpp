// AVX-512 (F + BW) kernels; see mxfp4_simd_avx2.cpp for why only marked
// functions carry the target attribute.
//
// Decoding a 16-byte block: broadcast it to all four 128-bit lanes and shift
// each dword of lane L right by 4L. Dword d of the block holds values
// 8d..8d+7 as nibbles 0..7, so now the low 16-bit word of each dword has
// value 8d+L in its low four bits and the high word value 8d+4+L. vpermw
// (AVX-512BW) reads only the low five bits of each word, so one lookup in a
// 32-entry table of bfloat16 bits (the 16 values twice) turns every word into
// its value, junk above the nibble and all; a shift (low words) and a mask
// (high words) make float32. One shuffle per 32 values.
#include "backend/cpu/mxfp4_simd.h"

#if defined(__x86_64__)
// GCC 12's AVX-512 intrinsics start from _mm512_undefined_*() and trip
// -Wuninitialized once inlined (GCC bug 105593, fixed in 13).
#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ < 13
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <immintrin.h>

#define GPTOSS_AVX512 __attribute__((target("avx512f,avx512bw")))
#define GPTOSS_AVX512_INLINE __attribute__((target("avx512f,avx512bw"), always_inline)) inline

namespace gptoss::cpu {
namespace {

struct Avx512Consts {
  __m512i lut, nibble_shift, high_half;
};

struct WordTable {
  alignas(64) uint16_t v[32];
};
constexpr WordTable kBf16Words = [] {
  WordTable t{};
  for (int i = 0; i < 32; ++i) t.v[i] = kE2M1Bf16.v[i & 15];
  return t;
}();

GPTOSS_AVX512_INLINE Avx512Consts avx512_consts() {
  Avx512Consts c;
  c.lut = _mm512_load_si512(kBf16Words.v);
  c.nibble_shift = _mm512_setr_epi32(0, 0, 0, 0, 4, 4, 4, 4, 8, 8, 8, 8, 12, 12, 12, 12);
  c.high_half = _mm512_set1_epi32(int(0xffff0000u));
  return c;
}

// The 32 values of one block, unscaled, as two vectors in permuted order.
GPTOSS_AVX512_INLINE void decode_block(const Avx512Consts& c, const uint8_t* block, __m512& a, __m512& b) {
  const __m512i bytes = _mm512_broadcast_i32x4(_mm_loadu_si128(reinterpret_cast<const __m128i*>(block)));
  const __m512i words = _mm512_permutexvar_epi16(_mm512_srlv_epi32(bytes, c.nibble_shift), c.lut);
  a = _mm512_castsi512_ps(_mm512_slli_epi32(words, 16));
  b = _mm512_castsi512_ps(_mm512_and_si512(words, c.high_half));
}

// Element 4L + d of the first vector is value 8d + L, of the second 8d + 4 + L.
constexpr auto kValueAt = [] {
  struct Table {
    uint8_t v[32];
  } t{};
  for (int p = 0; p < 32; ++p) {
    const int lane = (p % 16) / 4, d = p % 4;
    t.v[p] = uint8_t(8 * d + 4 * (p / 16) + lane);
  }
  return t;
}();

GPTOSS_AVX512_INLINE __m512 block_dot(const Avx512Consts& c, const uint8_t* block, uint8_t scale, const float* x,
                                      __m512 acc) {
  __m512 a, b;
  decode_block(c, block, a, b);
  const __m512 s = _mm512_fmadd_ps(b, _mm512_loadu_ps(x + 16), _mm512_mul_ps(a, _mm512_loadu_ps(x)));
  return _mm512_fmadd_ps(s, _mm512_set1_ps(kE8M0ToF32.v[scale]), acc);
}

GPTOSS_AVX512 float dot_row_avx512(const uint8_t* blocks, const uint8_t* scales, const float* xp, int n_blocks) {
  const Avx512Consts c = avx512_consts();
  __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();
  int b = 0;
  for (; b + 2 <= n_blocks; b += 2) {
    acc0 = block_dot(c, blocks + size_t(b) * kMxfp4BlockBytes, scales[b], xp + size_t(b) * kMxfp4BlockValues, acc0);
    acc1 = block_dot(c, blocks + size_t(b + 1) * kMxfp4BlockBytes, scales[b + 1],
                     xp + size_t(b + 1) * kMxfp4BlockValues, acc1);
  }
  if (b < n_blocks)
    acc0 = block_dot(c, blocks + size_t(b) * kMxfp4BlockBytes, scales[b], xp + size_t(b) * kMxfp4BlockValues, acc0);
  return _mm512_reduce_add_ps(_mm512_add_ps(acc0, acc1));
}

GPTOSS_AVX512 void decode_row_avx512(const uint8_t* blocks, const uint8_t* scales, int n_blocks, float* dst) {
  const Avx512Consts c = avx512_consts();
  for (int b = 0; b < n_blocks; ++b) {
    __m512 a, v;
    decode_block(c, blocks + size_t(b) * kMxfp4BlockBytes, a, v);
    const __m512 s = _mm512_set1_ps(kE8M0ToF32.v[scales[b]]);
    float* d = dst + size_t(b) * kMxfp4BlockValues;
    _mm512_storeu_ps(d, _mm512_mul_ps(a, s));
    _mm512_storeu_ps(d + 16, _mm512_mul_ps(v, s));
  }
}

constexpr int kTileRows = 4, kTileTokens = 4;

// 4 rows x NT tokens: 16 of the 32 registers at NT = 4.
template <int NT>
GPTOSS_AVX512 void dot_tile_n(const float* w, size_t w_stride, const float* const* x, size_t x_offset, int len,
                              float* c, size_t c_stride) {
  __m512 acc[kTileRows][NT];
  const float* xt[NT];
  for (int t = 0; t < NT; ++t) xt[t] = x[t] + x_offset;
  for (int r = 0; r < kTileRows; ++r)
    for (int t = 0; t < NT; ++t) acc[r][t] = _mm512_setzero_ps();
  for (int k = 0; k < len; k += 16) {
    __m512 xv[NT];
    for (int t = 0; t < NT; ++t) xv[t] = _mm512_loadu_ps(xt[t] + k);
#pragma GCC unroll 4
    for (int r = 0; r < kTileRows; ++r) {
      const __m512 wv = _mm512_loadu_ps(w + size_t(r) * w_stride + size_t(k));
      for (int t = 0; t < NT; ++t) acc[r][t] = _mm512_fmadd_ps(wv, xv[t], acc[r][t]);
    }
  }
  for (int t = 0; t < NT; ++t)
    for (int r = 0; r < kTileRows; ++r) c[size_t(t) * c_stride + size_t(r)] += _mm512_reduce_add_ps(acc[r][t]);
}

GPTOSS_AVX512 void dot_tile_avx512(const float* w, size_t w_stride, const float* const* x, size_t x_offset,
                                   int n_tokens, int len, float* c, size_t c_stride) {
  switch (n_tokens) {
    case 4: return dot_tile_n<4>(w, w_stride, x, x_offset, len, c, c_stride);
    case 3: return dot_tile_n<3>(w, w_stride, x, x_offset, len, c, c_stride);
    case 2: return dot_tile_n<2>(w, w_stride, x, x_offset, len, c, c_stride);
    default: return dot_tile_n<1>(w, w_stride, x, x_offset, len, c, c_stride);
  }
}

constexpr Mxfp4Kernels kAvx512 = make_mxfp4_kernels("avx512", [](int p) { return kValueAt.v[p]; }, kTileRows, kTileTokens,
                                                 dot_row_avx512, decode_row_avx512, dot_tile_avx512);

}  // namespace

const Mxfp4Kernels* mxfp4_kernels_avx512() { return &kAvx512; }

}  // namespace gptoss::cpu

#else

namespace gptoss::cpu {
const Mxfp4Kernels* mxfp4_kernels_avx512() { return nullptr; }
}  // namespace gptoss::cpu

#endif
