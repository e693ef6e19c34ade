// The memory planner against numbers worked out by hand from the gpt-oss shapes
// (H = I = 2880, 64 q heads, 8 kv heads of 64, V = 201088; 20b: 24 layers x 32
// experts, 120b: 36 layers x 128 experts; 12 full + 12 sliding layers for 20b).
#include <gtest/gtest.h>

#include "core/error.h"
#include "runtime/kv_sizing.h"
#include "runtime/memory_plan.h"

using namespace gptoss;

namespace {

constexpr uint64_t GiB = 1ull << 30;

// One expert: gate_up 5760 rows x 90 blocks x (16 + 1) bytes + 5760 bf16 bias,
// down 2880 rows x 90 x 17 + 2880 bf16 bias.
constexpr uint64_t kExpert = 5760ull * 90 * 17 + 5760 * 2 + 2880ull * 90 * 17 + 2880 * 2;  // 13,236,480
static_assert(kExpert == 13236480);
// Embedding + unembedding (V x H bf16 each) + final norm.
constexpr uint64_t kGlobal = 2ull * 201088 * 2880 * 2 + 2880 * 2;
// Per layer without experts: 2 norms, q/k/v/o with biases, 64 sinks, router (E x H + E).
constexpr uint64_t attn_bytes(uint64_t E) {
  return 2 * 2880 * 2 + (4096ull * 2880 + 4096) * 2 + 2 * (512ull * 2880 + 512) * 2 + (2880ull * 4096 + 2880) * 2 +
         64 * 2 + (E * 2880 + E) * 2;
}
constexpr uint64_t k20bWeights = kGlobal + 24 * (attn_bytes(32) + 32 * kExpert);
static_assert(k20bWeights == 13761264768ull);  // 12.8 GiB: the size of the real checkpoint

PlanInput budget(double gib) {
  PlanInput in;
  in.gpu_budget_bytes = uint64_t(gib * double(GiB));
  return in;
}

}  // namespace

TEST(MemoryPlan, ActivationsAreUnder1GiBAt2048TokensPerStep) {
  const uint64_t a = activation_bytes(ModelConfig::preset("20b"), 2048);
  const uint64_t logits = 512ull * 201088 * 4;  // at most 512 rows: 0.38 GiB of it
  EXPECT_GT(a, logits);
  EXPECT_GT(a, uint64_t(0.80 * double(GiB)));
  EXPECT_LT(a, uint64_t(0.95 * double(GiB)));
  // Half the step: the per-token buffers halve (about 0.16 GiB of them); the
  // 512 logits rows, the 1024-row MMA buffers, workspace and staging stay.
  const uint64_t a1024 = activation_bytes(ModelConfig::preset("20b"), 1024);
  EXPECT_LT(a1024, a - uint64_t(0.1 * double(GiB)));
  EXPECT_GT(a1024, logits + (64ull << 20));
}

