#pragma once
// Hopper warpgroup MMA (wgmma) from shared memory, for the kernels compiled
// for sm_90a: 128 threads (4 warps) issue one m64nNk16 product whose operands
// the tensor cores read straight from shared memory through descriptors,
// asynchronously; no ldmatrix, no fragments in registers. Empty elsewhere
// (callers launch those kernels only where wgmma_available() says so).
//
// Operands here are K-major tiles in the 128-byte swizzle: rows of 64 bf16
// (128 bytes) at a 128-byte stride, 8-row atoms of 1024 bytes (aligned to
// 1024), 16-byte chunk c of row r stored at chunk c ^ (r % 8). The k16 slice
// s (0..3) of such a tile starts 32 * s bytes in: the hardware applies the
// swizzle to the address it computes.
#include <cstdint>

namespace gptoss::cuda {

#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900 && defined(__CUDA_ARCH_FEAT_SM90_ALL)
#define GPTOSS_WGMMA 1
#endif

// Descriptor of a K-major, 128-byte-swizzled tile starting at smem.
__device__ __forceinline__ uint64_t wgmma_desc_sw128(const void* smem) {
  const uint64_t addr = static_cast<uint32_t>(__cvta_generic_to_shared(smem));
  return ((addr & 0x3FFFF) >> 4) | (uint64_t(1) << 16) /* leading byte offset: unused */ |
         (uint64_t(1024 >> 4) << 32) /* 8-row atoms 1024 bytes apart */ | (uint64_t(1) << 62) /* 128B swizzle */;
}

// Orders earlier register and shared-memory writes before the next wgmma.
__device__ __forceinline__ void wgmma_fence() {
#ifdef GPTOSS_WGMMA
  asm volatile("wgmma.fence.sync.aligned;\n" ::: "memory");
#endif
}
// Keeps the compiler from moving accumulator registers across the products
// (it would then fence each one: ptxas advisory C7519).
template <int N>
__device__ __forceinline__ void wgmma_fence_operands(float (&d)[N]) {
#pragma unroll
  for (int i = 0; i < N; ++i) asm volatile("" : "+f"(d[i])::"memory");
}
__device__ __forceinline__ void wgmma_commit() {
#ifdef GPTOSS_WGMMA
  asm volatile("wgmma.commit_group.sync.aligned;\n" ::: "memory");
#endif
}
template <int N>
__device__ __forceinline__ void wgmma_wait() {
#ifdef GPTOSS_WGMMA
  asm volatile("wgmma.wait_group.sync.aligned %0;\n" ::"n"(N) : "memory");
#endif
}
// Makes this thread's generic-proxy shared-memory writes (st.shared,
// cp.async) visible to the async proxy that wgmma reads through.
__device__ __forceinline__ void fence_proxy_async_smem() {
#ifdef GPTOSS_WGMMA
  asm volatile("fence.proxy.async.shared::cta;\n" ::: "memory");
#endif
}

// d (64 x 128, float) += A (64 x 16, desc a) * B (128 x 16, desc b)^T, bf16.
// Thread (warp w of the group, lane 4g + t) holds d[4j + h] = D[16w + g + 8(h / 2)][8j + 2t + h % 2].
__device__ __forceinline__ void wgmma_m64n128k16_bf16(float (&d)[64], uint64_t a, uint64_t b) {
#ifdef GPTOSS_WGMMA
  // scale-d is a predicate (true: accumulate); scale-a/b 1, A and B K-major.
  asm volatile(
      "{\n.reg .pred p;\nsetp.ne.b32 p, %66, 0;\n"
      "wgmma.mma_async.sync.aligned.m64n128k16.f32.bf16.bf16 "
      "{%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31, %32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, %44, %45, %46, %47, %48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, %62, %63}, %64, %65, p, 1, 1, 0, 0;\n}\n"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]), "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]), "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]), "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31]), "+f"(d[32]), "+f"(d[33]), "+f"(d[34]), "+f"(d[35]), "+f"(d[36]), "+f"(d[37]), "+f"(d[38]), "+f"(d[39]), "+f"(d[40]), "+f"(d[41]), "+f"(d[42]), "+f"(d[43]), "+f"(d[44]), "+f"(d[45]), "+f"(d[46]), "+f"(d[47]), "+f"(d[48]), "+f"(d[49]), "+f"(d[50]), "+f"(d[51]), "+f"(d[52]), "+f"(d[53]), "+f"(d[54]), "+f"(d[55]), "+f"(d[56]), "+f"(d[57]), "+f"(d[58]), "+f"(d[59]), "+f"(d[60]), "+f"(d[61]), "+f"(d[62]), "+f"(d[63])
      : "l"(a), "l"(b), "r"(1));
#else
  (void)d, (void)a, (void)b;
#endif
}

