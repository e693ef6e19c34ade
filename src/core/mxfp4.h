#pragma once
// MXFP4 as gpt-oss stores it: blocks of 32 FP4 (E2M1) values sharing one E8M0
// scale byte. Byte j of a 16-byte block holds value 2j (low nibble) and 2j+1
// (high nibble); the scale byte s multiplies the block by 2^(s-127).
#include <cmath>
#include <cstdint>

namespace gptoss {

inline constexpr int kMxfp4BlockValues = 32;
inline constexpr int kMxfp4BlockBytes = 16;

inline constexpr float kFp4E2M1Values[16] = {
    +0.0f, +0.5f, +1.0f, +1.5f, +2.0f, +3.0f, +4.0f, +6.0f,
    -0.0f, -0.5f, -1.0f, -1.5f, -2.0f, -3.0f, -4.0f, -6.0f};

inline float e8m0_to_f32(uint8_t s) { return std::ldexp(1.0f, int(s) - 127); }

// Dequantises one block of 32 values.
inline void dequant_mxfp4_block(const uint8_t* block16, uint8_t scale, float* out32) {
  const float m = e8m0_to_f32(scale);
  for (int j = 0; j < kMxfp4BlockBytes; ++j) {
    out32[2 * j] = kFp4E2M1Values[block16[j] & 0xf] * m;
    out32[2 * j + 1] = kFp4E2M1Values[block16[j] >> 4] * m;
  }
}

}  // namespace gptoss