TEST(MemoryPlan, Model20bFitsEntirelyIn16GiB) {
  Placement p = plan_memory(ModelConfig::preset("20b"), budget(16));
  EXPECT_EQ(p.n_cpu_moe, 0);
  EXPECT_EQ(p.gpu_weight_bytes, k20bWeights);
  EXPECT_EQ(p.cpu_weight_bytes, 0u);
  for (auto& l : p.layers) EXPECT_TRUE(l.experts_on_gpu) << l.layer;
  // KV: 12 full layers x 8 kv heads x 64 x (k, v) x bf16 = 24 KiB per position.
  EXPECT_EQ(p.kv_bytes_per_token, 12u * 512 * 2 * 2);
  EXPECT_EQ(p.kv_full_bytes, 4096u * 24576);
  // Sliding pool: max(ring (128 + 2048) / 16 + 1 = 137, 1.5 x (10 + 128 + 1) = 208) blocks
  // of 16 positions x 2 KiB x 12 layers.
  EXPECT_EQ(p.kv_window_bytes, 208u * 16 * 2048 * 12);
  EXPECT_EQ(p.gpu_total_bytes, k20bWeights + p.activation_bytes + p.kv_full_bytes + p.kv_window_bytes);
  EXPECT_LE(p.gpu_total_bytes, 16 * GiB);
  // What is left holds this many more positions.
  const uint64_t left = 16 * GiB - k20bWeights - p.activation_bytes - p.kv_window_bytes;
  EXPECT_EQ(p.max_kv_tokens, int64_t(left / 24576 / 16 * 16));
  EXPECT_EQ(p.max_ctx_at_num_seqs, int(p.max_kv_tokens));
  EXPECT_GE(p.max_seqs_at_ctx, 1);
  // Decode reads the non-expert weights (less the embedding table, one row of it),
  // 4 of 32 experts per layer, and the KV of 4096 full / 128 sliding positions.
  const uint64_t read = 2880 * 2 + 2880 * 2 + 201088ull * 2880 * 2 + 24 * attn_bytes(32) + 24 * 4 * kExpert +
                        12 * 4096ull * 2048 + 12 * 128ull * 2048;
  EXPECT_EQ(p.gpu_bytes_per_token, read);
  EXPECT_EQ(p.cpu_bytes_per_token, 0u);
  EXPECT_NEAR(p.decode_tokens_per_s, 3.35e12 / double(read), 1e-6 * p.decode_tokens_per_s);
}

TEST(MemoryPlan, Model20bIn12GiBMovesTheFirstLayersExpertsToTheCpu) {
  // GPU: 3.35 GiB non-expert + 0.85 GiB activations + 0.17 GiB KV = 4.4 GiB, leaving
  // 7.6 GiB for experts at 0.39 GiB a layer: 19 layers fit, the first 5 go to the CPU.
  Placement p = plan_memory(ModelConfig::preset("20b"), budget(12));
  EXPECT_EQ(p.n_cpu_moe, 5);
  for (auto& l : p.layers) EXPECT_EQ(l.experts_on_gpu, l.layer >= 5) << l.layer;
  EXPECT_EQ(p.cpu_weight_bytes, 5 * 32 * kExpert);
  EXPECT_EQ(p.gpu_weight_bytes, k20bWeights - 5 * 32 * kExpert);
  EXPECT_LE(p.gpu_total_bytes, 12 * GiB);
  // 5 host layers x 4 active experts: the CPU reads 2 of each token's 4 at
  // 50 GB/s (2.6 ms) while the GPU reads the other 2 over PCIe 5.0 at 64 GB/s.
  EXPECT_EQ(p.cpu_bytes_per_token, 5 * 2 * kExpert);
  EXPECT_EQ(p.pcie_bytes_per_token, 5 * 2 * kExpert);
  EXPECT_NEAR(p.cpu_ms_per_token, double(5 * 2 * kExpert) / 50e9 * 1e3, 1e-9);
  EXPECT_NEAR(p.pcie_ms_per_token, double(5 * 2 * kExpert) / 64e9 * 1e3, 1e-9);
  EXPECT_NEAR(p.decode_tokens_per_s, 1e3 / (p.gpu_ms_per_token + p.cpu_ms_per_token), 1e-9);
}

