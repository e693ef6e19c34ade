#pragma once
// One decode token's YaRN rope, for the attention kernels that rope its q and
// k themselves rather than reading rope_store_kv's output: lane i of a warp
// takes the rotation pair (i, i + 32) of a 64-wide head. The results are
// rounded to bf16, as rope_store_kv stores them.
#include "backend/cuda/cuda_common.cuh"

namespace gptoss::cuda {

struct DecodeRope {
  const float* row;  // the token's q, k, v row: the GEMM output, without its bias
  const uint16_t* bias;
  float cs, sn;

  // Reads only constants (inv_freq) and pos: may run before the PDL wait.
  __device__ __forceinline__ DecodeRope(const float* row, const uint16_t* bias, const float* inv_freq,
                                        float att_factor, int pos)
      : row(row), bias(bias) {
    sincosf(float(pos) * inv_freq[threadIdx.x & 31], &sn, &cs);
    cs *= att_factor;
    sn *= att_factor;
  }

  // The bias of the head at base..base + 63, this lane's pair (a weight: may
  // be read before the wait).
  __device__ __forceinline__ float2 bias_pair(int base) const {
    const int lane = threadIdx.x & 31;
    return make_float2(bf2f(bias[base + lane]), bf2f(bias[base + lane + 32]));
  }

  // The head at base..base + 63 of the row, biased and rotated.
  __device__ __forceinline__ void rotate(int base, float& o1, float& o2) const { rotate(base, bias_pair(base), o1, o2); }
  __device__ __forceinline__ void rotate(int base, float2 b, float& o1, float& o2) const {
    const int lane = threadIdx.x & 31;
    const float a = row[base + lane] + b.x;
    const float c = row[base + lane + 32] + b.y;
    o1 = bf2f(f2bf(a * cs - c * sn));
    o2 = bf2f(f2bf(c * cs + a * sn));
  }

  // The head at base..base + 63, biased only (v).
  __device__ __forceinline__ void plain(int base, uint16_t& o1, uint16_t& o2) const { plain(base, bias_pair(base), o1, o2); }
  __device__ __forceinline__ void plain(int base, float2 b, uint16_t& o1, uint16_t& o2) const {
    const int lane = threadIdx.x & 31;
    o1 = f2bf(row[base + lane] + b.x);
    o2 = f2bf(row[base + lane + 32] + b.y);
  }
};

}  // namespace gptoss::cuda
