// The NCCL group: unique ids as text (what a second node is given), and a sum
// over every GPU here (one GPU: the identity; two or more: a real all-reduce).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <numeric>
#include <vector>

#include "backend/cuda/cuda_check.h"
#include "backend/cuda/nccl_group.h"
#include "core/error.h"
#include "format/model_source.h"
#include "model/cuda_runner.h"
#include "model/runner_factory.h"
#include "runtime/solo_session.h"
#include "damped_synthetic.h"
#include "layer_drift.h"
#include "runner_agreement.h"
#include "test_paths.h"

using namespace gptoss;

TEST(NcclGroup, UniqueIdTextRoundTrip) {
  std::string hex;
  for (int i = 0; i < 128; ++i) hex += "0123456789abcdef"[(i * 7) % 16], hex += "fedcba9876543210"[i % 16];
  const ncclUniqueId id = cuda::nccl_unique_id_from_hex(hex);
  EXPECT_EQ(static_cast<unsigned char>(id.internal[0]), 0x0f);
  EXPECT_EQ(static_cast<unsigned char>(id.internal[1]), 0x7e);
  EXPECT_THROW(cuda::nccl_unique_id_from_hex(hex.substr(2)), Error);
  hex[10] = 'g';
  EXPECT_THROW(cuda::nccl_unique_id_from_hex(hex), Error);
}

TEST(NcclGroup, AllReduceSumsOverEveryGpu) {
  const int n = cuda_device_count();
  if (n == 0) GTEST_SKIP() << "no CUDA GPU";
  std::vector<int> devices(static_cast<size_t>(n));
  std::iota(devices.begin(), devices.end(), 0);
  cuda::NcclGroup group(devices);
  const size_t len = 1000;
  std::vector<float*> bufs(static_cast<size_t>(n));
  std::vector<cudaStream_t> streams(static_cast<size_t>(n));
  for (int r = 0; r < n; ++r) {
    GPTOSS_CUDA_CHECK(cudaSetDevice(r));
    GPTOSS_CUDA_CHECK(cudaStreamCreate(&streams[size_t(r)]));
    GPTOSS_CUDA_CHECK(cudaMalloc(&bufs[size_t(r)], len * 4));
    std::vector<float> v(len);
    for (size_t i = 0; i < len; ++i) v[i] = float(r + 1) * float(i);
    GPTOSS_CUDA_CHECK(cudaMemcpy(bufs[size_t(r)], v.data(), len * 4, cudaMemcpyHostToDevice));
  }
  // One thread drives every rank: the calls must be grouped.
  ncclGroupStart();
  for (int r = 0; r < n; ++r) group.all_reduce_sum(r, bufs[size_t(r)], len, streams[size_t(r)]);
  ncclGroupEnd();
  const float ranks_sum = float(n * (n + 1) / 2);
  for (int r = 0; r < n; ++r) {
    GPTOSS_CUDA_CHECK(cudaSetDevice(r));
    GPTOSS_CUDA_CHECK(cudaStreamSynchronize(streams[size_t(r)]));
    std::vector<float> v(len);
    GPTOSS_CUDA_CHECK(cudaMemcpy(v.data(), bufs[size_t(r)], len * 4, cudaMemcpyDeviceToHost));
    for (size_t i = 0; i < len; i += 97) EXPECT_EQ(v[i], ranks_sum * float(i)) << "rank " << r << " index " << i;
    cudaFree(bufs[size_t(r)]);
    cudaStreamDestroy(streams[size_t(r)]);
  }
}

namespace {
// The model over GPUs 0 and 1: heads and expert columns, or (ep) heads and whole experts.
std::unique_ptr<ModelRunner> two_gpu_runner(const ModelSource& src, bool ep) {
  RunnerOptions o;
  o.device = "cuda";
  o.max_step_tokens = 512;
  o.tensor_parallel_size = 2;
  o.expert_parallel = ep;
  return make_runner(src, o);
}
}  // namespace

// Issue 8's check: the model split over two GPUs (heads and expert columns, or
// heads and whole experts) generates what it does on one.
// synthetic:20b is compared on its damped copy (damped_synthetic.h says why);
// the undamped agreement is printed only.
TEST(TensorParallel, TwoGpusGenerateWhatOneDoes) {
  if (cuda_device_count() < 2) GTEST_SKIP() << "needs 2 GPUs";
  for (const char* model : {"fixture", "synthetic:20b", "synthetic:20b (damped)"}) {
    const std::string name = model;
    const bool big = name != "fixture", damped = name.find("damped") != std::string::npos;
    if (big && !std::getenv("GPTOSS_TEST_20B")) continue;
    ModelSource src = big ? open_model("synthetic:20b") : open_model(gptoss::test::fixtures_dir() + "/tiny-gptoss");
    if (damped) test::damp_synthetic(src);
    auto one = make_cuda_runner(src, 0, 512);
    for (bool ep : {false, true}) {
      auto two = two_gpu_runner(src, ep);
      const auto r = test::compare_runners(*one, *two, 40, 32);
      std::printf("%s: %s=2 vs one GPU same greedy token %d/%d, logits max abs diff %.3e of %.3e\n", model,
                  ep ? "EP" : "TP", r.same, r.steps, r.max_abs_diff, r.max_abs_logit);
      if (big && !damped) continue;
      EXPECT_GE(r.same, 30) << model << (ep ? " EP" : " TP");
      EXPECT_LT(r.max_abs_diff, 0.05f * r.max_abs_logit) << model << (ep ? " EP" : " TP");
    }
  }
}

// Raw synthetic:20b cannot agree token for token between any two bf16 engines
// (19/32 and 16/32 teacher-forced greedy tokens for TP and EP, 2x H200,
// 2026-11-24): its random layers amplify a rounding about 1.25x each. So, as
// CudaRunner.Synthetic20bMatchesCpu does for the GPU against the CPU, the
// split model is held layer by layer to the drift one GPU already shows
// between two correct runs of its own (a prompt in one step vs steps of 16).
TEST(TensorParallel, RawSynthetic20bDriftsNoMoreThanOneGpusOwnRounding) {
  if (cuda_device_count() < 2) GTEST_SKIP() << "needs 2 GPUs";
  if (!std::getenv("GPTOSS_TEST_20B")) GTEST_SKIP() << "set GPTOSS_TEST_20B=1 to run";
  ModelSource src = open_model("synthetic:20b");
  const int H = src.config.hidden_size, L = src.config.num_layers, T = 200;
  std::vector<int32_t> prompt;
  for (int i = 0; i < T; ++i) prompt.push_back((i * 7919 + 13) % 200000);
  test::LayerRun one, one16;
  {
    auto r = make_cuda_runner(src, 0, 512);
    one = test::prefill_layers(*r, prompt, 200);
    one16 = test::prefill_layers(*r, prompt, 16);
  }
  for (bool ep : {false, true}) {
    auto two = two_gpu_runner(src, ep);
    const auto split = test::prefill_layers(*two, prompt, 200);
    for (int l = 0; l < L; ++l) {
      float m = 0;
      const float e = test::median_rel_err(split.layers[size_t(l)], one.layers[size_t(l)], H, &m);
      const float own = test::median_rel_err(one16.layers[size_t(l)], one.layers[size_t(l)], H, &m);
      std::printf("synthetic:20b layer %2d: median rel err %s=2 vs one GPU %.1e, one GPU step 16 vs 200 %.1e\n", l,
                  ep ? "EP" : "TP", e, own);
      EXPECT_LT(e, std::max(2e-2f, 6 * own)) << (ep ? "EP" : "TP") << " layer " << l;
    }
  }
}
