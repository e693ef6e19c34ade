// The sampler: a seed gives the same tokens whether the host samples from
// the logits (log-probabilities asked for) or the runner draws on the device
// (device_choice), truncation keeps to its tokens, and it says when the
// runner's choice is final.
#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <vector>

#include "runtime/sampler.h"

using namespace gptoss;

namespace {

std::vector<float> random_logits(std::mt19937& rng, int V) {
  std::normal_distribution<float> d(0.0f, 2.0f);
  std::vector<float> l(static_cast<size_t>(V));
  for (auto& x : l) x = d(rng);
  return l;
}

SamplingParams temperature(float t, uint64_t seed) {
  SamplingParams p;
  p.temperature = t;
  p.seed = seed;
  return p;
}

}  // namespace

TEST(Sampler, HostAndRunnerDrawTheSameTokens) {
  std::mt19937 rng(3);
  const int V = 5000;
  SamplingParams with_logprobs = temperature(0.8f, 77);
  with_logprobs.logprobs = true;
  Sampler host(with_logprobs), runner(temperature(0.8f, 77));
  ASSERT_TRUE(host.needs_logits());
  ASSERT_FALSE(runner.needs_logits());
  ASSERT_TRUE(runner.runner_decides());
  int differ_from_argmax = 0;
  for (int step = 0; step < 64; ++step) {
    auto l = random_logits(rng, V);
    const int32_t on_device = choose_token(l.data(), V, row_choice(runner.device_choice()));
    auto copy = l;
    const SampledToken a = host.sample(copy.data(), V);
    const SampledToken b = runner.from_runner(on_device);
    EXPECT_EQ(a.token, b.token) << "step " << step;
    EXPECT_LT(a.logprob, 0.0f);
    differ_from_argmax += a.token != int32_t(std::max_element(l.begin(), l.end()) - l.begin());
  }
  EXPECT_GT(differ_from_argmax, 10);  // it samples
}

TEST(Sampler, SameSeedSameTokensAndAheadIsTheNextDraw) {
  std::mt19937 rng(5);
  const int V = 1000;
  Sampler a(temperature(1.0f, 9)), b(temperature(1.0f, 9)), c(temperature(1.0f, 10));
  int same_as_c = 0;
  for (int step = 0; step < 32; ++step) {
    auto l = random_logits(rng, V);
    const TokenChoice next = a.device_choice(1);
    const int32_t ta = a.from_runner(choose_token(l.data(), V, row_choice(a.device_choice()))).token;
    EXPECT_EQ(a.device_choice().counter, next.counter);  // what `ahead` promised
    const int32_t tb = b.from_runner(choose_token(l.data(), V, row_choice(b.device_choice()))).token;
    const int32_t tc = c.from_runner(choose_token(l.data(), V, row_choice(c.device_choice()))).token;
    EXPECT_EQ(ta, tb);
    same_as_c += ta == tc;
  }
  EXPECT_LT(same_as_c, 32);
}

TEST(Sampler, TruncationKeepsToItsTokens) {
  std::mt19937 rng(11);
  const int V = 3000;
  SamplingParams k = temperature(1.5f, 1);
  k.top_k = 3;
  SamplingParams p = temperature(1.0f, 2);
  p.top_p = 1e-6f;  // the most likely token only
  Sampler top_k(k), top_p(p);
  EXPECT_TRUE(top_k.needs_logits());
  EXPECT_FALSE(top_k.runner_decides());
  for (int step = 0; step < 50; ++step) {
    auto l = random_logits(rng, V);
    std::vector<int32_t> ids(static_cast<size_t>(V));
    for (int i = 0; i < V; ++i) ids[size_t(i)] = i;
    std::partial_sort(ids.begin(), ids.begin() + 3, ids.end(), [&](int32_t a, int32_t b) { return l[size_t(a)] > l[size_t(b)]; });
    auto l1 = l, l2 = l;
    const int32_t t = top_k.sample(l1.data(), V).token;
    EXPECT_TRUE(t == ids[0] || t == ids[1] || t == ids[2]) << "step " << step;
    EXPECT_EQ(top_p.sample(l2.data(), V).token, ids[0]) << "step " << step;
  }
}

// logit_bias: +100 makes a token the greedy choice, -100 takes the argmax
// away; biased rows need the logits on the host; the reported log-probability
// is the model's own, before the bias.
TEST(Sampler, LogitBiasForcesAndBans) {
  std::mt19937 rng(5);
  const int V = 1000;
  const auto l = random_logits(rng, V);
  const int32_t top = int32_t(std::max_element(l.begin(), l.end()) - l.begin());
  const int32_t low = int32_t(std::min_element(l.begin(), l.end()) - l.begin());
  SamplingParams force = temperature(0.0f, 1);
  force.logit_bias = {{low, 100.0f}};
  force.logprobs = true;
  Sampler f(force);
  EXPECT_TRUE(f.needs_logits());
  EXPECT_FALSE(f.runner_decides());
  auto l1 = l;
  const SampledToken got = f.sample(l1.data(), V);
  EXPECT_EQ(got.token, low);
  EXPECT_NEAR(got.logprob, l[size_t(low)] - log_sum_exp(l.data(), V), 1e-4f);
  SamplingParams ban = temperature(0.0f, 1);
  ban.logit_bias = {{top, -100.0f}};
  auto l2 = l;
  EXPECT_NE(Sampler(ban).sample(l2.data(), V).token, top);
  // Sampled, not greedy: +100 still wins every draw.
  SamplingParams hot = temperature(1.0f, 9);
  hot.logit_bias = {{low, 100.0f}};
  Sampler h(hot);
  for (int i = 0; i < 20; ++i) {
    auto l3 = l;
    EXPECT_EQ(h.sample(l3.data(), V).token, low);
  }
}

TEST(Sampler, SaysWhenTheRunnersChoiceIsFinal) {
  EXPECT_TRUE(Sampler(temperature(0.0f, 1)).runner_decides());
  SamplingParams pen = temperature(0.0f, 1);
  pen.frequency_penalty = 0.5f;
  Sampler penalised(pen);
  EXPECT_FALSE(penalised.needs_logits());  // nothing to penalise yet
  EXPECT_FALSE(penalised.runner_decides());
  penalised.observe(3);
  EXPECT_TRUE(penalised.needs_logits());
  SamplingParams forced = temperature(0.0f, 1);
  forced.forced_tokens = {4, 5};
  Sampler f(forced);
  EXPECT_FALSE(f.runner_decides());
  EXPECT_EQ(f.from_runner(9).token, 4);
  EXPECT_EQ(f.from_runner(9).token, 5);
  EXPECT_TRUE(f.runner_decides());
  EXPECT_EQ(f.from_runner(9).token, 9);
}
