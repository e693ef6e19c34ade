// Routing: each token's top-k experts and softmax weights, and the
// per-expert slot lists the expert kernels walk.
#include "backend/cuda/cuda_common.cuh"
#include "backend/cuda/cuda_kernels.h"
#include "backend/cuda/launch.cuh"
#include "core/env.h"

namespace gptoss::cuda {

namespace {

constexpr int kRouteWarps = 32;
// Chosen ids kept in shared memory up to this many (with the lists' 16 KB of
// per-warp counts, under the 48 KB of static shared memory a block may have).
constexpr int kSlots = 6144;

// One warp: a token's top-k experts by repeated arg-max (ties to the lower
// index, as the CPU reference), then softmax over the chosen logits. Every
// lane gets the chosen ids in `chosen` (k <= 8, E <= 128); lane 0 writes ids
// and weights.
__device__ __forceinline__ void token_topk(const float* __restrict__ logits, const uint16_t* __restrict__ bias, int E,
                                           int k, int32_t* ids, float* weights, int (&chosen)[8]) {
  const int lane = threadIdx.x & 31;
  float v[4];
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    const int e = lane + 32 * i;
    v[i] = e < E ? logits[e] + bf2f(bias[e]) : -INFINITY;
  }
  float best_v[8];
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
    best_v[j] = best;
    chosen[j] = best_e;
    if ((best_e & 31) == lane) v[best_e >> 5] = -INFINITY;
  }
  if (lane == 0) {
    float sum = 0.0f;
    const float top = best_v[0];
    for (int j = 0; j < k; ++j) sum += (best_v[j] = __expf(best_v[j] - top));
    for (int j = 0; j < k; ++j) {
      ids[j] = chosen[j];
      weights[j] = best_v[j] / sum;
    }
  }
}

