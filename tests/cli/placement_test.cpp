// How serve/chat/bench turn --gpu-memory, --cpu-moe and --n-cpu-moe into a
// runner's expert placement and a KV budget (no GPU needed: the device string
// is given, and only the no-flags path asks a GPU for its memory).
#include <gtest/gtest.h>

#include "cli/placement.h"
#include "core/error.h"
#include "format/model_source.h"
#include "runtime/memory_plan.h"

using namespace gptoss;
using namespace gptoss::cli;

TEST(Placement, CpuDeviceKeepsEverythingWhereItIs) {
  ModelFlags f;
  f.gpu_memory = "12GiB";
  const PlacementChoice p = choose_placement(f, read_model_config("synthetic:20b"), "cpu", 4096, 2048, 0.9);
  EXPECT_EQ(p.n_cpu_moe, 0);
  EXPECT_EQ(p.kv_cache_bytes, 0u);
}

TEST(Placement, BudgetFollowsThePlannerAndGivesTheRestToKv) {
  ModelFlags f;
  f.gpu_memory = "12GiB";
  const ModelConfig c = read_model_config("synthetic:20b");
  const PlacementChoice p = choose_placement(f, c, "cuda", 4096, 2048, 0.9);
  PlanInput in;
  in.gpu_budget_bytes = 12ull << 30;
  in.max_step_tokens = 2048;
  const Placement plan = plan_memory(c, in);
  EXPECT_EQ(p.n_cpu_moe, plan.n_cpu_moe);
  EXPECT_GT(p.n_cpu_moe, 0);
  EXPECT_EQ(p.kv_cache_bytes, in.gpu_budget_bytes - plan.gpu_weight_bytes - plan.activation_bytes);
  EXPECT_GE(p.kv_cache_bytes, plan.kv_full_bytes + plan.kv_window_bytes);
}

TEST(Placement, ManualFlags) {
  const ModelConfig c = read_model_config("synthetic:120b");
  ModelFlags f;
  f.cpu_moe = true;
  EXPECT_EQ(choose_placement(f, c, "cuda:0", 4096, 2048, 0.9).n_cpu_moe, c.num_layers);
  f.cpu_moe = false;
  f.n_cpu_moe = 7;
  EXPECT_EQ(choose_placement(f, c, "cuda:0", 4096, 2048, 0.9).n_cpu_moe, 7);
  f.n_cpu_moe = c.num_layers + 1;
  EXPECT_THROW(choose_placement(f, c, "cuda:0", 4096, 2048, 0.9), Error);
}

TEST(Placement, ImpossibleBudgetSaysWhatWouldFit) {
  ModelFlags f;
  f.gpu_memory = "2GiB";
  try {
    choose_placement(f, read_model_config("synthetic:120b"), "cuda", 4096, 2048, 0.9);
    FAIL() << "2 GiB cannot hold 120b's attention and embeddings";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("GiB"), std::string::npos) << e.what();
  }
}

// serve's step size when --max-num-batched-tokens is left at 0.
TEST(Placement, BatchedTokensGrowOnlyOnOneWholeLargeGpu) {
  const uint64_t h100 = 80ull << 30, rtx4090 = 24ull << 30;
  ModelFlags f;
  EXPECT_EQ(default_batched_tokens(f, "cuda:0", h100), 8192);
  EXPECT_EQ(default_batched_tokens(f, "cuda:0", rtx4090), 2048);
  EXPECT_EQ(default_batched_tokens(f, "cpu", 0), 2048);
  EXPECT_EQ(default_batched_tokens(f, "cuda:0", 0), 2048);  // memory unknown
  ModelFlags budget;
  budget.gpu_memory = "12GiB";
  EXPECT_EQ(default_batched_tokens(budget, "cuda:0", h100), 2048);
  ModelFlags host;
  host.n_cpu_moe = 4;
  EXPECT_EQ(default_batched_tokens(host, "cuda:0", h100), 2048);
  ModelFlags tp;
  tp.tensor_parallel_size = 2;
  EXPECT_EQ(default_batched_tokens(tp, "cuda:0", h100), 2048);
}
