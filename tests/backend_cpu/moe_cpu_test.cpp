// moe_forward on every SIMD path this CPU runs, against the reference
// (mxfp4_expert per token and slot, summed in slot order). Random MXFP4
// bytes cover every nibble; scales sit in the range real checkpoints use.
// Differences may only come from float32 summation order.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "backend/cpu/cpu_kernels.h"
#include "backend/cpu/moe_cpu.h"
#include "backend/cpu/mxfp4_simd.h"
#include "core/error.h"

using namespace gptoss;
using namespace gptoss::cpu;

namespace {

struct RandomExperts {
  int E, H, I;
  std::vector<uint8_t> gu_blocks, gu_scales, dn_blocks, dn_scales;
  std::vector<bf16_t> gu_bias, dn_bias;

  RandomExperts(int e, int h, int i, uint32_t seed) : E(e), H(h), I(i) {
    std::mt19937 rng(seed);
    auto bytes = [&](std::vector<uint8_t>& v, size_t n) {
      v.resize(n);
      for (auto& b : v) b = uint8_t(rng());
      // Every nibble in both halves of a byte, whatever the seed.
      for (size_t j = 0; j < 16 && j < n; ++j) v[j] = uint8_t(j | (15 - j) << 4);
    };
    auto scales = [&](std::vector<uint8_t>& v, size_t n) {
      v.resize(n);
      for (auto& s : v) s = uint8_t(110 + rng() % 26);  // 110..135
    };
    auto bias = [&](std::vector<bf16_t>& v, size_t n) {
      std::normal_distribution<float> d(0.0f, 0.5f);
      v.resize(n);
      for (auto& b : v) b = f32_to_bf16(d(rng));
    };
    const size_t gu_rows = size_t(E) * 2 * size_t(I), dn_rows = size_t(E) * size_t(H);
    bytes(gu_blocks, gu_rows * size_t(H / 2));
    scales(gu_scales, gu_rows * size_t(H / 32));
    bias(gu_bias, gu_rows);
    bytes(dn_blocks, dn_rows * size_t(I / 2));
    scales(dn_scales, dn_rows * size_t(I / 32));
    bias(dn_bias, dn_rows);
  }

  MoeExperts view() const {
    return {gu_blocks.data(), gu_scales.data(), gu_bias.data(), dn_blocks.data(), dn_scales.data(), dn_bias.data(),
            E, H, I, 1.702f, 7.0f};
  }

  // What CpuRunner::moe computed before moe_forward: one expert at a time.
  void reference(const float* h, int T, const int32_t* ids, const float* weights, int K, float* out,
                 ThreadPool& pool) const {
    std::vector<float> y(static_cast<size_t>(H));
    const size_t gu_rows = 2 * size_t(I);
    for (int t = 0; t < T; ++t) {
      float* o = out + size_t(t) * size_t(H);
      std::fill_n(o, H, 0.0f);
      for (int k = 0; k < K; ++k) {
        const size_t e = size_t(ids[t * K + k]);
        mxfp4_expert(h + size_t(t) * size_t(H), 1, H, I, &gu_blocks[e * gu_rows * size_t(H / 2)],
                     &gu_scales[e * gu_rows * size_t(H / 32)], &gu_bias[e * gu_rows],
                     &dn_blocks[e * size_t(H) * size_t(I / 2)], &dn_scales[e * size_t(H) * size_t(I / 32)],
                     &dn_bias[e * size_t(H)], 1.702f, 7.0f, y.data(), pool);
        for (int i = 0; i < H; ++i) o[i] += weights[t * K + k] * y[size_t(i)];
      }
    }
  }
};

struct Routed {
  std::vector<float> h, weights;
  std::vector<int32_t> ids;
};

// Ids drawn independently per slot: experts repeat across tokens and now and
// then within one. Hidden states are scaled so that gate/up values land on
// both sides of the swiglu clamp; far larger ones would mostly clamp, and
// those that did not would come from sums with so much cancellation that any
// change of summation order shows at the 1e-5 level.
Routed random_routing(int T, int K, int E, int H, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> n01(0.0f, 1.0f);
  Routed r;
  r.h.resize(size_t(T) * size_t(H));
  for (auto& v : r.h) v = n01(rng) * 0.002f;
  r.ids.resize(size_t(T) * size_t(K));
  for (auto& id : r.ids) id = int32_t(rng() % uint32_t(E));
  r.weights.resize(r.ids.size());
  std::uniform_real_distribution<float> u(0.05f, 1.0f);
  for (auto& w : r.weights) w = u(rng);
  return r;
}

// Largest difference in each token's row, relative to that row's magnitude.
void expect_close(const std::vector<float>& got, const std::vector<float>& want, int T, int H, float rel,
                  const std::string& what) {
  for (int t = 0; t < T; ++t) {
    float mag = 0.0f, diff = 0.0f;
    for (int i = 0; i < H; ++i) {
      const size_t j = size_t(t) * size_t(H) + size_t(i);
      mag = std::max(mag, std::fabs(want[j]));
      diff = std::max(diff, std::fabs(got[j] - want[j]));
    }
    ASSERT_TRUE(std::isfinite(diff)) << what << " token " << t;
    ASSERT_LE(diff, rel * mag) << what << " token " << t << " (row magnitude " << mag << ")";
  }
}

const char* const kPaths[] = {"scalar", "avx2", "avx512"};

class MoePath : public ::testing::TestWithParam<const char*> {
 protected:
  void SetUp() override {
    kernels_ = mxfp4_kernels_named(GetParam());
    if (!kernels_) GTEST_SKIP() << GetParam() << " is not supported on this CPU";
  }

