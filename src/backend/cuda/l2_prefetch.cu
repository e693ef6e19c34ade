// Pulls weights into L2 ahead of the kernel that reads them (model/l2_prefetcher.h).
#include "backend/cuda/cuda_common.cuh"
#include "backend/cuda/cuda_kernels.h"

namespace gptoss::cuda {

namespace {

constexpr size_t kLine = 128;

// One prefetch per 128-byte line: a hint that never faults on valid addresses
// and returns at once, so a few blocks keep the memory system busy.
__global__ void prefetch_l2_kernel(const char* p, size_t lines) {
  for (size_t i = size_t(blockIdx.x) * blockDim.x + threadIdx.x; i < lines; i += size_t(gridDim.x) * blockDim.x)
    asm volatile("prefetch.global.L2 [%0];\n" ::"l"(p + i * kLine));
}

}  // namespace

void prefetch_l2(const void* p, size_t bytes, cudaStream_t s) {
  const size_t lines = (bytes + kLine - 1) / kLine;
  if (lines) prefetch_l2_kernel<<<32, 256, 0, s>>>(static_cast<const char*>(p), lines);
}

}  // namespace gptoss::cuda
