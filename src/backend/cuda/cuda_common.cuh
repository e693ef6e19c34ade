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
// Sum over the whole block, returned to every thread (blockDim a multiple of
// 32, at most 1024). Contains __syncthreads: call it from every thread.
__device__ __forceinline__ float block_sum(float v) {
  __shared__ float partial[32];
  __shared__ float total;
  v = warp_sum(v);
  if ((threadIdx.x & 31) == 0) partial[threadIdx.x >> 5] = v;
  __syncthreads();
  if (threadIdx.x < 32) {
    float p = threadIdx.x < (blockDim.x >> 5) ? partial[threadIdx.x] : 0.0f;
    p = warp_sum(p);
    if (threadIdx.x == 0) total = p;
  }
  __syncthreads();
  return total;
}

__device__ __forceinline__ float warp_max(float v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}

// Values 4 i4 .. 4 i4 + 3 of a row, as bf16 in the MMA layout (within each
// 8 values the order 0 4 1 5 2 6 3 7; this thread holds half h = i4 & 1 of
// its group of 8).
__device__ __forceinline__ void store_mma_layout4(uint16_t* row, int i4, const float (&o)[4]) {
  uint16_t* g8 = row + 8 * size_t(i4 >> 1);
  const int h = i4 & 1;
#pragma unroll
  for (int j = 0; j < 4; ++j) g8[2 * j + h] = f2bf(o[j]);
}

// Permuted position of value i within the MMA layout.
__device__ __forceinline__ int mma_pos(int i) { return (i & ~7) | ((i & 3) << 1) | ((i >> 2) & 1); }

// FP4 E2M1 code -> value
__device__ __forceinline__ float fp4_value(uint32_t nib) {
  const float mag[8] = {0.0f, 0.5f, 1.0f, 1.5f, 2.0f, 3.0f, 4.0f, 6.0f};
  float v = mag[nib & 7];
  return (nib & 8) ? -v : v;
}

// c += A(16x16, row-major) * B(16x8, col-major), bf16 in, float32 accumulate,
// with the PTX fragment layout of mma.m16n8k16 (g = lane / 4, t = lane % 4):
// a0 (row g, k 2t..2t+1), a1 (row g+8, same k), a2 (row g, k 2t+8..2t+9),
// a3 (row g+8, k 2t+8..); b0 (k 2t..2t+1, col g), b1 (k 2t+8.., col g);
// c0, c1 (row g, cols 2t, 2t+1), c2, c3 (row g+8, same cols).
// Before sm_80 (no bf16 tensor cores) the same product through shuffles: slow,
// but it keeps every architecture we build for correct.
__device__ __forceinline__ void mma_bf16_16816(float (&c)[4], uint32_t a0, uint32_t a1, uint32_t a2, uint32_t a3,
                                               uint32_t b0, uint32_t b1) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  asm("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
      : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
      : "r"(a0), "r"(a1), "r"(a2), "r"(a3), "r"(b0), "r"(b1));
#else
  const int lane = threadIdx.x & 31, g = lane >> 2, t = lane & 3;
  auto lo = [](uint32_t v) { return __uint_as_float(v << 16); };
  auto hi = [](uint32_t v) { return __uint_as_float(v & 0xffff0000u); };
  for (int q = 0; q < 4; ++q) {
    const uint32_t ra0 = __shfl_sync(0xffffffffu, a0, 4 * g + q), ra1 = __shfl_sync(0xffffffffu, a1, 4 * g + q);
    const uint32_t ra2 = __shfl_sync(0xffffffffu, a2, 4 * g + q), ra3 = __shfl_sync(0xffffffffu, a3, 4 * g + q);
    const uint32_t x0 = __shfl_sync(0xffffffffu, b0, 8 * t + q), x1 = __shfl_sync(0xffffffffu, b1, 8 * t + q);
    const uint32_t y0 = __shfl_sync(0xffffffffu, b0, 8 * t + 4 + q), y1 = __shfl_sync(0xffffffffu, b1, 8 * t + 4 + q);
    c[0] += lo(ra0) * lo(x0) + hi(ra0) * hi(x0) + lo(ra2) * lo(x1) + hi(ra2) * hi(x1);
    c[1] += lo(ra0) * lo(y0) + hi(ra0) * hi(y0) + lo(ra2) * lo(y1) + hi(ra2) * hi(y1);
    c[2] += lo(ra1) * lo(x0) + hi(ra1) * hi(x0) + lo(ra3) * lo(x1) + hi(ra3) * hi(x1);
    c[3] += lo(ra1) * lo(y0) + hi(ra1) * hi(y0) + lo(ra3) * lo(y1) + hi(ra3) * hi(y1);
  }
#endif
}

// Elementwise bf16x2 product (exact for the powers of two it is used with).
__device__ __forceinline__ uint32_t bf16x2_mul(uint32_t a, uint32_t b) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  uint32_t d;
  asm("fma.rn.bf16x2 %0, %1, %2, %3;\n" : "=r"(d) : "r"(a), "r"(b), "r"(0x80008000u));
  return d;
#else
  const float l = __uint_as_float(a << 16) * __uint_as_float(b << 16);
  const float h = __uint_as_float(a & 0xffff0000u) * __uint_as_float(b & 0xffff0000u);
  return uint32_t(f2bf(l)) | (uint32_t(f2bf(h)) << 16);
#endif
}

__device__ __forceinline__ uint32_t pack_bf16x2(float lo, float hi) {
  return uint32_t(f2bf(lo)) | (uint32_t(f2bf(hi)) << 16);
}

// Four bf16 values (two packed words) as floats.
__device__ __forceinline__ float4 bf16x4_to_float4(uint2 w) {
  return make_float4(bf2f(uint16_t(w.x)), bf2f(uint16_t(w.x >> 16)), bf2f(uint16_t(w.y)), bf2f(uint16_t(w.y >> 16)));
}

// RMSNorm of a thread's 4 values of a row whose squares sum to ss:
// o = (v * rsqrt(ss / H + eps)) * w, w being the 4 bf16 weights in wb.
__device__ __forceinline__ void rmsnorm4(float4 v, float ss, uint2 wb, int H, float eps, float (&o)[4]) {
  const float r = rsqrtf(ss / float(H) + eps);
  const float4 w = bf16x4_to_float4(wb);
  o[0] = v.x * r * w.x, o[1] = v.y * r * w.y, o[2] = v.z * r * w.z, o[3] = v.w * r * w.w;
}

// The dot product of 8 bf16 weights and 8 bf16 inputs, as the one-row
// kernels sum it (row_gemv_bf16, and the exact pass of the bounded
// unembedding, which must get the same logits).
__device__ __forceinline__ float row_dot1(const uint4& w, const uint4& x) {
  const uint32_t* wv = reinterpret_cast<const uint32_t*>(&w);
  const uint32_t* xv = reinterpret_cast<const uint32_t*>(&x);
  float acc = 0.0f;
#pragma unroll
  for (int j = 0; j < 4; ++j)
    acc += __uint_as_float(wv[j] << 16) * __uint_as_float(xv[j] << 16) +
           __uint_as_float(wv[j] & 0xffff0000u) * __uint_as_float(xv[j] & 0xffff0000u);
  return acc;
}

inline int ceil_div(int a, int b) { return (a + b - 1) / b; }

// Threads of the row kernels that give each thread 4 values of a row of H
// (H <= 4096): whole warps.
inline int row_threads(int H) {
  const int t = ceil_div(ceil_div(H, 4), 32) * 32;
  return t < 1024 ? t : 1024;
}

}  // namespace gptoss::cuda