// A consumer card: RTX 3060 figures (360 GB/s, PCIe 4.0 x16 at 31.5 GB/s)
// with the same 5 host layers. The two host paths run at once, so the slower
// one (PCIe: 132 MB at 31.5 GB/s = 4.2 ms, against the CPU's 2.6 ms) counts,
// after the GPU's own reads; with no GPU slots the CPU reads all 4 (5.3 ms).
TEST(MemoryPlan, HostExpertsAreReadByTheCpuAndOverPcieAtOnce) {
  const ModelConfig c = ModelConfig::preset("20b");
  PlanInput in = budget(12);
  in.gpu_bandwidth = 360e9;
  in.pcie_bandwidth = 31.5e9;
  Placement p = plan_memory(c, in);
  ASSERT_EQ(p.n_cpu_moe, 5);
  const uint64_t half = 5 * 2 * kExpert;  // 132,364,800 bytes
  const uint64_t gpu_read = 2880 * 2 + 2880 * 2 + 201088ull * 2880 * 2 + 24 * attn_bytes(32) + 19 * 4 * kExpert +
                            12 * 4096ull * 2048 + 12 * 128ull * 2048;
  EXPECT_EQ(p.gpu_bytes_per_token, gpu_read);
  EXPECT_EQ(p.pcie_bytes_per_token, half);
  EXPECT_EQ(p.cpu_bytes_per_token, half);
  EXPECT_NEAR(p.pcie_ms_per_token, 4.2020571, 1e-6);
  EXPECT_NEAR(p.cpu_ms_per_token, 2.647296, 1e-6);
  EXPECT_NEAR(p.decode_tokens_per_s, 1e3 / (double(gpu_read) / 360e9 * 1e3 + 4.2020571), 1e-3);
  bool said = false;
  for (auto& w : p.why) said |= w.find("2 over PCIe") != std::string::npos;
  EXPECT_TRUE(said);

  // Here the CPU is the faster path: 3 of 4 on the CPU (3.97 ms) and 1 over
  // PCIe (2.10 ms) beats 2 and 2 (4.20 ms on PCIe).
  EXPECT_EQ(p.best_hybrid_gpu_slots, 1);
  EXPECT_NEAR(p.best_decode_tokens_per_s, 1e3 / (double(gpu_read) / 360e9 * 1e3 + 1.5 * 2.647296), 1e-3);

  in.hybrid_gpu_slots = 0;
  p = plan_memory(c, in);
  EXPECT_EQ(p.pcie_bytes_per_token, 0u);
  EXPECT_EQ(p.cpu_bytes_per_token, 2 * half);
  EXPECT_NEAR(p.decode_tokens_per_s, 1e3 / (double(gpu_read) / 360e9 * 1e3 + 5.294592), 1e-3);

  // All on the PCIe side, and the host bandwidth no longer matters.
  in.hybrid_gpu_slots = 4;
  in.host_bandwidth = 1e9;
  p = plan_memory(c, in);
  EXPECT_EQ(p.cpu_bytes_per_token, 0u);
  EXPECT_NEAR(p.decode_tokens_per_s, 1e3 / (double(gpu_read) / 360e9 * 1e3 + 2 * 4.2020571), 1e-3);
  in.pcie_bandwidth = 0;
  EXPECT_THROW(plan_memory(c, in), Error);
}

TEST(MemoryPlan, Model120bIn16GiBKeepsAttentionOnTheGpuAndMostExpertsOnTheCpu) {
  // Non-expert 3.96 GiB + 0.85 GiB activations + 0.25 GiB KV leave 10.9 GiB: 6 of
  // 36 layers' experts (1.58 GiB each) fit; 30 stay in host memory.
  Placement p = plan_memory(ModelConfig::preset("120b"), budget(16));
  EXPECT_EQ(p.n_cpu_moe, 30);
  EXPECT_EQ(p.cpu_weight_bytes, 30 * 128 * kExpert);
  EXPECT_EQ(p.gpu_weight_bytes, kGlobal + 36 * attn_bytes(128) + 6 * 128 * kExpert);
  EXPECT_GT(p.kv_full_bytes, 0u);
  EXPECT_LE(p.gpu_total_bytes, 16 * GiB);
}

TEST(MemoryPlan, ImpossibleBudgetSaysWhatWouldFit) {
  try {
    plan_memory(ModelConfig::preset("120b"), budget(1));
    FAIL() << "1 GiB cannot hold 120b's attention and embeddings";
  } catch (const Error& e) {
    std::string m = e.what();
    EXPECT_NE(m.find("even with every expert in host memory"), std::string::npos) << m;
    EXPECT_NE(m.find("budget is 1.0 GiB"), std::string::npos) << m;
    EXPECT_NE(m.find("--gpu-memory"), std::string::npos) << m;
  }
  // 4.4 GiB holds 120b's non-expert weights but not with 2048-token activations:
  // the message names a step size that fits.
  try {
    plan_memory(ModelConfig::preset("120b"), budget(4.4));
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("--max-step-tokens"), std::string::npos) << e.what();
  }
  // A context too long for the budget: the message names the context that fits.
  PlanInput in = budget(8);
  in.ctx_size = 131072;
  in.max_num_seqs = 4;
  try {
    plan_memory(ModelConfig::preset("20b"), in);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("--ctx-size"), std::string::npos) << e.what();
  }
}

