// Tensor-parallel slices: the partial sums of every rank's slice equal the
// unsplit layer (on the fixture's real weights), and the split sizes.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "backend/cpu/cpu_kernels.h"
#include "backend/cpu/moe_cpu.h"
#include "core/error.h"
#include "format/model_source.h"
#include "model/tensor_parallel.h"
#include "test_paths.h"

using namespace gptoss;

namespace {

const std::string kFixture = gptoss::test::fixtures_dir() + "/tiny-gptoss";

std::vector<float> random_floats(size_t n, uint32_t seed) {
  std::mt19937 g(seed);
  std::normal_distribution<float> d;
  std::vector<float> v(n);
  for (auto& x : v) x = d(g);
  return v;
}

void expect_close(const std::vector<float>& a, const std::vector<float>& b, float rel) {
  ASSERT_EQ(a.size(), b.size());
  float m = 0, d = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    m = std::max(m, std::fabs(b[i]));
    d = std::max(d, std::fabs(a[i] - b[i]));
  }
  EXPECT_LE(d, rel * m) << "max abs diff " << d << " of max " << m;
}

// A spread-out routing of T tokens to K experts each (jittered by g if given),
// with fixed weights.
void make_routing(int T, int K, int E, std::mt19937* g, std::vector<int32_t>& ids, std::vector<float>& weights) {
  for (int t = 0; t < T; ++t)
    for (int k = 0; k < K; ++k) {
      ids.push_back(int32_t((t * 3 + k * 5 + (g ? int((*g)() % 3) : 0)) % E));
      weights.push_back(0.1f + 0.2f * float(k));
    }
}

// Five tokens routed through a fixture layer's experts: the input the
// expert-split tests share, and the unsplit layer's output to compare with.
struct RoutedTokens {
  ModelSource src = open_model(kFixture);
  const ModelConfig& c = src.config;
  const ModelWeights w = bind_model_weights(c, *src.weights);
  const int T = 5, K = c.experts_per_token, H = c.hidden_size;
  std::vector<float> h;
  std::vector<int32_t> ids;
  std::vector<float> weights;
  ThreadPool pool{2};

  RoutedTokens(uint32_t seed, std::mt19937* g) : h(random_floats(size_t(T) * H, seed)) {
    make_routing(T, K, c.num_experts, g, ids, weights);
  }
  void forward(const cpu::MoeExperts& e, const int32_t* ids_, const float* weights_, std::vector<float>& out) {
    out.assign(size_t(T) * H, 0.0f);
    cpu::moe_forward(e, h.data(), T, ids_, weights_, K, out.data(), pool);
  }
};

}  // namespace

TEST(TensorParallel, ShardsOf20b) {
  const ModelConfig c = ModelConfig::preset("20b");  // 64 q heads, 8 kv heads, intermediate 2880 = 90 blocks
  const TpShard a = tp_shard(c, 1, 2);
  EXPECT_EQ(a.kv_head0, 4);
  EXPECT_EQ(a.kv_heads, 4);
  EXPECT_EQ(a.q_head0, 32);
  EXPECT_EQ(a.q_heads, 32);
  EXPECT_EQ(a.inter0, 1440);
  EXPECT_EQ(a.inter, 1440);
  // Four ranks: 22, 23, 22, 23 blocks of 32.
  const int inter0[] = {0, 704, 1440, 2144}, inter[] = {704, 736, 704, 736};
  for (int r = 0; r < 4; ++r) {
    const TpShard s = tp_shard(c, r, 4);
    EXPECT_EQ(s.inter0, inter0[r]) << r;
    EXPECT_EQ(s.inter, inter[r]) << r;
    EXPECT_EQ(s.q_heads, 16);
    EXPECT_EQ(s.kv_heads, 2);
  }
  try {
    tp_shard(c, 0, 3);
    FAIL() << "8 kv heads do not split 3 ways";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("use one of 1, 2, 4, 8"), std::string::npos) << e.what();
  }
  EXPECT_THROW(tp_shard(c, 2, 2), Error);
}

TEST(TensorParallel, ExpertSlicesSumToTheLayer) {
  std::mt19937 g(2);
  RoutedTokens in(1, &g);
  const ModelConfig& c = in.c;
  for (int layer : {0, c.num_layers - 1})
    for (int n : {2, 4}) {
      if (c.intermediate_size / 32 < n || c.num_kv_heads % n) continue;
      const LayerWeights& L = in.w.layers[size_t(layer)];
      std::vector<float> ref, sum(size_t(in.T) * in.H, 0.0f), part;
      in.forward(moe_experts(c, L), in.ids.data(), in.weights.data(), ref);
      for (int r = 0; r < n; ++r) {
        const TpShard s = tp_shard(c, r, n);
        const ShardedExperts x = shard_experts(c, L, s);
        in.forward(x.view(c, s), in.ids.data(), in.weights.data(), part);
        for (size_t i = 0; i < sum.size(); ++i) sum[i] += part[i];
      }
      SCOPED_TRACE("layer " + std::to_string(layer) + ", " + std::to_string(n) + " ranks");
      expect_close(sum, ref, 1e-5f);
    }
}

