#pragma once
// Kernel launches that may overlap the previous kernel on the stream
// (programmatic dependent launch, compute capability 9.0 and later).
//
// A decode step is ~200 short kernels, and between two dependent kernels the
// GPU otherwise idles: the next grid is launched only after the previous one
// has drained and flushed. With launch() the next grid's blocks start as soon
// as every block of the previous one has released it in pdl_enter(); they may
// prefetch weights (never written during a step) and then wait in their own
// pdl_enter() until the previous grid has completed and its writes are visible.
//
// A block releases the next grid after its wait, or, for kernels that pass
// Release::kAtEntry, before it: then the next grid's blocks may already be
// resident, loading their weights, while the previous grid still runs, two
// or more kernels deep, and the memory system sees fewer idle gaps between
// kernels. H100, synthetic:20b, 2026-11-24, 3 rounds; tg128 | 1 / 4 / 16 /
// 64 sequences at 512+64 tokens, t/s:
//   one call:  all after the wait         520.0 | 492 1069 2672 8521
//              all at entry               553.3 | 509 1043 2635 8496
//              weight products at entry   540.6 | 507 1092 2662 8493
//   another:   all after the wait         523.6 | 493 1071 2674 8553
//              weight products, attention
//              and one-block norms        557.7 | 523 1110 2694 8564
// The last is what the kernels do. By kind (2 rounds): the norms at entry
// in steps of 4 tokens cost 4 sequences 6% (1107 -> 1048); the routing
// kernels at entry changed nothing measurable, and once qkv and o_proj took
// rows in shared memory (dense.cu), they and the arg-max at entry cost
// tg128 560 -> 540 (3 rounds).
//
// Rules for a kernel launched this way: every block calls pdl_enter() before
// it reads anything an earlier kernel wrote or writes anything (also blocks
// that then exit early), so that a grid's completion implies its
// predecessors'. Nothing an earlier kernel of the step wrote may be read
// before pdl_enter(), not even the output of a kernel known to have
// completed: a block that has not waited may see stale lines in its SM's L1,
// and with releases at entry any number of earlier kernels may still be
// running. The one exception: data written before the step's graph began (by
// earlier steps, or copied from the host), read through L2 only (__ldcg).
#include <cuda_runtime.h>

#include "backend/cuda/cuda_check.h"
#include "backend/cuda/timeline.h"

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
#ifdef GPTOSS_TIMELINE
  timeline::note_launch();
#endif
  GPTOSS_CUDA_CHECK(cudaLaunchKernelEx(&cfg, kernel, static_cast<Params>(args)...));
}

template <typename... Params, typename... Args>
void launch(void (*kernel)(Params...), dim3 grid, dim3 block, cudaStream_t s, Args... args) {
  launch_smem(kernel, grid, block, 0, s, args...);
}

#if defined(GPTOSS_TIMELINE) && defined(__CUDACC__)
// This translation unit's pointers to the records (timeline.h).
namespace {
__device__ timeline::Record* timeline_slots = nullptr;
__device__ unsigned* timeline_count = nullptr;
void timeline_bind(timeline::Record* slots, unsigned* count) {
  GPTOSS_CUDA_CHECK(cudaMemcpyToSymbol(timeline_slots, &slots, sizeof slots));
  GPTOSS_CUDA_CHECK(cudaMemcpyToSymbol(timeline_count, &count, sizeof count));
}
const bool timeline_registered = timeline::add_binder(&timeline_bind);
__device__ __forceinline__ unsigned long long globaltimer_ns() {
  unsigned long long t;
  asm volatile("mov.u64 %0, %%globaltimer;\n" : "=l"(t));
  return t;
}
}  // namespace
#endif

// When a block lets the next grid start: after its wait, or at entry.
enum class Release { kAfterWait, kAtEntry };

// Waits for the previous grid; lets the next one start (see Release).
__device__ __forceinline__ void pdl_enter(Release release = Release::kAfterWait) {
  (void)release;  // the host pass and pre-Hopper devices
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  if (release == Release::kAtEntry) asm volatile("griddepcontrol.launch_dependents;\n" ::: "memory");
#ifdef GPTOSS_TIMELINE
  // The slot is taken before the wait, where the round trip costs nothing.
  const bool rec = threadIdx.x == 0 && blockIdx.x == 0 && blockIdx.y == 0 && blockIdx.z == 0 && timeline_slots;
  const unsigned long long enter = rec ? globaltimer_ns() : 0;
  const unsigned slot = rec ? atomicAdd(timeline_count, 1u) : 0;
#endif
  asm volatile("griddepcontrol.wait;\n" ::: "memory");
  if (release == Release::kAfterWait) asm volatile("griddepcontrol.launch_dependents;\n" ::: "memory");
#ifdef GPTOSS_TIMELINE
  if (rec && slot < timeline::kMaxRecords) timeline_slots[slot] = {enter, globaltimer_ns()};
#endif
#endif
}

// Starts moving a line of weights into L2 while the previous kernel finishes.
// Tried 2026-11-24 (H100, synthetic:20b, tg128 base 455 / 452 t/s): blocks of
// one weight product bulk-prefetching (cp.async.bulk.prefetch.L2, 16 KB per
// lane) a share of the next product's weights as they finish: qkv -> o_proj
// 436, gate_up -> its experts' down 454, down -> next qkv 452, all three 437 /
// 429; the routing block prefetching its experts' gate_up 215 (its warps stall
// on the prefetches).
__device__ __forceinline__ void prefetch_l2(const void* p) {
  asm volatile("prefetch.global.L2 [%0];\n" ::"l"(p));
}

}  // namespace gptoss::cuda
