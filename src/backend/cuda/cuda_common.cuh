#pragma once
// Device helpers shared by the kernels.
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cstdint>

namespace gptoss::cuda {

__device__ __forceinline__ float bf2f(uint16_t v) { return __uint_as_float(uint32_t(v) << 16); }
__device__ __forceinline__ uint16_t f2bf(float f) {
  __nv_bfloat16 b = __float2bfloat16_rn(f);
  return *reinterpret_cast<uint16_t*>(&b);
}

__device__ __forceinline__ float warp_sum(float v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}
__device__ __forceinline__ float warp_max(float v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}

// FP4 E2M1 code -> value
__device__ __forceinline__ float fp4_value(uint32_t nib) {
  const float mag[8] = {0.0f, 0.5f, 1.0f, 1.5f, 2.0f, 3.0f, 4.0f, 6.0f};
  float v = mag[nib & 7];
  return (nib & 8) ? -v : v;
}

inline int ceil_div(int a, int b) { return (a + b - 1) / b; }

}  // namespace gptoss::cuda
