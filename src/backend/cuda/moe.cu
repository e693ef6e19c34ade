// Mixture-of-experts kernels: router top-k with per-expert slot lists, MXFP4
// GEMVs for decode-sized batches (weights stay MXFP4 in memory and are
// dequantised in registers; each expert's weights are read once per step
// however many tokens chose it), and the gather/dequant/scatter helpers of the
// prefill path, which runs each expert through cuBLAS.
#include "backend/cuda/cuda_common.cuh"
#include "backend/cuda/cuda_kernels.h"

namespace gptoss::cuda {

namespace {

// ---- routing -------------------------------------------------------------

// One warp per token: top-k by repeated arg-max (ties to the lower index, as
// the CPU reference), then softmax over the chosen logits.
__global__ void topk_kernel(const float* logits, const uint16_t* bias, int T, int E, int k, int32_t* ids,
                            float* weights) {
  const int t = blockIdx.x * (blockDim.x / 32) + (threadIdx.x >> 5), lane = threadIdx.x & 31;
  if (t >= T) return;
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
    if (lane == 0) ids[size_t(t) * k + j] = best_e;
    if ((best_e & 31) == lane) v[best_e >> 5] = -INFINITY;
  }
  if (lane == 0) {
    float sum = 0.0f;
    for (int j = 0; j < k; ++j) sum += (chosen[j] = __expf(chosen[j] - chosen[0]));
    for (int j = 0; j < k; ++j) weights[size_t(t) * k + j] = chosen[j] / sum;
  }
}

// One block: counts slots per expert, scans, fills the per-expert slot lists
// in slot order (a stable counting sort, so results do not depend on timing).
__global__ void build_expert_lists_kernel(const int32_t* ids, int n_slots, int E, int32_t* offsets, int32_t* slots) {
  extern __shared__ int32_t sh[];
  int32_t* count = sh;        // [E]
  int32_t* cursor = sh + E;   // [E]
  for (int e = threadIdx.x; e < E; e += blockDim.x) count[e] = 0;
  __syncthreads();
  for (int i = threadIdx.x; i < n_slots; i += blockDim.x) atomicAdd(&count[ids[i]], 1);
  __syncthreads();
  if (threadIdx.x == 0) {
    int run = 0;
    for (int e = 0; e < E; ++e) {
      offsets[e] = run;
      cursor[e] = run;
      run += count[e];
    }
    offsets[E] = run;
  }
  __syncthreads();
  // Stable fill: each thread owns a contiguous range of slots, processed in
  // order, ranges in thread order.
  if (threadIdx.x == 0) {
    for (int i = 0; i < n_slots; ++i) slots[cursor[ids[i]]++] = i;
  }
}

// ---- MXFP4 GEMV ----------------------------------------------------------

__device__ __forceinline__ float e8m0(uint8_t s) { return __uint_as_float(uint32_t(s) << 23); }

constexpr int kWarps = 8;
constexpr int kMaxTok = 4;  // slots per pass: weights dequantised once, used kMaxTok times

// acc[n] += dot(one 32-value MXFP4 block, x[n][0..31]) (unscaled)
__device__ __forceinline__ void block_dot(uint4 w, const float* lut, const float* const* xs, int n, float* acc) {
  const uint32_t words[4] = {w.x, w.y, w.z, w.w};
#pragma unroll
  for (int q = 0; q < 4; ++q) {
    float wv[8];
#pragma unroll
    for (int j = 0; j < 8; ++j) wv[j] = lut[(words[q] >> (4 * j)) & 0xf];
#pragma unroll
    for (int tok = 0; tok < kMaxTok; ++tok) {
      if (tok >= n) break;
      const float4 a = reinterpret_cast<const float4*>(xs[tok])[2 * q];
      const float4 b = reinterpret_cast<const float4*>(xs[tok])[2 * q + 1];
      acc[tok] += wv[0] * a.x + wv[1] * a.y + wv[2] * a.z + wv[3] * a.w + wv[4] * b.x + wv[5] * b.y + wv[6] * b.z +
                  wv[7] * b.w;
    }
  }
}

// Each warp computes rows (2i, 2i+1) = (gate_i, up_i) of one expert for up to
// kMaxTok slots at a time and writes the SwiGLU activation.
__global__ void __launch_bounds__(kWarps * 32) gate_up_kernel(const float* h, const uint8_t* blocks,
                                                              const uint8_t* scales, const uint16_t* bias, int H,
                                                              int I, int k, const int32_t* offsets,
                                                              const int32_t* slots, float alpha, float limit,
                                                              float* act) {
  __shared__ float lut[16];
  if (threadIdx.x < 16) {
    const float mag[8] = {0.0f, 0.5f, 1.0f, 1.5f, 2.0f, 3.0f, 4.0f, 6.0f};
    lut[threadIdx.x] = threadIdx.x < 8 ? mag[threadIdx.x] : -mag[threadIdx.x - 8];
  }
  __syncthreads();
  const int e = blockIdx.y;
  const int begin = offsets[e], end = offsets[e + 1];
  const int i = blockIdx.x * kWarps + (threadIdx.x >> 5), lane = threadIdx.x & 31;
  if (begin == end || i >= I) return;
  const int nb = H / 32;
  const size_t row_g = size_t(e) * 2 * I + 2 * i, row_u = row_g + 1;
  const uint4* wg = reinterpret_cast<const uint4*>(blocks + row_g * nb * 16);
  const uint4* wu = reinterpret_cast<const uint4*>(blocks + row_u * nb * 16);
  const uint8_t* sg = scales + row_g * nb;
  const uint8_t* su = scales + row_u * nb;
  const float bg = bf2f(bias[row_g]), bu = bf2f(bias[row_u]);
  for (int s0 = begin; s0 < end; s0 += kMaxTok) {
    const int n = min(kMaxTok, end - s0);
    int slot[kMaxTok];
    float accg[kMaxTok], accu[kMaxTok];
#pragma unroll
    for (int tok = 0; tok < kMaxTok; ++tok) {
      slot[tok] = tok < n ? slots[s0 + tok] : 0;
      accg[tok] = accu[tok] = 0.0f;
    }
    for (int blk = lane; blk < nb; blk += 32) {
      const float* xs[kMaxTok];
#pragma unroll
      for (int tok = 0; tok < kMaxTok; ++tok) xs[tok] = h + size_t(slot[tok] / k) * H + blk * 32;
      float pg[kMaxTok] = {}, pu[kMaxTok] = {};
      block_dot(__ldg(wg + blk), lut, xs, n, pg);
      block_dot(__ldg(wu + blk), lut, xs, n, pu);
      const float scg = e8m0(sg[blk]), scu = e8m0(su[blk]);
#pragma unroll
      for (int tok = 0; tok < kMaxTok; ++tok) {
        accg[tok] += pg[tok] * scg;
        accu[tok] += pu[tok] * scu;
      }
    }
#pragma unroll
    for (int tok = 0; tok < kMaxTok; ++tok) {
      const float g = warp_sum(accg[tok]) + bg, u = warp_sum(accu[tok]) + bu;
      if (lane == 0 && tok < n) {
        const float gc = fminf(g, limit), uc = fminf(fmaxf(u, -limit), limit);
        act[size_t(slot[tok]) * I + i] = (uc + 1.0f) * (gc / (1.0f + __expf(-alpha * gc)));
      }
    }
  }
}

// Each warp computes two output rows of the down projection for up to kMaxTok slots.
__global__ void __launch_bounds__(kWarps * 32) down_kernel(const float* act, const uint8_t* blocks,
                                                           const uint8_t* scales, const uint16_t* bias, int H, int I,
                                                           const int32_t* offsets, const int32_t* slots, float* y) {
  __shared__ float lut[16];
  if (threadIdx.x < 16) {
    const float mag[8] = {0.0f, 0.5f, 1.0f, 1.5f, 2.0f, 3.0f, 4.0f, 6.0f};
    lut[threadIdx.x] = threadIdx.x < 8 ? mag[threadIdx.x] : -mag[threadIdx.x - 8];
  }
  __syncthreads();
  const int e = blockIdx.y;
  const int begin = offsets[e], end = offsets[e + 1];
  const int r0 = (blockIdx.x * kWarps + (threadIdx.x >> 5)) * 2, lane = threadIdx.x & 31;
  if (begin == end || r0 >= H) return;
  const int nb = I / 32;
  const bool two = r0 + 1 < H;
  const size_t ra = size_t(e) * H + r0, rb = two ? ra + 1 : ra;
  const uint4* wa = reinterpret_cast<const uint4*>(blocks + ra * nb * 16);
  const uint4* wb = reinterpret_cast<const uint4*>(blocks + rb * nb * 16);
  const float ba = bf2f(bias[ra]), bb = bf2f(bias[rb]);
  for (int s0 = begin; s0 < end; s0 += kMaxTok) {
    const int n = min(kMaxTok, end - s0);
    int slot[kMaxTok];
    float acca[kMaxTok], accb[kMaxTok];
#pragma unroll
    for (int tok = 0; tok < kMaxTok; ++tok) {
      slot[tok] = tok < n ? slots[s0 + tok] : 0;
      acca[tok] = accb[tok] = 0.0f;
    }
    for (int blk = lane; blk < nb; blk += 32) {
      const float* xs[kMaxTok];
#pragma unroll
      for (int tok = 0; tok < kMaxTok; ++tok) xs[tok] = act + size_t(slot[tok]) * I + blk * 32;
      float pa[kMaxTok] = {}, pb[kMaxTok] = {};
      block_dot(__ldg(wa + blk), lut, xs, n, pa);
      block_dot(__ldg(wb + blk), lut, xs, n, pb);
      const float sca = e8m0(scales[ra * nb + blk]), scb = e8m0(scales[rb * nb + blk]);
#pragma unroll
      for (int tok = 0; tok < kMaxTok; ++tok) {
        acca[tok] += pa[tok] * sca;
        accb[tok] += pb[tok] * scb;
      }
    }
#pragma unroll
    for (int tok = 0; tok < kMaxTok; ++tok) {
      const float a = warp_sum(acca[tok]) + ba, b = warp_sum(accb[tok]) + bb;
      if (lane == 0 && tok < n) {
        y[size_t(slot[tok]) * H + r0] = a;
        if (two) y[size_t(slot[tok]) * H + r0 + 1] = b;
      }
    }
  }
}

__global__ void combine_kernel(const float* y, const float* w, int k, int H, float* x) {
  const int t = blockIdx.x;
  for (int i = threadIdx.x; i < H; i += blockDim.x) {
    float s = 0.0f;
    for (int j = 0; j < k; ++j) s += w[size_t(t) * k + j] * y[(size_t(t) * k + j) * H + i];
    x[size_t(t) * H + i] += s;
  }
}

// ---- prefill helpers -----------------------------------------------------

__global__ void dequant_kernel(const uint8_t* blocks, const uint8_t* scales, size_t n_blocks, uint16_t* out) {
  const size_t b = size_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (b >= n_blocks) return;
  const float s = e8m0(scales[b]);
  const uint4 w = reinterpret_cast<const uint4*>(blocks)[b];
  const uint32_t words[4] = {w.x, w.y, w.z, w.w};
  uint32_t packed[16];
#pragma unroll
  for (int q = 0; q < 4; ++q)
#pragma unroll
    for (int j = 0; j < 4; ++j) {
      const uint32_t byte = (words[q] >> (8 * j)) & 0xff;
      packed[q * 4 + j] = uint32_t(f2bf(fp4_value(byte & 0xf) * s)) | (uint32_t(f2bf(fp4_value(byte >> 4) * s)) << 16);
    }
  uint4* dst = reinterpret_cast<uint4*>(out + b * 32);
#pragma unroll
  for (int c = 0; c < 4; ++c) dst[c] = make_uint4(packed[4 * c], packed[4 * c + 1], packed[4 * c + 2], packed[4 * c + 3]);
}

__global__ void gather_kernel(const float* src, const int32_t* slots, int k, int H, uint16_t* dst) {
  const int i = blockIdx.x;
  const float* row = src + size_t(slots[i] / k) * H;
  for (int c = threadIdx.x; c < H; c += blockDim.x) dst[size_t(i) * H + c] = f2bf(row[c]);
}

__global__ void bias_swiglu_kernel(const float* gu, const uint16_t* bias, int I, float alpha, float limit,
                                   uint16_t* act) {
  const int i = blockIdx.x;
  for (int c = threadIdx.x; c < I; c += blockDim.x) {
    const float g = fminf(gu[size_t(i) * 2 * I + 2 * c] + bf2f(bias[2 * c]), limit);
    const float u = fminf(fmaxf(gu[size_t(i) * 2 * I + 2 * c + 1] + bf2f(bias[2 * c + 1]), -limit), limit);
    act[size_t(i) * I + c] = f2bf((u + 1.0f) * (g / (1.0f + __expf(-alpha * g))));
  }
}

__global__ void scatter_kernel(const float* src, const uint16_t* bias, const int32_t* slots, int H, float* y) {
  const int i = blockIdx.x;
  float* dst = y + size_t(slots[i]) * H;
  for (int c = threadIdx.x; c < H; c += blockDim.x) dst[c] = src[size_t(i) * H + c] + bf2f(bias[c]);
}

}  // namespace

