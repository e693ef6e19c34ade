// The portable path: memory order (no permutation), plain loops. It is the
// fallback for CPUs without AVX2 and the baseline the SIMD paths are timed
// against.
#include "backend/cpu/mxfp4_simd.h"

namespace gptoss::cpu {
namespace {

float dot_row_scalar(const uint8_t* blocks, const uint8_t* scales, const float* x, int n_blocks) {
  float acc = 0.0f;
  for (int b = 0; b < n_blocks; ++b, blocks += kMxfp4BlockBytes, x += kMxfp4BlockValues) {
    // Four partial sums per block so that no one chain is 32 additions long.
    float part[4] = {0, 0, 0, 0};
    for (int j = 0; j < kMxfp4BlockBytes; j += 2) {
      part[0] += kFp4E2M1Values[blocks[j] & 0xf] * x[2 * j];
      part[1] += kFp4E2M1Values[blocks[j] >> 4] * x[2 * j + 1];
      part[2] += kFp4E2M1Values[blocks[j + 1] & 0xf] * x[2 * j + 2];
      part[3] += kFp4E2M1Values[blocks[j + 1] >> 4] * x[2 * j + 3];
    }
    acc += ((part[0] + part[1]) + (part[2] + part[3])) * kE8M0ToF32.v[scales[b]];
  }
  return acc;
}

void decode_row_scalar(const uint8_t* blocks, const uint8_t* scales, int n_blocks, float* dst) {
  for (int b = 0; b < n_blocks; ++b, blocks += kMxfp4BlockBytes, dst += kMxfp4BlockValues) {
    const float s = kE8M0ToF32.v[scales[b]];
    for (int j = 0; j < kMxfp4BlockBytes; ++j) {
      dst[2 * j] = kFp4E2M1Values[blocks[j] & 0xf] * s;
      dst[2 * j + 1] = kFp4E2M1Values[blocks[j] >> 4] * s;
    }
  }
}

constexpr int kTileRows = 4, kTileTokens = 2;

void dot_tile_scalar(const float* w, size_t w_stride, const float* const* x, size_t x_offset, int n_tokens, int len,
                     float* c, size_t c_stride) {
  for (int t = 0; t < n_tokens; ++t) {
    const float* xt = x[t] + x_offset;
    for (int r = 0; r < kTileRows; ++r) {
      const float* wr = w + size_t(r) * w_stride;
      float part[4] = {0, 0, 0, 0};
      for (int k = 0; k < len; k += 4)
        for (int i = 0; i < 4; ++i) part[i] += wr[k + i] * xt[k + i];
      c[size_t(t) * c_stride + size_t(r)] += (part[0] + part[1]) + (part[2] + part[3]);
    }
  }
}

constexpr Mxfp4Kernels kScalar = make_mxfp4_kernels("scalar", [](int p) { return uint8_t(p); }, kTileRows, kTileTokens,
                                                 dot_row_scalar, decode_row_scalar, dot_tile_scalar);

}  // namespace

const Mxfp4Kernels& mxfp4_kernels_scalar() { return kScalar; }

}  // namespace gptoss::cpu