// Expert parallelism: each rank's whole experts, computed for the slots
// routed to them (the others weigh nothing there), sum to the layer.
TEST(TensorParallel, ExpertParallelPartsSumToTheLayer) {
  RoutedTokens in(3, nullptr);
  const ModelConfig& c = in.c;
  const std::vector<int32_t>& ids = in.ids;
  const std::vector<float>& weights = in.weights;
  const LayerWeights& L = in.w.layers[0];
  std::vector<float> ref, sum(size_t(in.T) * in.H, 0.0f), part;
  in.forward(moe_experts(c, L), ids.data(), weights.data(), ref);
  const int n = 2;
  for (int r = 0; r < n; ++r) {
    const TpShard s = tp_shard(c, r, n, true);
    EXPECT_EQ(s.experts, c.num_experts / n);
    EXPECT_EQ(s.inter, c.intermediate_size);
    const ShardedExperts x = shard_experts(c, L, s);
    std::vector<int32_t> local = ids;
    std::vector<float> wl = weights;
    for (size_t i = 0; i < ids.size(); ++i) {
      const bool mine = ids[i] >= s.expert0 && ids[i] < s.expert0 + s.experts;
      local[i] = mine ? ids[i] - s.expert0 : 0;
      wl[i] = mine ? weights[i] : 0.0f;
    }
    in.forward(x.view(c, s), local.data(), wl.data(), part);
    for (size_t i = 0; i < sum.size(); ++i) sum[i] += part[i];
  }
  expect_close(sum, ref, 1e-5f);
  EXPECT_THROW(tp_shard(c, 0, 3, true), Error);
}

TEST(TensorParallel, AttentionSlicesAreTheRanksHeads) {
  ModelSource src = open_model(kFixture);
  const ModelConfig& c = src.config;
  const ModelWeights w = bind_model_weights(c, *src.weights);
  const LayerWeights& L = w.layers[1];
  const int T = 3, H = c.hidden_size, Q = c.q_dim(), KV = c.kv_dim(), D = c.head_dim;
  const std::vector<float> h = random_floats(size_t(T) * H, 3), attn = random_floats(size_t(T) * Q, 4);
  ThreadPool pool(2);
  std::vector<float> q(size_t(T) * Q), k(size_t(T) * KV), v(size_t(T) * KV), o(size_t(T) * H);
  cpu::matmul_bf16(h.data(), T, H, L.q_w, L.q_b, Q, q.data(), pool);
  cpu::matmul_bf16(h.data(), T, H, L.k_w, L.k_b, KV, k.data(), pool);
  cpu::matmul_bf16(h.data(), T, H, L.v_w, L.v_b, KV, v.data(), pool);
  cpu::matmul_bf16(attn.data(), T, Q, L.o_w, L.o_b, H, o.data(), pool);
  const int n = 2;
  std::vector<float> o_sum(size_t(T) * H, 0.0f);
  for (int r = 0; r < n; ++r) {
    const TpShard s = tp_shard(c, r, n);
    const ShardedAttention a = shard_attention(c, L, s);
    const int rows = (s.q_heads + 2 * s.kv_heads) * D, qn = s.q_heads * D, kn = s.kv_heads * D;
    std::vector<float> qkv(size_t(T) * rows);
    cpu::matmul_bf16(h.data(), T, H, a.qkv_w.data(), a.qkv_b.data(), rows, qkv.data(), pool);
    for (int t = 0; t < T; ++t) {
      for (int i = 0; i < qn; ++i)
        EXPECT_EQ(qkv[size_t(t) * rows + i], q[size_t(t) * Q + s.q_head0 * D + i]);
      for (int i = 0; i < kn; ++i) {
        EXPECT_EQ(qkv[size_t(t) * rows + qn + i], k[size_t(t) * KV + s.kv_head0 * D + i]);
        EXPECT_EQ(qkv[size_t(t) * rows + qn + kn + i], v[size_t(t) * KV + s.kv_head0 * D + i]);
      }
    }
    // The rank's heads' part of the output projection.
    std::vector<float> mine(size_t(T) * qn), part(size_t(T) * H);
    for (int t = 0; t < T; ++t)
      std::copy_n(&attn[size_t(t) * Q + s.q_head0 * D], qn, &mine[size_t(t) * qn]);
    cpu::matmul_bf16(mine.data(), T, qn, a.o_w.data(), nullptr, H, part.data(), pool);
    for (size_t i = 0; i < o_sum.size(); ++i) o_sum[i] += part[i];
    for (int hd = 0; hd < s.q_heads; ++hd) EXPECT_EQ(a.sinks[size_t(hd)], L.sinks[s.q_head0 + hd]);
  }
  for (int t = 0; t < T; ++t)  // the bias once, after the sum
    for (int i = 0; i < H; ++i) o_sum[size_t(t) * H + i] += bf16_to_f32(L.o_b[i]);
  expect_close(o_sum, o, 1e-5f);
}
