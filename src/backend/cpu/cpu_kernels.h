#pragma once
// The reference kernels: plain float32 math, written to be read. They are
// multithreaded over output rows and vectorised by the compiler (with
// AVX2/AVX-512 clones picked at run time), but never reorder the math in ways
// that change results beyond float32 rounding.
#include <cmath>
#include <cstdint>

#include "core/bf16.h"
#include "core/thread_pool.h"

namespace gptoss::cpu {

float dot_f32(const float* a, const float* b, int n);
void bf16_row_to_f32(const bf16_t* src, float* dst, int n);
// Dequantises one MXFP4 row of n values (n/32 blocks of 16 bytes, n/32 scales).
void mxfp4_row_to_f32(const uint8_t* blocks, const uint8_t* scales, float* dst, int n);

// y[t, :] = rmsnorm(x[t, :]) * w for t < T, over `dim` features.
void rmsnorm(const float* x, const bf16_t* w, float* y, int T, int dim, float eps);

// y[t, n] = sum_k x[t, k] W[n, k] + bias[n]  (W bf16 [N, K], bias may be null).
void matmul_bf16(const float* x, int T, int K, const bf16_t* W, const bf16_t* bias, int N, float* y,
                 ThreadPool& pool);

// Rotary embedding with YaRN scaling, half-split (NeoX) pairs (i, i + d/2).
struct YarnRope {
  int head_dim = 64;
  float attention_factor = 1.0f;
  float inv_freq[128];
  YarnRope(int head_dim, float theta, float factor, float beta_fast, float beta_slow, int original_max_pos,
           bool truncate);
  // Rotates n_heads vectors of head_dim laid out back to back, at position pos.
  void apply(float* x, int n_heads, int pos) const;
};

// Attention of one query head over keys at positions [first, last]:
// softmax over the scaled scores and the sink logit, sink dropped, then the
// weighted sum of values. key(j)/value(j) return head_dim floats for position j.
template <typename KeyFn, typename ValueFn>
void attend_with_sink(const float* q, int head_dim, int first, int last, float sink, float scale, KeyFn key,
                      ValueFn value, float* scores, float* out) {
  float m = sink;
  for (int j = first; j <= last; ++j) {
    scores[j - first] = dot_f32(q, key(j), head_dim) * scale;
    if (scores[j - first] > m) m = scores[j - first];
  }
  float denom = std::exp(sink - m);
  for (int j = first; j <= last; ++j) {
    scores[j - first] = std::exp(scores[j - first] - m);
    denom += scores[j - first];
  }
  for (int d = 0; d < head_dim; ++d) out[d] = 0.0f;
  for (int j = first; j <= last; ++j) {
    const float p = scores[j - first] / denom;
    const float* v = value(j);
    for (int d = 0; d < head_dim; ++d) out[d] += p * v[d];
  }
}

// Router: top-k of logits (ties to the lower index), softmax over the chosen ones.
void router_topk(const float* logits, int n_experts, int k, int32_t* experts, float* weights);

// gpt-oss SwiGLU on interleaved gate/up: out[i] = (clamp(up) + 1) * g * sigmoid(alpha g), g = min(gate, limit).
void swiglu_interleaved(const float* gate_up, int inter, float alpha, float limit, float* out);

// One expert on n tokens: out[t] = W_down (swiglu(W_gate_up h[t] + b_gu)) + b_down.
// Blocks/scales/biases point at this expert's slice.
void mxfp4_expert(const float* h, int n, int hidden, int inter, const uint8_t* gu_blocks, const uint8_t* gu_scales,
                  const bf16_t* gu_bias, const uint8_t* down_blocks, const uint8_t* down_scales,
                  const bf16_t* down_bias, float alpha, float limit, float* out, ThreadPool& pool);

}  // namespace gptoss::cpu
