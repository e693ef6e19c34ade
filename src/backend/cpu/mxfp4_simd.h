#pragma once
// The per-instruction-set MXFP4 kernels that moe_forward is built from, and
// the hooks tests and benchmarks use to run one named path. Not for other
// callers: moe_cpu.h is the interface.
//
// Each SIMD decoder produces a block's 32 values in the order its shuffles
// make cheapest, not in memory order. Rather than interleave the decoded
// values back, the activations are permuted once per token into that order
// (value_at), so every dot product pairs the right elements.
#include <bit>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "backend/cpu/moe_cpu.h"
#include "core/mxfp4.h"

namespace gptoss::cpu {

struct Mxfp4Kernels {
  const char* name;  // "scalar", "avx2" or "avx512"
  // Position p of a permuted 32-value block holds value value_at[p] of the block.
  uint8_t value_at[32];
  // Rows of dot_tile, and its most tokens per call.
  int tile_rows, tile_tokens;

  // One row of n_blocks MXFP4 blocks dotted with permuted activations xp.
  float (*dot_row)(const uint8_t* blocks, const uint8_t* scales, const float* xp, int n_blocks);
  // One row dequantised into dst, in permuted order.
  void (*decode_row)(const uint8_t* blocks, const uint8_t* scales, int n_blocks, float* dst);
  // c[t * c_stride + r] += sum_{k < len} w[r * w_stride + k] * x[t][x_offset + k]
  // for r < tile_rows, t < n_tokens <= tile_tokens; len is a multiple of 32.
  void (*dot_tile)(const float* w, size_t w_stride, const float* const* x, size_t x_offset, int n_tokens, int len,
                   float* c, size_t c_stride);
};

// One path's table; value_at(p) is the value index its decoder puts at position p.
template <typename ValueAt>
constexpr Mxfp4Kernels make_mxfp4_kernels(const char* name, ValueAt value_at, int tile_rows, int tile_tokens,
                                          decltype(Mxfp4Kernels::dot_row) dot_row,
                                          decltype(Mxfp4Kernels::decode_row) decode_row,
                                          decltype(Mxfp4Kernels::dot_tile) dot_tile) {
  Mxfp4Kernels k{};
  k.name = name;
  for (int p = 0; p < 32; ++p) k.value_at[p] = uint8_t(value_at(p));
  k.tile_rows = tile_rows;
  k.tile_tokens = tile_tokens;
  k.dot_row = dot_row;
  k.decode_row = decode_row;
  k.dot_tile = dot_tile;
  return k;
}

const Mxfp4Kernels& mxfp4_kernels_scalar();
// nullptr when this build has no such path (not x86-64); whether the CPU
// runs it is mxfp4_kernels_named's question.
const Mxfp4Kernels* mxfp4_kernels_avx2();
const Mxfp4Kernels* mxfp4_kernels_avx512();

// The kernels of path "scalar", "avx2" or "avx512" if this CPU runs them, else nullptr.
const Mxfp4Kernels* mxfp4_kernels_named(std::string_view path);

// moe_forward with the given kernels instead of the dispatched ones.
void moe_forward_with(const Mxfp4Kernels& kernels, const MoeExperts& w, const float* h, int T, const int32_t* ids,
                      const float* weights, int K, float* out, ThreadPool& pool);

// 2^(s - 127) for every E8M0 scale byte, from the exponent bits (s = 0 is the
// subnormal 2^-127, s = 255 infinity, as std::ldexp gives them).
inline constexpr auto kE8M0ToF32 = [] {
  struct Table {
    float v[256];
  } t{};
  for (uint32_t s = 0; s < 256; ++s) t.v[s] = std::bit_cast<float>(s == 0 ? 0x00400000u : s << 23);
  return t;
}();

// The 16 E2M1 values as bfloat16 bits: each is exact in bfloat16, so a
// 16-bit table lookup followed by a 16-bit shift gives the float32 value.
inline constexpr auto kE2M1Bf16 = [] {
  struct Table {
    uint16_t v[16];
  } t{};
  for (int i = 0; i < 16; ++i) t.v[i] = uint16_t(std::bit_cast<uint32_t>(kFp4E2M1Values[i]) >> 16);
  return t;
}();
static_assert([] {
  for (float v : kFp4E2M1Values)
    if ((std::bit_cast<uint32_t>(v) & 0xffffu) != 0) return false;
  return true;
}(), "every E2M1 value must be exact in bfloat16");

}  // namespace gptoss::cpu
