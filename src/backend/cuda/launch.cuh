#pragma once
// Kernel launches that may overlap the previous kernel on the stream
// (programmatic dependent launch, compute capability 9.0 and later).
//
// A decode step is ~250 short kernels, and between two dependent kernels the
// GPU otherwise idles: the next grid is launched only after the previous one
// has drained and flushed. With launch() the next grid's blocks start as soon
// as every block of the previous one has passed pdl_enter(); they may prefetch
// weights (never written during a step) and then wait in their own
// pdl_enter() until the previous grid has completed and its writes are visible.
//
// Rules for a kernel launched this way: every block calls pdl_enter() before
// it reads anything an earlier kernel wrote or writes anything (also blocks
// that then exit early), so that a grid's completion implies its
// predecessors'. Nothing an earlier kernel wrote may be read before
// pdl_enter(), not even the output of a kernel known to have completed: a
// block that has not waited may see stale lines in its SM's L1.
#include <cuda_runtime.h>

#include "backend/cuda/cuda_check.h"

namespace gptoss::cuda {

// Whether launches overlap: a device that supports it, unless GPTOSS_PDL=0
// (per current device).
bool pdl_enabled();

template <typename... Params, typename... Args>
void launch_smem(void (*kernel)(Params...), dim3 grid, dim3 block, size_t smem, cudaStream_t s, Args... args) {
  cudaLaunchAttribute attr{};
  attr.id = cudaLaunchAttributeProgrammaticStreamSerialization;
  attr.val.programmaticStreamSerializationAllowed = 1;
  cudaLaunchConfig_t cfg{};
  cfg.gridDim = grid;
  cfg.blockDim = block;
  cfg.dynamicSmemBytes = smem;
  cfg.stream = s;
  cfg.attrs = &attr;
  cfg.numAttrs = pdl_enabled() ? 1 : 0;
  GPTOSS_CUDA_CHECK(cudaLaunchKernelEx(&cfg, kernel, static_cast<Params>(args)...));
}

template <typename... Params, typename... Args>
void launch(void (*kernel)(Params...), dim3 grid, dim3 block, cudaStream_t s, Args... args) {
  launch_smem(kernel, grid, block, 0, s, args...);
}

// Waits for the previous grid, then lets the next one start.
__device__ __forceinline__ void pdl_enter() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("griddepcontrol.wait;\n" ::: "memory");
  asm volatile("griddepcontrol.launch_dependents;\n" ::: "memory");
#endif
}

// Starts moving a line of weights into L2 while the previous kernel finishes.
__device__ __forceinline__ void prefetch_l2(const void* p) {
  asm volatile("prefetch.global.L2 [%0];\n" ::"l"(p));
}

}  // namespace gptoss::cuda
