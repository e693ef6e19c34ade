// Hybrid decode's hand-off between a GPU stream and the CPU thread that
// computes host-memory experts (model/host_moe_worker.h), through a mailbox
// in mapped host memory. A host-function node (cudaLaunchHostFunc) did the
// same job at about 230 us per layer on an H100 machine (30 layers: 7 ms of a
// 42 ms token); a kernel that writes the request over PCIe and one that polls
// for the answer cost a few microseconds each and keep the step one graph.
#include "backend/cuda/cuda_common.cuh"
#include "backend/cuda/cuda_kernels.h"

namespace gptoss::cuda {

namespace {

__device__ __forceinline__ uint64_t global_ns() {
  uint64_t t;
  asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(t));
  return t;
}

// A block per token copies its row and its CPU slots; the last block to
// finish publishes the request (the ticket is kept in device memory, so a
// replayed graph posts a new one each time).
__global__ void host_post_kernel(const float* __restrict__ h, const int32_t* __restrict__ ids,
                                 const float* __restrict__ w, int T, int H, int K, int kc, int layer,
                                 uint32_t* counters, HostMailbox* mb, float* mb_h, int32_t* mb_ids, float* mb_w) {
  const int t = blockIdx.x;
  const float4* src = reinterpret_cast<const float4*>(h + size_t(t) * H);
  float4* dst = reinterpret_cast<float4*>(mb_h + size_t(t) * H);
  for (int i = threadIdx.x; i < H / 4; i += blockDim.x) dst[i] = src[i];
  if (int(threadIdx.x) < kc) {
    mb_ids[t * kc + threadIdx.x] = ids[t * K + threadIdx.x];
    mb_w[t * kc + threadIdx.x] = w[t * K + threadIdx.x];
  }
  __threadfence_system();
  __syncthreads();
  if (threadIdx.x != 0) return;
  if (atomicAdd(&counters[1], 1u) != unsigned(T - 1)) return;
  __threadfence();
  counters[1] = 0;
  const uint32_t ticket = counters[0] + 1;
  counters[0] = ticket;
  mb->layer = layer;
  mb->T = T;
  mb->k = kc;
  __threadfence_system();
  mb->ready = ticket;
}

// A block per token waits for the CPU's answer to the last posted request,
// then copies its row into device memory. Gives up after `timeout_ns` (the
// CPU thread died or was never told to expect the step): the step's result
// is then garbage, and the host raises an error once the stream is done.
__global__ void host_wait_kernel(HostMailbox* mb, const uint32_t* counters, const float* mb_out, int H, float* out,
                                 uint64_t timeout_ns) {
  if (threadIdx.x == 0) {
    const uint32_t ticket = counters[0];
    const uint64_t start = global_ns();
    // After one timeout the step's later layers do not wait again.
    while (mb->done != ticket && !mb->timed_out) {
      if (global_ns() - start > timeout_ns) {
        mb->timed_out = 1;
        break;
      }
      __nanosleep(200);
    }
    __threadfence_system();
  }
  __syncthreads();
  const int t = blockIdx.x;
  const float4* src = reinterpret_cast<const float4*>(mb_out + size_t(t) * H);
  float4* dst = reinterpret_cast<float4*>(out + size_t(t) * H);
  for (int i = threadIdx.x; i < H / 4; i += blockDim.x) dst[i] = __ldcv(src + i);
}

}  // namespace

void host_post(const float* h, const int32_t* ids, const float* w, int T, int H, int K, int kc, int layer,
               uint32_t* counters, HostMailbox* mb, float* mb_h, int32_t* mb_ids, float* mb_w, cudaStream_t s) {
  if (T > 0) host_post_kernel<<<T, 256, 0, s>>>(h, ids, w, T, H, K, kc, layer, counters, mb, mb_h, mb_ids, mb_w);
}

void host_wait(HostMailbox* mb, const uint32_t* counters, const float* mb_out, int T, int H, float* out,
               cudaStream_t s) {
  constexpr uint64_t kTimeoutNs = 20ull * 1000 * 1000 * 1000;
  if (T > 0) host_wait_kernel<<<T, 256, 0, s>>>(mb, counters, mb_out, H, out, kTimeoutNs);
}

}  // namespace gptoss::cuda