void route_topk(const float* logits, const bf16_raw* bias, int T, int E, int k, int32_t* topk_ids,
                float* topk_weights, int32_t* expert_offsets, int32_t* expert_slots, cudaStream_t s) {
  topk_kernel<<<ceil_div(T, 8), 256, 0, s>>>(logits, bias, T, E, k, topk_ids, topk_weights);
  build_expert_lists_kernel<<<1, 256, 2 * E * sizeof(int32_t), s>>>(topk_ids, T * k, E, expert_offsets, expert_slots);
}

void moe_gate_up_gemv(const float* h, const uint8_t* blocks, const uint8_t* scales, const bf16_raw* bias, int E,
                      int H, int I, int k, const int32_t* expert_offsets, const int32_t* expert_slots, float alpha,
                      float limit, float* act, cudaStream_t s) {
  dim3 grid(ceil_div(I, kWarps), E);
  gate_up_kernel<<<grid, kWarps * 32, 0, s>>>(h, blocks, scales, bias, H, I, k, expert_offsets, expert_slots, alpha,
                                              limit, act);
}

void moe_down_gemv(const float* act, const uint8_t* blocks, const uint8_t* scales, const bf16_raw* bias, int E,
                   int H, int I, const int32_t* expert_offsets, const int32_t* expert_slots, float* y,
                   cudaStream_t s) {
  dim3 grid(ceil_div(H, kWarps * 2), E);
  down_kernel<<<grid, kWarps * 32, 0, s>>>(act, blocks, scales, bias, H, I, expert_offsets, expert_slots, y);
}

