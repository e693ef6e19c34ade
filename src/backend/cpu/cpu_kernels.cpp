#include "backend/cpu/cpu_kernels.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

#include "core/mxfp4.h"

namespace gptoss::cpu {

// Eight partial sums keep the loop vectorisable without -ffast-math; the
// clones let one binary use AVX-512 or AVX2+FMA where the CPU has them.
__attribute__((target_clones("avx512f", "avx2,fma", "default")))
float dot_f32(const float* a, const float* b, int n) {
  float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int i = 0;
  for (; i + 8 <= n; i += 8)
    for (int k = 0; k < 8; ++k) acc[k] += a[i + k] * b[i + k];
  float s = ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
  for (; i < n; ++i) s += a[i] * b[i];
  return s;
}

void bf16_row_to_f32(const bf16_t* src, float* dst, int n) {
  for (int i = 0; i < n; ++i) dst[i] = bf16_to_f32(src[i]);
}

void mxfp4_row_to_f32(const uint8_t* blocks, const uint8_t* scales, float* dst, int n) {
  for (int b = 0; b < n / kMxfp4BlockValues; ++b)
    dequant_mxfp4_block(blocks + b * kMxfp4BlockBytes, scales[b], dst + b * kMxfp4BlockValues);
}

void rmsnorm(const float* x, const bf16_t* w, float* y, int T, int dim, float eps) {
  for (int t = 0; t < T; ++t) {
    const float* xr = x + size_t(t) * dim;
    float ss = 0.0f;
    for (int i = 0; i < dim; ++i) ss += xr[i] * xr[i];
    const float r = 1.0f / std::sqrt(ss / float(dim) + eps);
    for (int i = 0; i < dim; ++i) y[size_t(t) * dim + i] = (xr[i] * r) * bf16_to_f32(w[i]);
  }
}

void matmul_bf16(const float* x, int T, int K, const bf16_t* W, const bf16_t* bias, int N, float* y,
                 ThreadPool& pool) {
  pool.parallel_for(size_t(N), [&](size_t n0, size_t n1) {
    std::vector<float> row(static_cast<size_t>(K));
    for (size_t n = n0; n < n1; ++n) {
      bf16_row_to_f32(W + n * size_t(K), row.data(), K);
      const float b = bias ? bf16_to_f32(bias[n]) : 0.0f;
      for (int t = 0; t < T; ++t) y[size_t(t) * N + n] = dot_f32(x + size_t(t) * K, row.data(), K) + b;
    }
  });
}

YarnRope::YarnRope(int d, float theta, float factor, float beta_fast, float beta_slow, int orig, bool truncate)
    : head_dim(d) {
  const int half = d / 2;
  // transformers' _compute_yarn_parameters, in the same float32/double mix.
  auto correction_dim = [&](double rotations) {
    return (double(d) * std::log(double(orig) / (rotations * 2.0 * M_PI))) / (2.0 * std::log(double(theta)));
  };
  double low = correction_dim(beta_fast), high = correction_dim(beta_slow);
  if (truncate) {
    low = std::floor(low);
    high = std::ceil(high);
  }
  low = std::max(low, 0.0);
  high = std::min(high, double(d - 1));
  if (low == high) high += 0.001f;
  for (int i = 0; i < half; ++i) {
    float pos_freq = std::pow(theta, float(2 * i) / float(d));
    float extrapolation = 1.0f / pos_freq;
    float interpolation = 1.0f / (factor * pos_freq);
    float ramp = std::clamp((float(i) - float(low)) / float(high - low), 0.0f, 1.0f);
    float extrapolation_factor = 1.0f - ramp;
    inv_freq[i] = factor == 1.0f ? extrapolation
                                 : interpolation * (1.0f - extrapolation_factor) + extrapolation * extrapolation_factor;
  }
  attention_factor = factor > 1.0f ? 0.1f * std::log(factor) + 1.0f : 1.0f;
}

void YarnRope::apply(float* x, int n_heads, int pos) const {
  const int half = head_dim / 2;
  float c[64], s[64];
  for (int i = 0; i < half; ++i) {
    const float angle = float(pos) * inv_freq[i];  // float32 product, as torch computes it
    c[i] = float(std::cos(double(angle))) * attention_factor;
    s[i] = float(std::sin(double(angle))) * attention_factor;
  }
  for (int h = 0; h < n_heads; ++h) {
    float* v = x + size_t(h) * head_dim;
    for (int i = 0; i < half; ++i) {
      const float a = v[i], b = v[i + half];
      v[i] = a * c[i] - b * s[i];
      v[i + half] = b * c[i] + a * s[i];
    }
  }
}

void router_topk(const float* logits, int n_experts, int k, int32_t* experts, float* weights) {
  std::vector<int32_t> idx(static_cast<size_t>(n_experts));
  std::iota(idx.begin(), idx.end(), 0);
  std::partial_sort(idx.begin(), idx.begin() + k, idx.end(), [&](int32_t a, int32_t b) {
    return logits[a] > logits[b] || (logits[a] == logits[b] && a < b);
  });
  float m = logits[idx[0]], sum = 0.0f;
  for (int i = 0; i < k; ++i) {
    experts[i] = idx[size_t(i)];
    weights[i] = std::exp(logits[idx[size_t(i)]] - m);
    sum += weights[i];
  }
  for (int i = 0; i < k; ++i) weights[i] /= sum;
}

void swiglu_interleaved(const float* gu, int inter, float alpha, float limit, float* out) {
  for (int i = 0; i < inter; ++i) {
    float g = std::min(gu[2 * i], limit);
    float u = std::clamp(gu[2 * i + 1], -limit, limit);
    float glu = g / (1.0f + std::exp(-alpha * g));
    out[i] = (u + 1.0f) * glu;
  }
}

void mxfp4_expert(const float* h, int n, int H, int I, const uint8_t* gu_blocks, const uint8_t* gu_scales,
                  const bf16_t* gu_bias, const uint8_t* down_blocks, const uint8_t* down_scales,
                  const bf16_t* down_bias, float alpha, float limit, float* out, ThreadPool& pool) {
  std::vector<float> gu(size_t(n) * 2 * I), act(size_t(n) * I);
  const size_t gu_row_bytes = size_t(H) / 2, gu_row_scales = size_t(H) / 32;
  pool.parallel_for(size_t(2 * I), [&](size_t r0, size_t r1) {
    std::vector<float> row(static_cast<size_t>(H));
    for (size_t r = r0; r < r1; ++r) {
      mxfp4_row_to_f32(gu_blocks + r * gu_row_bytes, gu_scales + r * gu_row_scales, row.data(), H);
      const float b = bf16_to_f32(gu_bias[r]);
      for (int t = 0; t < n; ++t) gu[size_t(t) * 2 * I + r] = dot_f32(h + size_t(t) * H, row.data(), H) + b;
    }
  });
  for (int t = 0; t < n; ++t) swiglu_interleaved(&gu[size_t(t) * 2 * I], I, alpha, limit, &act[size_t(t) * I]);
  const size_t down_row_bytes = size_t(I) / 2, down_row_scales = size_t(I) / 32;
  pool.parallel_for(size_t(H), [&](size_t r0, size_t r1) {
    std::vector<float> row(static_cast<size_t>(I));
    for (size_t r = r0; r < r1; ++r) {
      mxfp4_row_to_f32(down_blocks + r * down_row_bytes, down_scales + r * down_row_scales, row.data(), I);
      const float b = bf16_to_f32(down_bias[r]);
      for (int t = 0; t < n; ++t) out[size_t(t) * H + r] = dot_f32(&act[size_t(t) * I], row.data(), I) + b;
    }
  });
}

}  // namespace gptoss::cpu
