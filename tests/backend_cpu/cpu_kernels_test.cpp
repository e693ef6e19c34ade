// Each reference kernel against small cases computed by hand (or by the
// formula written out separately in double precision).
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cmath>

#include "backend/cpu/cpu_kernels.h"

using namespace gptoss;
using namespace gptoss::cpu;

TEST(Rope, YarnFrequenciesMatchTransformersFormula) {
  YarnRope r(64, 150000.0f, 32.0f, 32.0f, 1.0f, 4096, false);
  // attention factor 0.1 ln 32 + 1
  EXPECT_NEAR(r.attention_factor, 1.3465736f, 1e-6);
  // low = 64 ln(4096 / (32 * 2 pi)) / (2 ln 150000) = 8.0928..; high (beta 1) = 17.395..
  const double low = 64 * std::log(4096 / (32 * 2 * M_PI)) / (2 * std::log(150000.0));
  const double high = 64 * std::log(4096 / (1 * 2 * M_PI)) / (2 * std::log(150000.0));
  EXPECT_NEAR(low, 8.0928, 1e-3);
  for (int i = 0; i < 32; ++i) {
    double base = std::pow(150000.0, -2.0 * i / 64);
    double ramp = std::clamp((i - low) / (high - low), 0.0, 1.0);
    double expect = base / 32 * ramp + base * (1 - ramp);
    EXPECT_NEAR(r.inv_freq[i], expect, 1e-6 * expect + 1e-12) << "i=" << i;
  }
  // Dimensions below `low` are not interpolated; above `high` fully.
  EXPECT_NEAR(r.inv_freq[0], 1.0, 1e-7);
  EXPECT_NEAR(r.inv_freq[31], std::pow(150000.0, -62.0 / 64) / 32, 1e-9);
}

TEST(Rope, RotatesHalfSplitPairs) {
  YarnRope r(4, 10000.0f, 1.0f, 32.0f, 1.0f, 4096, false);  // no scaling: plain rope, d = 4
  float x[4] = {1, 0, 0, 0};  // pairs (0, 2) and (1, 3)
  r.apply(x, 1, 1);
  // angle for pair 0 = 1 * inv_freq[0] = 1 rad
  EXPECT_NEAR(x[0], std::cos(1.0), 1e-6);
  EXPECT_NEAR(x[2], std::sin(1.0), 1e-6);
  EXPECT_NEAR(x[1], 0, 1e-7);
  EXPECT_NEAR(x[3], 0, 1e-7);
  float y[4] = {1, 2, 3, 4};
  r.apply(y, 1, 0);  // position 0: identity
  EXPECT_FLOAT_EQ(y[3], 4);
}

TEST(Attention, SinkJoinsTheSoftmaxThenIsDropped) {
  // One query, two keys; scale 1. Scores 1 and 2, sink 0.
  float q[2] = {1, 0};
  float k[2][2] = {{1, 0}, {2, 0}};
  float v[2][2] = {{10, 0}, {0, 10}};
  float scores[2], out[2];
  attend_with_sink(q, 2, 0, 1, 0.0f, 1.0f, [&](int j) { return k[j]; }, [&](int j) { return v[j]; }, scores, out);
  const double e0 = std::exp(0.0), e1 = std::exp(1.0), e2 = std::exp(2.0), z = e0 + e1 + e2;
  EXPECT_NEAR(out[0], 10 * e1 / z, 1e-5);
  EXPECT_NEAR(out[1], 10 * e2 / z, 1e-5);
  // A very negative sink is no sink: weights sum to one.
  attend_with_sink(q, 2, 0, 1, -1e4f, 1.0f, [&](int j) { return k[j]; }, [&](int j) { return v[j]; }, scores, out);
  EXPECT_NEAR(out[0] + out[1], 10, 1e-4);
}

TEST(Attention, WindowRangeIsLast128Positions) {
  // What the runner passes for a sliding layer at position t: first = max(0, t - 127).
  // Keys outside the range must not be read: give them NaN.
  std::vector<std::array<float, 1>> k(300), v(300);
  for (int j = 0; j < 300; ++j) k[size_t(j)][0] = j < 172 ? NAN : 0.0f, v[size_t(j)][0] = j < 172 ? NAN : 1.0f;
  float q[1] = {1}, out[1];
  std::vector<float> scores(128);
  const int t = 299, first = std::max(0, t - 128 + 1);
  attend_with_sink(q, 1, first, t, -1e4f, 1.0f, [&](int j) { return k[size_t(j)].data(); },
                   [&](int j) { return v[size_t(j)].data(); }, scores.data(), out);
  EXPECT_EQ(first, 172);
  EXPECT_NEAR(out[0], 1.0f, 1e-6);
}