// The whole routing in one block (any number of warps): (1) a warp per
// token, top-k by repeated arg-max (ties to the lower index, as the CPU
// reference), then softmax over the chosen logits; (2) each expert's slots
// counted; (3) offsets and the active list; (4) each expert's slot list in
// slot order (stable, so results do not depend on timing).
// With ids_ready, step (1) was done by topk_kernel and the ids are read back.
__device__ void route_in_block(const float* __restrict__ logits, const uint16_t* __restrict__ bias, int T, int E,
                               int k, int32_t* __restrict__ ids, float* __restrict__ weights, int32_t* offsets,
                               int32_t* slots, int32_t* active, int k_from, int e_lo, int n_local, bool ids_ready) {
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, warps = int(blockDim.x >> 5);
  // The chosen ids are read back twice below: from shared memory while they
  // fit (a round trip to global memory costs more than the rest at decode).
  __shared__ int32_t ids_sh[kSlots];
  if (ids_ready) {
    for (int i = threadIdx.x; i < T * k && i < kSlots; i += blockDim.x) ids_sh[i] = ids[i];
  } else {
    for (int t = warp; t < T; t += warps) {
      int chosen[8];
      token_topk(logits + size_t(t) * E, bias, E, k, ids + size_t(t) * k, weights + size_t(t) * k, chosen);
      if (lane == 0)
        for (int j = 0; j < k && t * k + j < kSlots; ++j) ids_sh[t * k + j] = chosen[j];
    }
  }
  // Lists in this GPU's numbering (expert e_lo + le is le). Each warp takes a
  // contiguous share of the slots: its per-expert counts, an exclusive scan
  // over the warps, then its slots placed in order (peers of one expert in a
  // group of 32 ranked with match_any). H100, 2048 tokens: the former way,
  // a warp per expert scanning every slot twice, took 106 us per layer.
  __shared__ int32_t count[128], start[128];
  __shared__ int32_t before[kRouteWarps][128];  // slots of expert le in earlier shares
  for (int i = threadIdx.x; i < warps * n_local; i += blockDim.x) before[i / n_local][i % n_local] = 0;
  __syncthreads();  // ids are visible to the whole block from here
  const int n_slots = T * k;
  const int32_t* sid = n_slots <= kSlots ? ids_sh : ids;
  const int share = ((n_slots + warps - 1) / warps + 31) / 32 * 32;
  const int s0 = min(n_slots, warp * share), s1 = min(n_slots, s0 + share);
  auto local_expert = [&](int i) {
    if (i >= s1 || i % k < k_from) return -1;
    const int le = sid[i] - e_lo;
    return le >= 0 && le < n_local ? le : -1;
  };
  for (int i = s0 + lane; i < s1; i += 32)
    if (const int le = local_expert(i); le >= 0) atomicAdd(&before[warp][le], 1);
  __syncthreads();
  if (threadIdx.x < n_local) {
    int run = 0;
    for (int w = 0; w < warps; ++w) {
      const int c = before[w][threadIdx.x];
      before[w][threadIdx.x] = run;
      run += c;
    }
    count[threadIdx.x] = run;
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
  for (int i0 = s0; i0 < s1; i0 += 32) {
    const int i = i0 + lane, le = local_expert(i);
    const uint32_t peers = __match_any_sync(0xffffffffu, le);
    const int rank = __popc(peers & ((1u << lane) - 1));
    if (le >= 0) slots[start[le] + before[warp][le] + rank] = i;
    __syncwarp();
    if (le >= 0 && rank == 0) before[warp][le] += __popc(peers);
    __syncwarp();
  }
}


// One block does the routing, so that a step pays one launch for it. (Tried
// 2026-11-24, H100 synthetic:20b: the router kernel's last block routing
// instead, one launch fewer per layer: tg128 unchanged at 450, 64 sequences
// 8117 -> 7764 t/s, the routing then runs on 8 warps after the logits. Tried
// again for one token, the last of norm_router_kernel's blocks running
// route_one_token: 5.6 us per layer against 2.3 + 2.9 for the two launches,
// tg128 479.5 -> 475.4. And each block of the one-token gate_up kernel
// routing the token itself from the logits, block 0 writing the lists: the
// routing launch gone (3.0 us per layer) but gate_up +1.3 us and the combine
// +0.7 (timeline.sh), tg128 511.0 vs 511.5 over 3 rounds.)
__global__ void __launch_bounds__(kRouteWarps * 32) route_kernel(const float* __restrict__ logits,
                                                                 const uint16_t* __restrict__ bias, int T, int E,
                                                                 int k, int32_t* __restrict__ ids,
                                                                 float* __restrict__ weights, int32_t* offsets,
                                                                 int32_t* slots, int32_t* active, int k_from,
                                                                 int e_lo, int n_local, bool ids_ready) {
  pdl_enter();
  route_in_block(logits, bias, T, E, k, ids, weights, offsets, slots, active, k_from, e_lo, n_local, ids_ready);
}

// Prompt-sized steps: the tokens' top-k on many SMs, a warp per token; the
// lists (route_kernel with ids_ready) stay in one block, for their order.
// H100, synthetic:20b, 2048 tokens: the one-block routing took 300 us of
// each layer, mostly its serial top-k (64 tokens per warp).
__global__ void __launch_bounds__(256) topk_kernel(const float* __restrict__ logits, const uint16_t* __restrict__ bias,
                                                   int T, int E, int k, int32_t* __restrict__ ids,
                                                   float* __restrict__ weights) {
  pdl_enter();
  const int t = int(blockIdx.x) * 8 + int(threadIdx.x >> 5);
  if (t >= T) return;
  int chosen[8];
  token_topk(logits + size_t(t) * E, bias, E, k, ids + size_t(t) * k, weights + size_t(t) * k, chosen);
}

// A decode step of one token: the same results from one warp, without the
// block's barriers and serial offsets loop (the block took 4.7 us of each
// layer's critical path; H100, synthetic:20b, scripts/device/timeline.sh).
// A token's experts are distinct, so each local expert has 0 or 1 slot and
// the lists follow from ballots over "chosen" bits.
__global__ void __launch_bounds__(32) route_one_token_kernel(const float* __restrict__ logits,
                                                            const uint16_t* __restrict__ bias, int E, int k,
                                                            int32_t* __restrict__ ids, float* __restrict__ weights,
                                                            int32_t* offsets, int32_t* slots, int32_t* active,
                                                            int k_from, int e_lo, int n_local) {
  pdl_enter();
  const int lane = threadIdx.x & 31;
  int chosen[8];
  token_topk(logits, bias, E, k, ids, weights, chosen);
  int before = 0;  // chosen local experts below the current group of 32
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    const int le = lane + 32 * i;
    int slot = -1;
    for (int j = k_from; j < k; ++j)
      if (le < n_local && chosen[j] == e_lo + le) slot = j;
    const uint32_t m = __ballot_sync(0xffffffffu, slot >= 0);
    const int pos = before + __popc(m & ((1u << lane) - 1));
    if (le < n_local) offsets[le] = pos;
    if (slot >= 0) active[pos] = le, slots[pos] = slot;
    before += __popc(m);
  }
  if (lane == 0) offsets[n_local] = before;
  for (int j = before + lane; j < E; j += 32) active[j] = -1;
}

