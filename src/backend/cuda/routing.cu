// Routing: each token's top-k experts and softmax weights, and the
// per-expert slot lists the expert kernels walk. For decode steps also the
// whole stretch from the attention output to the lists in one launch: bias,
// residual, RMSNorm, router logits and top-k.
#include "backend/cuda/cuda_common.cuh"
#include "backend/cuda/cuda_kernels.h"
#include "backend/cuda/launch.cuh"

namespace gptoss::cuda {

namespace {

// The whole routing in one block (any number of warps): (1) a warp per
// token, top-k by repeated arg-max (ties to the lower index, as the CPU
// reference), then softmax over the chosen logits; (2) a warp per expert counts
// its slots with ballots; (3) offsets and the active list; (4) each expert's
// slot list in slot order (stable, so results do not depend on timing).
// kCg: the logits were written by other blocks of this grid (read from L2).
template <bool kCg, int kSlots>
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
      v[i] = e < E ? (kCg ? __ldcg(logits + size_t(t) * E + e) : logits[size_t(t) * E + e]) + bf2f(bias[e]) : -INFINITY;
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


constexpr int kRouteWarps = 32;
constexpr int kSharedSlots = 8192;

// One block does the routing, so that a step pays one launch for it.
__global__ void __launch_bounds__(kRouteWarps * 32) route_kernel(const float* __restrict__ logits,
                                                                 const uint16_t* __restrict__ bias, int T, int E,
                                                                 int k, int32_t* __restrict__ ids,
                                                                 float* __restrict__ weights, int32_t* offsets,
                                                                 int32_t* slots, int32_t* active, int k_from,
                                                                 int e_lo, int n_local) {
  pdl_enter();
  route_in_block<false, kSharedSlots>(logits, bias, T, E, k, ids, weights, offsets, slots, active, k_from, e_lo,
                                      n_local);
}

// Decode router: block (e, t) adds o_proj's bias to token t's residual row,
// normalises it and takes its dot product with router row e (float32, as the
// reference: see router_logits_f32). The last block to finish (a counter,
// reset by that block) writes the residual rows and the normalised rows for
// the experts, then routes. The other blocks only read x, so that none sees
// a row another has already updated.
constexpr int kRouterThreads = 256;
constexpr int kRouterPer = 4;  // float4s per thread: H <= 4 * 4 * 256
constexpr int kDecodeRouterSlots = kMaxDecodeRouterTokens * 8;

struct NormedRow {
  float4 v[kRouterPer];  // x + bias
  float r;               // 1 / rms
};

__device__ __forceinline__ float4 add_bf16x4(float4 a, uint2 b) {
  return make_float4(a.x + bf2f(uint16_t(b.x)), a.y + bf2f(uint16_t(b.x >> 16)), a.z + bf2f(uint16_t(b.y)),
                     a.w + bf2f(uint16_t(b.y >> 16)));
}

__device__ __forceinline__ NormedRow load_row(const float* x, const uint16_t* bias, int H, float eps) {
  NormedRow row;
  const int n4 = H / 4;
  float ss = 0.0f;
#pragma unroll
  for (int j = 0; j < kRouterPer; ++j) {
    const int i4 = threadIdx.x + j * kRouterThreads;
    row.v[j] = make_float4(0, 0, 0, 0);
    if (i4 < n4) {
      row.v[j] = reinterpret_cast<const float4*>(x)[i4];
      if (bias) row.v[j] = add_bf16x4(row.v[j], reinterpret_cast<const uint2*>(bias)[i4]);
      ss += row.v[j].x * row.v[j].x + row.v[j].y * row.v[j].y + row.v[j].z * row.v[j].z + row.v[j].w * row.v[j].w;
    }
  }
  row.r = rsqrtf(block_sum(ss) / float(H) + eps);
  return row;
}

// Normalised values 4 i4 .. 4 i4 + 3.
__device__ __forceinline__ float4 normed(const NormedRow& row, int j, const uint16_t* w, int i4) {
  const uint2 wb = reinterpret_cast<const uint2*>(w)[i4];
  const float4 v = row.v[j];
  return make_float4(v.x * row.r * bf2f(uint16_t(wb.x)), v.y * row.r * bf2f(uint16_t(wb.x >> 16)),
                     v.z * row.r * bf2f(uint16_t(wb.y)), v.w * row.r * bf2f(uint16_t(wb.y >> 16)));
}

__global__ void __launch_bounds__(kRouterThreads) decode_router_kernel(
    float* x, const uint16_t* o_bias, const uint16_t* norm_w, float eps, int H, const uint16_t* W,
    const uint16_t* router_bias, int T, int E, int k, float* logits, float* h32, uint16_t* hq, int32_t* ids,
    float* weights, int32_t* offsets, int32_t* slots, int32_t* active, int k_from, int e_lo, int n_local,
    int* counter) {
  pdl_enter();
  const int e = blockIdx.x, t = blockIdx.y, n4 = H / 4;
  {
    const NormedRow row = load_row(x + size_t(t) * H, o_bias, H, eps);
    float acc = 0.0f;
#pragma unroll
    for (int j = 0; j < kRouterPer; ++j) {
      const int i4 = threadIdx.x + j * kRouterThreads;
      if (i4 >= n4) continue;
      const float4 h = normed(row, j, norm_w, i4);
      const uint2 w = __ldg(reinterpret_cast<const uint2*>(W + size_t(e) * H) + i4);
      acc += h.x * bf2f(uint16_t(w.x)) + h.y * bf2f(uint16_t(w.x >> 16)) + h.z * bf2f(uint16_t(w.y)) +
             h.w * bf2f(uint16_t(w.y >> 16));
    }
    acc = block_sum(acc);
    __shared__ bool last;
    if (threadIdx.x == 0) {
      logits[size_t(t) * E + e] = acc;
      __threadfence();
      last = atomicAdd(counter, 1) == E * T - 1;
      if (last) *counter = 0;  // ready for the next layer
    }
    __syncthreads();
    if (!last) return;
  }
  __threadfence();
  for (int tt = 0; tt < T; ++tt) {
    const NormedRow row = load_row(x + size_t(tt) * H, o_bias, H, eps);
#pragma unroll
    for (int j = 0; j < kRouterPer; ++j) {
      const int i4 = threadIdx.x + j * kRouterThreads;
      if (i4 >= n4) continue;
      reinterpret_cast<float4*>(x + size_t(tt) * H)[i4] = row.v[j];
      const float4 h = normed(row, j, norm_w, i4);
      const size_t base = size_t(tt) * H + 4 * size_t(i4);
      if (h32) reinterpret_cast<float4*>(h32 + base)[0] = h;
      if (hq) {
        // MMA layout (moe_gate_up_mma): within each 8 values the order 0 4 1 5 2 6 3 7.
        uint16_t* g8 = hq + size_t(tt) * H + 8 * size_t(i4 >> 1);
        const int hh = i4 & 1;
        g8[hh] = f2bf(h.x);
        g8[2 + hh] = f2bf(h.y);
        g8[4 + hh] = f2bf(h.z);
        g8[6 + hh] = f2bf(h.w);
      }
    }
  }
  route_in_block<true, kDecodeRouterSlots>(logits, router_bias, T, E, k, ids, weights, offsets, slots, active, k_from,
                                           e_lo, n_local);
}

}  // namespace

void route_topk(const float* logits, const bf16_raw* bias, int T, int E, int k, int32_t* topk_ids,
                float* topk_weights, int32_t* expert_offsets, int32_t* expert_slots, int32_t* active_experts,
                cudaStream_t s, int k_from, int e_lo, int n_local) {
  launch(route_kernel, 1, kRouteWarps * 32, s, logits, bias, T, E, k, topk_ids, topk_weights, expert_offsets,
         expert_slots, active_experts, k_from, e_lo, n_local < 0 ? E : n_local);
}

bool decode_router_supported(int T, int H, int E, int k) {
  return T >= 1 && T <= kMaxDecodeRouterTokens && H % 4 == 0 && H <= 4 * kRouterPer * kRouterThreads && E <= 128 &&
         k <= 8;
}

void decode_router(float* x, const bf16_raw* o_bias, const bf16_raw* norm_w, float eps, int H, const bf16_raw* W,
                   const bf16_raw* router_bias, int T, int E, int k, float* logits, float* h32, bf16_raw* hq,
                   int32_t* topk_ids, float* topk_weights, int32_t* expert_offsets, int32_t* expert_slots,
                   int32_t* active_experts, int* counter, cudaStream_t s, int k_from, int e_lo, int n_local) {
  launch(decode_router_kernel, dim3(E, T), kRouterThreads, s, x, o_bias, norm_w, eps, H, W, router_bias, T, E, k,
         logits, h32, hq, topk_ids, topk_weights, expert_offsets, expert_slots, active_experts, k_from, e_lo,
         n_local < 0 ? E : n_local, counter);
}

}  // namespace gptoss::cuda
