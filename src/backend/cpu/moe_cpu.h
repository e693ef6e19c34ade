#pragma once
// The mixture-of-experts feed-forward on the CPU with MXFP4 expert weights:
// the fast path of CpuRunner and of the CUDA runner's hybrid mode (experts of
// some layers kept in host memory). Activations stay float32, so results match
// the reference mxfp4_expert up to float32 summation order.
//
// Threading: moe_forward may be called from any thread, including one that is
// not the pool's owner (e.g. a CUDA host-function callback); it only blocks on
// the pool, never calls CUDA, and keeps its scratch in thread_local buffers.
// Concurrent callers sharing a pool take turns inside ThreadPool::parallel_for.
#include <cstdint>

#include "core/bf16.h"
#include "core/thread_pool.h"

namespace gptoss::cpu {

// One layer's experts in host memory, gpt-oss layout (see src/model/model_weights.h):
// gate_up rows interleave gate (even) / up (odd); blocks [E, 2I, H/32, 16], scales [E, 2I, H/32],
// bias bf16 [E, 2I]; down blocks [E, H, I/32, 16], scales [E, H, I/32], bias [E, H].
struct MoeExperts {
  const uint8_t* gu_blocks;
  const uint8_t* gu_scales;
  const bf16_t* gu_bias;
  const uint8_t* dn_blocks;
  const uint8_t* dn_scales;
  const bf16_t* dn_bias;
  int num_experts, hidden, inter;
  float alpha, limit;  // swiglu_alpha (1.702), swiglu_limit (7.0)
};

// out[t, :] = sum_k weights[t, k] * expert_{ids[t, k]}(h[t, :]) for t < T (out overwritten, float32).
// Summation over k in slot order k = 0..K-1 (as CpuRunner::moe does today).
// hidden and inter must be multiples of 32. Throws gptoss::Error, before any
// work starts, for an expert id outside [0, num_experts).
void moe_forward(const MoeExperts& w, const float* h, int T, const int32_t* ids, const float* weights, int K,
                 float* out, ThreadPool& pool);

// Which SIMD path moe_forward uses on this CPU: "avx512", "avx2" or "scalar".
// Chosen once: the best the CPU supports, or GPTOSS_CPU_SIMD=scalar|avx2|avx512
// if the CPU supports that (otherwise a warning and the best one).
const char* moe_simd_path();

}  // namespace gptoss::cpu
