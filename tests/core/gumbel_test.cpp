// The token choice the runners make (core/gumbel.h): Philox4x32-10 against
// the published known answers, the arg-max at temperature 0, and samples
// whose frequencies follow softmax(logits / T).
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "core/gumbel.h"

using namespace gptoss;

// Random123's kat_vectors for philox4x32_10.
TEST(Gumbel, PhiloxKnownAnswers) {
  const Philox4 a = philox4x32_10(0, 0, 0, 0, 0, 0);
  EXPECT_EQ(a.v[0], 0x6627e8d5u);
  EXPECT_EQ(a.v[3], 0x9b00dbd8u);
  const Philox4 b = philox4x32_10(~0u, ~0u, ~0u, ~0u, ~0u, ~0u);
  EXPECT_EQ(b.v[0], 0x408f276du);
  EXPECT_EQ(b.v[1], 0x41c83b0eu);
  EXPECT_EQ(b.v[2], 0xa20bc7c6u);
  EXPECT_EQ(b.v[3], 0x6d5451fdu);
  const Philox4 c = philox4x32_10(0x243f6a88u, 0x85a308d3u, 0x13198a2eu, 0x03707344u, 0xa4093822u, 0x299f31d0u);
  EXPECT_EQ(c.v[0], 0xd16cfe09u);
  EXPECT_EQ(c.v[1], 0x94fdccebu);
  EXPECT_EQ(c.v[2], 0x5001e420u);
  EXPECT_EQ(c.v[3], 0x24126ea1u);
}

TEST(Gumbel, TemperatureZeroIsTheArgMaxSkippingNaN) {
  std::vector<float> l = {0.5f, 2.0f, NAN, 2.0f, -1.0f};
  EXPECT_EQ(choose_token(l.data(), 5, row_choice(TokenChoice{})), 1);  // first of equals
  l[1] = NAN;
  EXPECT_EQ(choose_token(l.data(), 5, row_choice(TokenChoice{})), 3);
  // -0 below +0, as the device orders them.
  std::vector<float> z = {-0.0f, 0.0f};
  EXPECT_EQ(choose_token(z.data(), 2, row_choice(TokenChoice{})), 1);
}

TEST(Gumbel, NoiseIsFiniteAndPerEntry) {
  const RowChoice c = row_choice(TokenChoice{1.0f, 42, 7});
  double mean = 0;
  const int n = 100000;
  for (int i = 0; i < n; ++i) {
    const float g = gumbel_noise(c, uint32_t(i));
    ASSERT_TRUE(std::isfinite(g)) << i;
    mean += g;
  }
  EXPECT_NEAR(mean / n, 0.5772, 0.01);  // the Euler-Mascheroni constant
  // Another seed or counter: other noise.
  EXPECT_NE(gumbel_noise(c, 5), gumbel_noise(row_choice(TokenChoice{1.0f, 43, 7}), 5));
  EXPECT_NE(gumbel_noise(c, 5), gumbel_noise(row_choice(TokenChoice{1.0f, 42, 8}), 5));
  EXPECT_EQ(gumbel_noise(c, 5), gumbel_noise(row_choice(TokenChoice{2.0f, 42, 7}), 5));
}

// Draws with counters 0..N-1 (a sequence's tokens) from fixed logits at two
// temperatures: each token's frequency within 4.5 standard errors of its
// softmax probability (deterministic: the seed is fixed).
TEST(Gumbel, SamplesFollowTheSoftmax) {
  const std::vector<float> logits = {1.0f, 2.0f, 0.0f, 3.0f, -1.0f, 2.5f};
  const int V = int(logits.size()), N = 200000;
  for (float T : {1.0f, 0.5f}) {
    std::vector<double> p(static_cast<size_t>(V));
    double z = 0;
    for (int i = 0; i < V; ++i) z += p[size_t(i)] = std::exp(double(logits[size_t(i)]) / T);
    std::vector<int> count(static_cast<size_t>(V));
    for (int n = 0; n < N; ++n) count[size_t(choose_token(logits.data(), V, row_choice(TokenChoice{T, 1234, 0}, uint32_t(n))))]++;
    for (int i = 0; i < V; ++i) {
      const double q = p[size_t(i)] / z, se = std::sqrt(q * (1 - q) / N);
      EXPECT_NEAR(double(count[size_t(i)]) / N, q, 4.5 * se + 1e-9) << "T " << T << " token " << i;
    }
  }
}

// choose_token draws noise only near the top; drawing it for every entry
// must give the same token, on peaked and on flat rows.
TEST(Gumbel, PruningChangesNothing) {
  const int V = 201088;
  std::vector<float> logits(static_cast<size_t>(V));
  uint32_t x = 12345;
  for (float spread : {0.05f, 1.0f, 8.0f}) {
    for (int i = 0; i < V; ++i) {
      x = x * 1664525u + 1013904223u;
      logits[size_t(i)] = spread * (float(x >> 8) / 16777216.0f - 0.5f) * 20.0f;
    }
    for (uint32_t counter = 0; counter < 8; ++counter) {
      const RowChoice c = row_choice(TokenChoice{0.7f, 99, counter});
      int32_t best = 0;
      uint32_t best_key = 0;
      for (int i = 0; i < V; ++i) {
        const uint32_t k = float_order(choice_key(c, logits[size_t(i)], uint32_t(i)));
        if (i == 0 || k > best_key) best = i, best_key = k;
      }
      EXPECT_EQ(choose_token(logits.data(), V, c), best) << "spread " << spread << " counter " << counter;
    }
  }
}
