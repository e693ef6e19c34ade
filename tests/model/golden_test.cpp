// The CPU engine against Hugging Face transformers' outputs for the tiny
// fixture checkpoint (tests/fixtures/tiny-gptoss/golden.safetensors).
#include <gtest/gtest.h>

#include "test_paths.h"

#include <cmath>

#include "format/model_source.h"
#include "format/safetensors.h"
#include "model/cpu_runner.h"
#include "runtime/solo_session.h"

using namespace gptoss;

namespace {

const std::string kFixture = gptoss::test::fixtures_dir() + "/tiny-gptoss";

struct Golden {
  std::shared_ptr<SafetensorsFile> file;
  std::vector<int32_t> input_ids, greedy_ids;
  const float* logits;         // [300, V]
  const float* hidden;         // [5, 300, H]
  const float* greedy_logits;  // [32, V]
  Golden() {
    file = SafetensorsFile::open(kFixture + "/golden.safetensors");
    auto ids = [&](const char* n) {
      auto* t = file->find(n);
      auto* p = reinterpret_cast<const int32_t*>(t->data);
      return std::vector<int32_t>(p, p + t->numel());
    };
    input_ids = ids("input_ids");
    greedy_ids = ids("greedy_ids");
    logits = reinterpret_cast<const float*>(file->find("logits")->data);
    hidden = reinterpret_cast<const float*>(file->find("hidden_states")->data);
    greedy_logits = reinterpret_cast<const float*>(file->find("greedy_logits")->data);
  }
};

float max_abs_diff(const float* a, const float* b, size_t n) {
  float m = 0;
  for (size_t i = 0; i < n; ++i) m = std::max(m, std::fabs(a[i] - b[i]));
  return m;
}

class GoldenTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    golden_ = new Golden();
    source_ = new ModelSource(open_model(kFixture));
  }
  static void TearDownTestSuite() {
    delete golden_;
    delete source_;
  }
  static Golden* golden_;
  static ModelSource* source_;
};
Golden* GoldenTest::golden_ = nullptr;
ModelSource* GoldenTest::source_ = nullptr;

TEST_F(GoldenTest, PrefillLogitsAndHiddenStatesMatchPerLayer) {
  CpuRunner runner(*source_, ThreadPool::global());
  const int T = int(golden_->input_ids.size()), H = source_->config.hidden_size, V = source_->config.vocab_size;
  const int L = source_->config.num_layers;
  ForwardBatch batch;
  batch.tokens = golden_->input_ids;
  std::vector<int32_t> full(32), window(64);
  for (int i = 0; i < 32; ++i) full[size_t(i)] = i;
  for (int i = 0; i < 64; ++i) window[size_t(i)] = i;
  runner.allocate_kv({16, 32, 64});
  batch.seqs.push_back({SeqKv{full, window}, 0, T, true});
  std::vector<float> logits(size_t(T) * V);
  runner.forward(batch, logits.data(), [&](int layer, const float* x, int tokens) {
    ASSERT_EQ(tokens, T);
    // golden hidden_states[l + 1] is after layer l; [L] is after the final norm.
    const int g = layer == L ? L : layer + 1;
    float d = max_abs_diff(x, golden_->hidden + size_t(g) * T * H, size_t(T) * H);
    EXPECT_LT(d, 1e-3f) << (layer == L ? std::string("final norm") : "layer " + std::to_string(layer))
                        << " differs from transformers by " << d;
  });
  EXPECT_LT(max_abs_diff(logits.data(), golden_->logits, logits.size()), 1e-3f);
  for (int t = 0; t < T; ++t)
    EXPECT_EQ(argmax(&logits[size_t(t) * V], V), argmax(golden_->logits + size_t(t) * V, V)) << "position " << t;
}

TEST_F(GoldenTest, GreedyDecodeWithKvCacheMatches) {
  CpuRunner runner(*source_, ThreadPool::global());
  const int V = source_->config.vocab_size;
  SoloSession session(runner, 512);
  std::vector<float> logits = session.feed(golden_->input_ids);
  for (size_t i = 0; i < golden_->greedy_ids.size(); ++i) {
    EXPECT_LT(max_abs_diff(logits.data(), golden_->greedy_logits + i * V, size_t(V)), 1e-3f) << "step " << i;
    int tok = argmax(logits.data(), V);
    ASSERT_EQ(tok, golden_->greedy_ids[i]) << "greedy token " << i;
    logits = session.feed(std::vector<int32_t>{tok});
  }
}

TEST_F(GoldenTest, ChunkedPrefillEqualsOneShot) {
  // Small steps force the sliding-window ring to wrap many times.
  CpuRunner runner(*source_, ThreadPool::global(), 7);
  const int V = source_->config.vocab_size;
  SoloSession session(runner, 512, 4);
  std::vector<float> logits = session.feed(golden_->input_ids, true);
  EXPECT_LT(max_abs_diff(logits.data(), golden_->logits, logits.size()), 1e-3f);
  EXPECT_EQ(logits.size(), golden_->input_ids.size() * size_t(V));
}

TEST_F(GoldenTest, BatchedSequencesEqualAlone) {
  // Two sequences in one step must each get what they get alone.
  CpuRunner runner(*source_, ThreadPool::global());
  const int V = source_->config.vocab_size;
  runner.allocate_kv({16, 64, 64});
  std::vector<int32_t> full_a(32), full_b(32), win_a(32), win_b(32);
  for (int i = 0; i < 32; ++i) full_a[size_t(i)] = i, full_b[size_t(i)] = 32 + i, win_a[size_t(i)] = i, win_b[size_t(i)] = 32 + i;
  std::vector<int32_t> a(golden_->input_ids.begin(), golden_->input_ids.begin() + 200);
  std::vector<int32_t> b(golden_->input_ids.begin() + 50, golden_->input_ids.begin() + 150);
  ForwardBatch batch;
  batch.tokens = a;
  batch.tokens.insert(batch.tokens.end(), b.begin(), b.end());
  batch.seqs.push_back({SeqKv{full_a, win_a}, 0, int(a.size()), false});
  batch.seqs.push_back({SeqKv{full_b, win_b}, 0, int(b.size()), false});
  std::vector<float> both(2 * size_t(V));
  runner.forward(batch, both.data());
  EXPECT_LT(max_abs_diff(both.data(), golden_->logits + 199 * size_t(V), size_t(V)), 1e-3f);
  CpuRunner alone(*source_, ThreadPool::global());
  SoloSession s(alone, 512);
  auto lb = s.feed(b);
  EXPECT_LT(max_abs_diff(both.data() + V, lb.data(), size_t(V)), 1e-4f);
}

}  // namespace