TEST(MemoryPlan, NCpuMoeIsRespectedAndCheckedAgainstTheBudget) {
  PlanInput in = budget(16);
  in.n_cpu_moe = 5;
  Placement p = plan_memory(ModelConfig::preset("20b"), in);
  EXPECT_EQ(p.n_cpu_moe, 5);
  for (auto& l : p.layers) EXPECT_EQ(l.experts_on_gpu, l.layer >= 5);
  in.cpu_moe = true;
  p = plan_memory(ModelConfig::preset("20b"), in);
  EXPECT_EQ(p.n_cpu_moe, 24);
  EXPECT_EQ(p.gpu_weight_bytes, k20bWeights - 24 * 32 * kExpert);
  // Too few CPU layers for 12 GiB: the error names the smallest N that fits.
  in = budget(12);
  in.n_cpu_moe = 2;
  try {
    plan_memory(ModelConfig::preset("20b"), in);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("use --n-cpu-moe 5 or more"), std::string::npos) << e.what();
  }
  in.n_cpu_moe = 25;
  EXPECT_THROW(plan_memory(ModelConfig::preset("20b"), in), Error);
}

TEST(MemoryPlan, MoreBudgetNeverPutsMoreExpertsOnTheCpu) {
  for (const char* model : {"20b", "120b"}) {
    const ModelConfig c = ModelConfig::preset(model);
    int last = c.num_layers + 1;
    bool feasible = false;
    for (double g = 2; g <= 96; g += 0.25) {
      try {
        Placement p = plan_memory(c, budget(g));
        EXPECT_LE(p.n_cpu_moe, last) << model << " at " << g << " GiB";
        last = p.n_cpu_moe;
        feasible = true;
      } catch (const Error&) {
        EXPECT_FALSE(feasible) << model << ": " << g << " GiB fails after a smaller budget fitted";
      }
    }
    EXPECT_EQ(last, 0) << model << " fits entirely in 96 GiB";
  }
}

TEST(MemoryPlan, RejectsBadInputs) {
  const ModelConfig c = ModelConfig::preset("20b");
  PlanInput in = budget(16);
  in.ctx_size = 200000;
  EXPECT_THROW(plan_memory(c, in), Error);
  in = budget(0);
  EXPECT_THROW(plan_memory(c, in), Error);
  in = budget(16);
  in.max_num_seqs = 0;
  EXPECT_THROW(plan_memory(c, in), Error);
}

// A server's --max-num-seqs 64 sequences each keep a 128-token window on the
// 12 sliding layers (0.46 GiB with the cache room kv_sizing adds): the plan
// reserves it, moving a sixth layer's experts to the CPU, so the engine's KV
// sizing then finds room for all 64 windows and one full context.
TEST(MemoryPlan, ServingBudgetKeepsEverySequencesSlidingWindow) {
  const ModelConfig c = ModelConfig::preset("20b");
  PlanInput in = budget(12);
  in.window_seqs = 64;
  Placement p = plan_memory(c, in);
  KvSizingInput k;
  k.max_num_seqs = 64;
  const uint64_t per_block = 16ull * 512 * 2 * 2 * 12;  // tokens x kv_dim x (k, v) x bf16 x sliding layers
  EXPECT_EQ(p.kv_window_bytes, uint64_t(window_pool_blocks(c, k)) * per_block);
  EXPECT_GT(p.kv_window_bytes, 450ull << 20);
  EXPECT_EQ(p.n_cpu_moe, 6);
  EXPECT_LE(p.gpu_total_bytes, 12 * GiB);
  const uint64_t kv_left = in.gpu_budget_bytes - p.gpu_weight_bytes - p.activation_bytes;
  EXPECT_GE(kv_left, p.kv_window_bytes + p.kv_full_bytes);
}