// Decode steps: block (e, t) normalises token t's residual itself (x + bias,
// RMSNorm times w, float32 as the reference) and takes its dot product with
// router row e, so the norm is no launch of its own; the blocks of expert 0
// also store the normed row for the expert kernels. x is not written: every
// block reads it (moe_combine adds the bias instead).
__global__ void norm_router_kernel(const float* __restrict__ x, const uint16_t* __restrict__ bias,
                                   const uint16_t* __restrict__ norm_w, float eps, int H,
                                   const uint16_t* __restrict__ W, int E, float* __restrict__ logits,
                                   uint16_t* __restrict__ y_mma) {
  const int e = blockIdx.x, t = blockIdx.y, i4 = threadIdx.x, n4 = H / 4;
  // The bias, the norm's weights and the router row are constants: read
  // before the wait, so that none of them is a round trip after it.
  uint2 b = make_uint2(0, 0), nw = make_uint2(0, 0), rw = make_uint2(0, 0);
  if (i4 < n4) {
    b = reinterpret_cast<const uint2*>(bias)[i4];
    nw = reinterpret_cast<const uint2*>(norm_w)[i4];
    rw = reinterpret_cast<const uint2*>(W + size_t(e) * H)[i4];
  }
  pdl_enter();
  float4 v = make_float4(0.0f, 0.0f, 0.0f, 0.0f);
  float ss = 0.0f;
  if (i4 < n4) {
    const float4 xv = reinterpret_cast<const float4*>(x + size_t(t) * H)[i4], bv = bf16x4_to_float4(b);
    v = make_float4(xv.x + bv.x, xv.y + bv.y, xv.z + bv.z, xv.w + bv.w);
    ss = v.x * v.x + v.y * v.y + v.z * v.z + v.w * v.w;
  }
  ss = block_sum(ss);
  float dot = 0.0f;
  if (i4 < n4) {
    float o[4];
    rmsnorm4(v, ss, nw, H, eps, o);  // as add_bias_rmsnorm rounds it
    const float4 w = bf16x4_to_float4(rw);
    dot = o[0] * w.x + o[1] * w.y + o[2] * w.z + o[3] * w.w;
    if (e == 0) store_mma_layout4(y_mma + size_t(t) * H, i4, o);
  }
  dot = block_sum(dot);
  if (threadIdx.x == 0) logits[size_t(t) * E + e] = dot;
}

}  // namespace

void norm_router_logits(const float* x, const bf16_raw* bias, const bf16_raw* norm_w, float eps, int T, int H,
                        const bf16_raw* W, int E, float* logits, bf16_raw* y_mma, cudaStream_t s) {
  if (T <= 0) return;
  launch(norm_router_kernel, dim3(E, T), row_threads(H), s, x, bias, norm_w, eps, H, W, E, logits, y_mma);
}

void route_topk(const float* logits, const bf16_raw* bias, int T, int E, int k, int32_t* topk_ids,
                float* topk_weights, int32_t* expert_offsets, int32_t* expert_slots, int32_t* active_experts,
                cudaStream_t s, int k_from, int e_lo, int n_local) {
  static const bool one_warp = env_int("GPTOSS_ROUTE_WARP", 1) != 0;
  if (T == 1 && one_warp) {
    launch(route_one_token_kernel, 1, 32, s, logits, bias, E, k, topk_ids, topk_weights, expert_offsets, expert_slots,
           active_experts, k_from, e_lo, n_local < 0 ? E : n_local);
    return;
  }
  const bool split = T > kRouteWarps;
  if (split) launch(topk_kernel, (T + 7) / 8, 256, s, logits, bias, T, E, k, topk_ids, topk_weights);
  launch(route_kernel, 1, kRouteWarps * 32, s, logits, bias, T, E, k, topk_ids, topk_weights, expert_offsets,
         expert_slots, active_experts, k_from, e_lo, n_local < 0 ? E : n_local, split);
}

}  // namespace gptoss::cuda