void moe_combine(const float* y, const float* topk_weights, int T, int k, int H, float* x, cudaStream_t s) {
  if (T > 0) combine_kernel<<<T, 256, 0, s>>>(y, topk_weights, k, H, x);
}

void dequant_mxfp4_bf16(const uint8_t* blocks, const uint8_t* scales, int rows, int cols, bf16_raw* out,
                        cudaStream_t s) {
  const size_t n = size_t(rows) * (cols / 32);
  dequant_kernel<<<unsigned((n + 255) / 256), 256, 0, s>>>(blocks, scales, n, out);
}

void gather_slots_bf16(const float* src, const int32_t* slots, int n, int k, int H, bf16_raw* dst, cudaStream_t s) {
  if (n > 0) gather_kernel<<<n, 256, 0, s>>>(src, slots, k, H, dst);
}

void bias_swiglu_bf16(const float* gu, const bf16_raw* bias, int n, int I, float alpha, float limit, bf16_raw* act,
                      cudaStream_t s) {
  if (n > 0) bias_swiglu_kernel<<<n, 256, 0, s>>>(gu, bias, I, alpha, limit, act);
}

void scatter_slots_bias(const float* src, const bf16_raw* bias, const int32_t* slots, int n, int H, float* y,
                        cudaStream_t s) {
  if (n > 0) scatter_kernel<<<n, 256, 0, s>>>(src, bias, slots, H, y);
}

}  // namespace gptoss::cuda