// d (64 x 64, float) += A (64 x 16, desc a) * B (64 x 16, desc b)^T, bf16; d's layout as above, j < 8.
__device__ __forceinline__ void wgmma_m64n64k16_bf16(float (&d)[32], uint64_t a, uint64_t b) {
#ifdef GPTOSS_WGMMA
  asm volatile(
      "{\n.reg .pred p;\nsetp.ne.b32 p, %34, 0;\n"
      "wgmma.mma_async.sync.aligned.m64n64k16.f32.bf16.bf16 "
      "{%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31}, %32, %33, p, 1, 1, 0, 0;\n}\n"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]), "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]), "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]), "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31])
      : "l"(a), "l"(b), "r"(1));
#else
  (void)d, (void)a, (void)b;
#endif
}

// d (64 x 16, float) += A (64 x 16, desc a) * B (16 x 16, desc b)^T, bf16; d's layout as above, j < 2.
__device__ __forceinline__ void wgmma_m64n16k16_bf16(float (&d)[8], uint64_t a, uint64_t b) {
#ifdef GPTOSS_WGMMA
  asm volatile(
      "{\n.reg .pred p;\nsetp.ne.b32 p, %10, 0;\n"
      "wgmma.mma_async.sync.aligned.m64n16k16.f32.bf16.bf16 "
      "{%0, %1, %2, %3, %4, %5, %6, %7}, %8, %9, p, 1, 1, 0, 0;\n}\n"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7])
      : "l"(a), "l"(b), "r"(1));
#else
  (void)d, (void)a, (void)b;
#endif
}

// d (64 x 32, float) += A (64 x 16, desc a) * B (32 x 16, desc b)^T, bf16; d's layout as above, j < 4.
__device__ __forceinline__ void wgmma_m64n32k16_bf16(float (&d)[16], uint64_t a, uint64_t b) {
#ifdef GPTOSS_WGMMA
  asm volatile(
      "{\n.reg .pred p;\nsetp.ne.b32 p, %18, 0;\n"
      "wgmma.mma_async.sync.aligned.m64n32k16.f32.bf16.bf16 "
      "{%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15}, %16, %17, p, 1, 1, 0, 0;\n}\n"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]), "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15])
      : "l"(a), "l"(b), "r"(1));
#else
  (void)d, (void)a, (void)b;
#endif
}

// d (64 x 48, float) += A (64 x 16, desc a) * B (48 x 16, desc b)^T, bf16; d's layout as above, j < 6.
__device__ __forceinline__ void wgmma_m64n48k16_bf16(float (&d)[24], uint64_t a, uint64_t b) {
#ifdef GPTOSS_WGMMA
  asm volatile(
      "{\n.reg .pred p;\nsetp.ne.b32 p, %26, 0;\n"
      "wgmma.mma_async.sync.aligned.m64n48k16.f32.bf16.bf16 "
      "{%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, %19, %20, %21, %22, %23}, %24, %25, p, 1, 1, 0, 0;\n}\n"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]), "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]), "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23])
      : "l"(a), "l"(b), "r"(1));
#else
  (void)d, (void)a, (void)b;
#endif
}

// One chunk's products by a warpgroup: product(s) for the k16 steps
// s < steps (at most kMax), then one commit. A whole chunk is unrolled (a
// break between products would make ptxas fence every one); only a row's
// last chunk may be shorter.
template <int kMax, int N, class Product>
__device__ __forceinline__ void wgmma_chunk(float (&acc)[N], int steps, Product product) {
  wgmma_fence_operands(acc);
  wgmma_fence();
  if (steps == kMax) {
#pragma unroll
    for (int s = 0; s < kMax; ++s) product(s);
  } else {
    for (int s = 0; s < steps; ++s) product(s);
  }
  wgmma_commit();
}

// The product of width N (16, 32, 48, 64 or 128 slots or rows).
template <int N>
__device__ __forceinline__ void wgmma_m64nNk16_bf16(float (&d)[N / 2], uint64_t a, uint64_t b) {
  if constexpr (N == 16) wgmma_m64n16k16_bf16(d, a, b);
  else if constexpr (N == 32) wgmma_m64n32k16_bf16(d, a, b);
  else if constexpr (N == 48) wgmma_m64n48k16_bf16(d, a, b);
  else if constexpr (N == 64) wgmma_m64n64k16_bf16(d, a, b);
  else wgmma_m64n128k16_bf16(d, a, b);
}

// Index of 16-byte chunk c of row r in a K-major tile of kRows rows whose
// 128 bf16 per row are two 64-wide halves, each 128-byte swizzled (above).
template <int kRows>
struct Sw128 {
  __device__ __forceinline__ int operator()(int r, int c) const {
    return (c >> 3) * (kRows * 8) + r * 8 + ((c & 7) ^ (r & 7));
  }
};

}  // namespace gptoss::cuda