  void check(int E, int H, int I, int K, int T, uint32_t seed, ThreadPool& pool) {
    RandomExperts x(E, H, I, seed);
    Routed r = random_routing(T, K, E, H, seed + 1);
    std::vector<float> got(size_t(T) * size_t(H), NAN), want(got.size());
    moe_forward_with(*kernels_, x.view(), r.h.data(), T, r.ids.data(), r.weights.data(), K, got.data(), pool);
    x.reference(r.h.data(), T, r.ids.data(), r.weights.data(), K, want.data(), pool);
    expect_close(got, want, T, H, 1e-5f,
                 std::string(GetParam()) + " E=" + std::to_string(E) + " H=" + std::to_string(H) +
                     " I=" + std::to_string(I) + " K=" + std::to_string(K) + " T=" + std::to_string(T));
  }

  const Mxfp4Kernels* kernels_ = nullptr;
};

TEST_P(MoePath, DecodedRowIsTheReferenceRowPermuted) {
  // Every byte value once, and scales at the edges of E8M0 (2^-127 subnormal
  // to 2^127) besides ordinary ones.
  const int n_blocks = 16, n = n_blocks * 32;
  std::vector<uint8_t> blocks(256);
  for (int i = 0; i < 256; ++i) blocks[size_t(i)] = uint8_t(i * 7 + 3);  // a permutation of 0..255
  const uint8_t scales[n_blocks] = {0, 1, 2, 100, 110, 120, 127, 128, 130, 135, 150, 200, 253, 254, 126, 125};
  std::vector<float> want(n), got(n);
  mxfp4_row_to_f32(blocks.data(), scales, want.data(), n);
  kernels_->decode_row(blocks.data(), scales, n_blocks, got.data());
  for (int b = 0; b < n_blocks; ++b)
    for (int p = 0; p < 32; ++p) {
      const float w = want[size_t(b * 32 + kernels_->value_at[p])], g = got[size_t(b * 32 + p)];
      ASSERT_EQ(std::memcmp(&w, &g, 4), 0) << "block " << b << " position " << p << ": " << g << " vs " << w;
    }
}

TEST_P(MoePath, ValueOrderIsAPermutation) {
  bool seen[32] = {};
  for (int p = 0; p < 32; ++p) seen[kernels_->value_at[p]] = true;
  for (int v = 0; v < 32; ++v) EXPECT_TRUE(seen[v]) << "value " << v;
}

TEST_P(MoePath, SmallShapes) {
  ThreadPool pool(3);
  uint32_t seed = 1;
  for (auto [H, I] : {std::pair{64, 96}, std::pair{96, 64}, std::pair{1056, 64}})
    for (int T : {1, 3, 37}) check(/*E=*/5, H, I, /*K=*/3, T, seed++, pool);
}

TEST_P(MoePath, FourOfEightExpertsLikeTheTinyModel) {
  ThreadPool pool(2);
  for (int T : {1, 2, 9}) check(8, 256, 256, 4, T, 100 + uint32_t(T), pool);
}

TEST_P(MoePath, GptOss20bShapes) {
  ThreadPool pool(2);
  check(/*E=*/6, 2880, 2880, /*K=*/4, /*T=*/1, 7, pool);  // one token: the fused decode-and-dot path
  check(/*E=*/6, 2880, 2880, /*K=*/4, /*T=*/3, 8, pool);  // rows decoded once, chunked reduction
}

TEST_P(MoePath, MoreTokensThanOnePass) {
  ThreadPool pool(2);
  check(4, 64, 64, 2, 1100, 31, pool);
}

TEST_P(MoePath, ThreadCountDoesNotChangeResults) {
  RandomExperts x(6, 128, 96, 5);
  Routed r = random_routing(29, 4, 6, 128, 6);
  std::vector<float> one(size_t(29) * 128), many(one.size());
  ThreadPool pool1(1), pool4(4);
  moe_forward_with(*kernels_, x.view(), r.h.data(), 29, r.ids.data(), r.weights.data(), 4, one.data(), pool1);
  moe_forward_with(*kernels_, x.view(), r.h.data(), 29, r.ids.data(), r.weights.data(), 4, many.data(), pool4);
  EXPECT_EQ(std::memcmp(one.data(), many.data(), one.size() * sizeof(float)), 0);
}

INSTANTIATE_TEST_SUITE_P(Simd, MoePath, ::testing::ValuesIn(kPaths),
                         [](const ::testing::TestParamInfo<const char*>& i) { return std::string(i.param); });

TEST(MoeForward, CallableFromThreadsThatDoNotOwnThePool) {
  // As the CUDA hybrid path does from its host-function callback thread,
  // while another thread uses the same pool.
  ThreadPool pool(2);
  RandomExperts x(8, 256, 128, 11);
  const int T = 5, K = 4;
  Routed a = random_routing(T, K, 8, 256, 12), b = random_routing(T, K, 8, 256, 13);
  std::vector<float> want_a(size_t(T) * 256), want_b(want_a.size());
  moe_forward(x.view(), a.h.data(), T, a.ids.data(), a.weights.data(), K, want_a.data(), pool);
  moe_forward(x.view(), b.h.data(), T, b.ids.data(), b.weights.data(), K, want_b.data(), pool);
  std::vector<float> got_a(want_a.size()), got_b(want_b.size());
  std::thread ta([&] {
    for (int i = 0; i < 20; ++i)
      moe_forward(x.view(), a.h.data(), T, a.ids.data(), a.weights.data(), K, got_a.data(), pool);
  });
  std::thread tb([&] {
    for (int i = 0; i < 20; ++i)
      moe_forward(x.view(), b.h.data(), T, b.ids.data(), b.weights.data(), K, got_b.data(), pool);
  });
  ta.join();
  tb.join();
  EXPECT_EQ(got_a, want_a);
  EXPECT_EQ(got_b, want_b);
}

TEST(MoeForward, ZeroSlotsGiveZeros) {
  RandomExperts x(2, 64, 64, 3);
  ThreadPool pool(2);
  std::vector<float> h(2 * 64, 1.0f), out(2 * 64, NAN);
  moe_forward(x.view(), h.data(), 2, nullptr, nullptr, 0, out.data(), pool);
  for (float v : out) EXPECT_EQ(v, 0.0f);
}

TEST(MoeForward, RejectsExpertIdsOutOfRange) {
  RandomExperts x(4, 64, 64, 3);
  ThreadPool pool(2);
  std::vector<float> h(64, 1.0f), out(64), w = {0.5f, 0.5f};
  for (int32_t bad : {-1, 4}) {
    std::vector<int32_t> ids = {0, bad};
    EXPECT_THROW(moe_forward(x.view(), h.data(), 1, ids.data(), w.data(), 2, out.data(), pool), Error);
  }
}

// Registered again by CMake with GPTOSS_CPU_SIMD set to each path: a forced
// path the CPU runs must be the one used, never a silent fallback.
TEST(MoeDispatch, HonoursGptossCpuSimd) {
  const char* forced = std::getenv("GPTOSS_CPU_SIMD");
  const char* best = mxfp4_kernels_named("avx512") ? "avx512" : mxfp4_kernels_named("avx2") ? "avx2" : "scalar";
  if (forced && *forced && mxfp4_kernels_named(forced))
    EXPECT_STREQ(moe_simd_path(), forced);
  else
    EXPECT_STREQ(moe_simd_path(), best) << "GPTOSS_CPU_SIMD=" << (forced ? forced : "(unset)");
}

TEST(MoeDispatch, X86BuildsHaveTheSimdPaths) {
#if defined(__x86_64__)
  // Guards against a build that drops a kernel file: this machine's paths
  // must all be present when the CPU has the instructions.
  ASSERT_NE(mxfp4_kernels_avx2(), nullptr);
  ASSERT_NE(mxfp4_kernels_avx512(), nullptr);
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
    EXPECT_NE(mxfp4_kernels_named("avx2"), nullptr);
  }
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw")) {
    EXPECT_NE(mxfp4_kernels_named("avx512"), nullptr);
  }
#else
  GTEST_SKIP() << "not x86-64";
#endif
}

}  // namespace