TEST(Router, TopKThenSoftmaxOverChosen) {
  float logits[6] = {0.1f, 3.0f, -1.0f, 2.0f, 2.5f, 0.0f};
  int32_t e[4];
  float w[4];
  router_topk(logits, 6, 4, e, w);
  EXPECT_EQ(e[0], 1);
  EXPECT_EQ(e[1], 4);
  EXPECT_EQ(e[2], 3);
  EXPECT_EQ(e[3], 0);
  double z = std::exp(3.0) + std::exp(2.5) + std::exp(2.0) + std::exp(0.1);
  EXPECT_NEAR(w[0], std::exp(3.0) / z, 1e-6);
  EXPECT_NEAR(w[3], std::exp(0.1) / z, 1e-6);
}

TEST(Swiglu, ClampsAndAddsOneToLinearHalf) {
  // gate 10 clamps to 7; up 9 clamps to 7; up -9 to -7; alpha 1.702.
  float gu[6] = {10.0f, 9.0f, 1.0f, -9.0f, -2.0f, 0.5f};
  float out[3];
  swiglu_interleaved(gu, 3, 1.702f, 7.0f, out);
  auto glu = [](double g) { return g / (1 + std::exp(-1.702 * g)); };
  EXPECT_NEAR(out[0], (7 + 1) * glu(7), 1e-5);
  EXPECT_NEAR(out[1], (-7 + 1) * glu(1), 1e-5);
  EXPECT_NEAR(out[2], (0.5 + 1) * glu(-2), 1e-5);
}

TEST(Mxfp4, ExpertMatchesDenseMathOnDequantisedWeights) {
  // hidden 32, inter 32: one block per row. All nibbles 2 (= 1.0), scale 2^-1.
  const int H = 32, I = 32;
  std::vector<uint8_t> gu_blocks(size_t(2 * I) * 16, 0x22), gu_scales(size_t(2 * I), 126);
  std::vector<uint8_t> dn_blocks(size_t(H) * 16, 0x22), dn_scales(size_t(H), 126);
  std::vector<bf16_t> gu_bias(size_t(2 * I), f32_to_bf16(0.0f)), dn_bias(size_t(H), f32_to_bf16(1.0f));
  std::vector<float> h(H, 0.1f), out(H);
  ThreadPool pool(2);
  mxfp4_expert(h.data(), 1, H, I, gu_blocks.data(), gu_scales.data(), gu_bias.data(), dn_blocks.data(),
               dn_scales.data(), dn_bias.data(), 1.702f, 7.0f, out.data(), pool);
  // gate = up = 32 * 0.5 * 0.1 = 1.6; act = (1.6 + 1) * glu(1.6); out = 32 * 0.5 * act + 1.
  double g = 1.6, act = (g + 1) * g / (1 + std::exp(-1.702 * g));
  for (int i = 0; i < H; ++i) EXPECT_NEAR(out[size_t(i)], 16 * act + 1, 1e-4);
}

TEST(Matmul, Bf16WithBias) {
  std::vector<bf16_t> W = {f32_to_bf16(1), f32_to_bf16(2), f32_to_bf16(3), f32_to_bf16(4), f32_to_bf16(5),
                           f32_to_bf16(6)};  // [3, 2]
  std::vector<bf16_t> b = {f32_to_bf16(0.5f), f32_to_bf16(0), f32_to_bf16(-1)};
  float x[4] = {1, 1, 2, -1};  // [2, 2]
  float y[6];
  ThreadPool pool(2);
  matmul_bf16(x, 2, 2, W.data(), b.data(), 3, y, pool);
  EXPECT_FLOAT_EQ(y[0], 3.5f);
  EXPECT_FLOAT_EQ(y[1], 7.0f);
  EXPECT_FLOAT_EQ(y[2], 10.0f);
  EXPECT_FLOAT_EQ(y[3], 0.5f);
  EXPECT_FLOAT_EQ(y[4], 2.0f);
  EXPECT_FLOAT_EQ(y[5], 3.0f);
}

TEST(RmsNorm, ByHand) {
  float x[2] = {3, 4};  // mean square 12.5
  bf16_t w[2] = {f32_to_bf16(1), f32_to_bf16(2)};
  float y[2];
  rmsnorm(x, w, y, 1, 2, 0.0f);
  EXPECT_NEAR(y[0], 3 / std::sqrt(12.5), 1e-6);
  EXPECT_NEAR(y[1], 8 / std::sqrt(12.5), 1e-6);
}
