// Routing: each token's top-k experts and softmax weights, and the
// per-expert slot lists the expert kernels walk.
#include "backend/cuda/cuda_common.cuh"
#include "backend/cuda/cuda_kernels.h"
#include "backend/cuda/launch.cuh"

namespace gptoss::cuda {

namespace {

constexpr int kRouteWarps = 32;
constexpr int kSlots = 8192;  // chosen ids kept in shared memory up to this many

// The whole routing in one block (any number of warps): (1) a warp per
// token, top-k by repeated arg-max (ties to the lower index, as the CPU
// reference), then softmax over the chosen logits; (2) a warp per expert counts
// its slots with ballots; (3) offsets and the active list; (4) each expert's
// slot list in slot order (stable, so results do not depend on timing).
__device__ void route_in_block(const float* __restrict__ logits, const uint16_t* __restrict__ bias, int T, int E,
                               int k, int32_t* __restrict__ ids, float* __restrict__ weights, int32_t* offsets,
                               int32_t* slots, int32_t* active, int k_from, int e_lo, int n_local) {
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, warps = int(blockDim.x >> 5);
  // The chosen ids are read back twice below: from shared memory while they
  // fit (a round trip to global memory costs more than the rest at decode).
  __shared__ int32_t ids_sh[kSlots];
  for (int t = warp; t < T; t += warps) {
    float v[4];  // E <= 128
#pragma unroll
    for (int i = 0; i < 4; ++i) {
      const int e = lane + 32 * i;
      v[i] = e < E ? logits[size_t(t) * E + e] + bf2f(bias[e]) : -INFINITY;
    }
    float chosen[8];
    for (int j = 0; j < k; ++j) {
      float best = -INFINITY;
      int best_e = 1 << 30;
#pragma unroll
      for (int i = 0; i < 4; ++i) {
        const int e = lane + 32 * i;
        if (v[i] > best || (v[i] == best && e < best_e)) best = v[i], best_e = e;
      }
#pragma unroll
      for (int o = 16; o > 0; o >>= 1) {
        const float ob = __shfl_xor_sync(0xffffffffu, best, o);
        const int oe = __shfl_xor_sync(0xffffffffu, best_e, o);
        if (ob > best || (ob == best && oe < best_e)) best = ob, best_e = oe;
      }
      chosen[j] = best;
      if (lane == 0) {
        ids[size_t(t) * k + j] = best_e;
        if (t * k + j < kSlots) ids_sh[t * k + j] = best_e;
      }
      if ((best_e & 31) == lane) v[best_e >> 5] = -INFINITY;
    }
    if (lane == 0) {
      float sum = 0.0f;
      const float top = chosen[0];
      for (int j = 0; j < k; ++j) sum += (chosen[j] = __expf(chosen[j] - top));
      for (int j = 0; j < k; ++j) weights[size_t(t) * k + j] = chosen[j] / sum;
    }
  }
  __shared__ int32_t count[128], start[128];
  __syncthreads();  // ids are visible to the whole block from here
  const int n_slots = T * k;
  const int32_t* sid = n_slots <= kSlots ? ids_sh : ids;
  // The lists below are in this GPU's numbering: expert e_lo + le is le.
  for (int le = warp; le < n_local; le += warps) {
    const int e = e_lo + le;
    int c = 0;
    for (int i0 = 0; i0 < n_slots; i0 += 32) {
      const int i = i0 + lane;
      c += __popc(__ballot_sync(0xffffffffu, i < n_slots && sid[i] == e && i % k >= k_from));
    }
    if (lane == 0) count[le] = c;
  }
  __syncthreads();
  if (threadIdx.x == 0) {
    int run = 0, n_active = 0;
    for (int e = 0; e < n_local; ++e) {
      offsets[e] = start[e] = run;
      run += count[e];
      if (count[e] > 0) active[n_active++] = e;
    }
    offsets[n_local] = run;
    for (int j = n_active; j < E; ++j) active[j] = -1;
  }
  __syncthreads();
  for (int le = warp; le < n_local; le += warps) {
    const int e = e_lo + le;
    int pos = start[le];
    for (int i0 = 0; i0 < n_slots; i0 += 32) {
      const int i = i0 + lane;
      const bool mine = i < n_slots && sid[i] == e && i % k >= k_from;
      const uint32_t m = __ballot_sync(0xffffffffu, mine);
      if (mine) slots[pos + __popc(m & ((1u << lane) - 1))] = i;
      pos += __popc(m);
    }
  }
}


// One block does the routing, so that a step pays one launch for it. (Tried
// 2026-11-24, H100 synthetic:20b: the router kernel's last block routing
// instead, one launch fewer per layer: tg128 unchanged at 450, 64 sequences
// 8117 -> 7764 t/s, the routing then runs on 8 warps after the logits.)
__global__ void __launch_bounds__(kRouteWarps * 32) route_kernel(const float* __restrict__ logits,
                                                                 const uint16_t* __restrict__ bias, int T, int E,
                                                                 int k, int32_t* __restrict__ ids,
                                                                 float* __restrict__ weights, int32_t* offsets,
                                                                 int32_t* slots, int32_t* active, int k_from,
                                                                 int e_lo, int n_local) {
  pdl_enter();
  route_in_block(logits, bias, T, E, k, ids, weights, offsets, slots, active, k_from, e_lo, n_local);
}

}  // namespace

void route_topk(const float* logits, const bf16_raw* bias, int T, int E, int k, int32_t* topk_ids,
                float* topk_weights, int32_t* expert_offsets, int32_t* expert_slots, int32_t* active_experts,
                cudaStream_t s, int k_from, int e_lo, int n_local) {
  launch(route_kernel, 1, kRouteWarps * 32, s, logits, bias, T, E, k, topk_ids, topk_weights, expert_offsets,
         expert_slots, active_experts, k_from, e_lo, n_local < 0 ? E : n_local);
}

}  // namespace gptoss::cuda
