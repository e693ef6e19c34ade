// The `gptoss` binary's outside-facing commands on the golden fixture: the
// exact forms other tools call (logits, generate, inspect) give the reference numbers.
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "format/safetensors.h"
#include "test_paths.h"

using namespace gptoss;

namespace {

const std::string kFixture = test::fixtures_dir() + "/tiny-gptoss";

// Runs a command, returns (exit code, stdout, and stderr if asked).
std::pair<int, std::string> run(const std::string& cmd, bool with_stderr = false) {
  std::string out;
  FILE* p = popen((cmd + (with_stderr ? " 2>&1" : " 2>/dev/null")).c_str(), "r");
  std::array<char, 4096> buf;
  size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), p)) > 0) out.append(buf.data(), n);
  int rc = pclose(p);
  return {WEXITSTATUS(rc), out};
}

std::vector<int32_t> golden_ids(const SafetensorsFile& g, const char* name) {
  auto* t = g.find(name);
  auto* p = reinterpret_cast<const int32_t*>(t->data);
  return {p, p + t->numel()};
}

TEST(Cli, LogitsCommandReproducesGolden) {
  auto golden = SafetensorsFile::open(kFixture + "/golden.safetensors");
  auto ids = golden_ids(*golden, "input_ids");
  auto dir = std::filesystem::temp_directory_path() / ("gptoss_cli_" + std::to_string(getpid()));
  std::filesystem::create_directories(dir);
  std::ofstream((dir / "ids.json").string()) << nlohmann::json(ids).dump();
  auto [rc, out] = run(std::string(GPTOSS_BIN) + " logits --model " + kFixture + " --ids-file " + (dir / "ids.json").string() +
                       " --out " + (dir / "logits.safetensors").string());
  ASSERT_EQ(rc, 0);
  auto mine = SafetensorsFile::open((dir / "logits.safetensors").string());
  auto* t = mine->find("logits");
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t->dtype, DType::F32);
  EXPECT_EQ(t->shape, (std::vector<int64_t>{300, 2048}));
  auto* a = reinterpret_cast<const float*>(t->data);
  auto* r = reinterpret_cast<const float*>(golden->find("logits")->data);
  float d = 0;
  for (int64_t i = 0; i < t->numel(); ++i) d = std::max(d, std::fabs(a[i] - r[i]));
  EXPECT_LT(d, 1e-3f);
}

TEST(Cli, GenerateGreedyPrintsGoldenIds) {
  auto golden = SafetensorsFile::open(kFixture + "/golden.safetensors");
  auto ids = golden_ids(*golden, "input_ids");
  auto greedy = golden_ids(*golden, "greedy_ids");
  std::string csv;
  for (auto i : ids) csv += (csv.empty() ? "" : ",") + std::to_string(i);
  auto [rc, out] = run(std::string(GPTOSS_BIN) + " generate --model " + kFixture + " --ids " + csv +
                       " --max-tokens 32 --temperature 0 --print-ids --ignore-eos");
  ASSERT_EQ(rc, 0);
  EXPECT_EQ(nlohmann::json::parse(out).get<std::vector<int32_t>>(), greedy);
}

TEST(Cli, InspectReportsParamsAndBadInputFailsCleanly) {
  auto [rc, out] = run(std::string(GPTOSS_BIN) + " inspect --json --model synthetic:20b");
  ASSERT_EQ(rc, 0);
  auto j = nlohmann::json::parse(out);
  EXPECT_NEAR(j["params_total"].get<double>() / 1e9, 20.9, 0.1);
  EXPECT_GT(j["bytes_by_kind"]["experts (MXFP4 + bias)"].get<double>(), 10e9);
  // Errors are messages and exit code 1, never a crash.
  EXPECT_EQ(run(std::string(GPTOSS_BIN) + " generate --model /nonexistent --ids 1").first, 1);
  EXPECT_EQ(run(std::string(GPTOSS_BIN) + " generate --model " + kFixture + " --ids 1,99999").first, 1);
  EXPECT_EQ(run(std::string(GPTOSS_BIN) + " generate --model " + kFixture + " --ids abc").first, 1);
  EXPECT_EQ(run(std::string(GPTOSS_BIN) + " generate --model " + kFixture + " --ids 1 --device cuda:7").first, 1);
  // A malformed device is refused with what --device takes, before any loading.
  for (const std::string device : {"cuda:abc", "cuda:", "gpu"}) {
    auto [drc, err] = run(std::string(GPTOSS_BIN) + " generate --model " + kFixture + " --ids 1 --device " + device, true);
    EXPECT_TRUE(drc > 0 && drc < 128) << device << ": exit code " << drc;  // CLI11's usage-error code, not a signal
    EXPECT_NE(err.find("cuda:N"), std::string::npos) << err;
    EXPECT_EQ(err.find("loading"), std::string::npos) << err;
  }
}

TEST(Cli, PlanPlacesExpertsBeforeLoadingAnything) {
  // synthetic:120b would be 61 GiB of weights: plan must answer from the preset alone.
  auto [rc, out] = run(std::string(GPTOSS_BIN) + " plan --json --model synthetic:20b --gpu-memory 12GiB");
  ASSERT_EQ(rc, 0) << out;
  auto j = nlohmann::json::parse(out);
  EXPECT_EQ(j["n_cpu_moe"], 5);
  EXPECT_EQ(j["layers"][0]["experts_device"], "cpu");
  EXPECT_EQ(j["layers"][23]["experts_device"], "gpu");
  EXPECT_EQ(j["layers"][0]["attention_device"], "gpu");
  auto [rc2, text] = run(std::string(GPTOSS_BIN) + " plan --model synthetic:120b --gpu-memory 16GiB");
  ASSERT_EQ(rc2, 0);
  EXPECT_NE(text.find("0-29   GPU"), std::string::npos) << text;
  EXPECT_NE(text.find("tokens/s"), std::string::npos) << text;
  auto [rc3, n4] = run(std::string(GPTOSS_BIN) + " plan --json --model " + kFixture + " --gpu-memory 1GiB --n-cpu-moe 2");
  ASSERT_EQ(rc3, 0);
  EXPECT_EQ(nlohmann::json::parse(n4)["n_cpu_moe"], 2);
  // Impossible: exit 1 with the numbers and what to change on stderr.
  auto [rc4, err] = run("(" + std::string(GPTOSS_BIN) + " plan --model synthetic:120b --gpu-memory 1GiB 2>&1)");
  EXPECT_EQ(rc4, 1);
  EXPECT_NE(err.find("budget is 1.0 GiB"), std::string::npos) << err;
}

// The seeds' cards, which this machine does not have: --gpu NAME plans with
// the card's memory (times serve's default 0.9 utilization) and bandwidths.
TEST(Cli, PlanForACardThatIsNotHere) {
  constexpr uint64_t GiB = 1ull << 30;
  auto plan = [](const std::string& args) {
    auto [rc, out] = run(std::string(GPTOSS_BIN) + " plan --json " + args);
    EXPECT_EQ(rc, 0) << args << ": " << out;
    return rc == 0 ? nlohmann::json::parse(out) : nlohmann::json::object();
  };
  // RTX 3060 12 GB, 20b: 10.8 GiB leave room for the experts of only some layers.
  auto j = plan("--gpu rtx3060 --model synthetic:20b");
  ASSERT_TRUE(j.contains("input"));
  EXPECT_EQ(j["input"]["gpu_budget_bytes"], uint64_t(0.9 * double(12 * GiB)));
  EXPECT_EQ(j["input"]["gpu_bandwidth"], 360e9);
  EXPECT_EQ(j["input"]["pcie_bandwidth"], 31.5e9);
  EXPECT_GT(j["n_cpu_moe"].get<int>(), 0);
  EXPECT_LT(j["n_cpu_moe"].get<int>(), 24);
  const auto& d = j["decode"];
  EXPECT_NEAR(d["tokens_per_s"].get<double>(),
              1e3 / (d["gpu_ms_per_token"].get<double>() +
                     std::max(d["cpu_ms_per_token"].get<double>(), d["pcie_ms_per_token"].get<double>())),
              1e-6);
  EXPECT_GT(d["pcie_bytes_per_token"].get<uint64_t>(), 0u);
  // RTX 4090 24 GB: 20b fits whole; decode is GPU memory alone at 1008 GB/s.
  j = plan("--gpu RTX-4090 --model synthetic:20b");
  ASSERT_TRUE(j.contains("decode"));
  EXPECT_EQ(j["n_cpu_moe"], 0);
  EXPECT_NEAR(j["decode"]["tokens_per_s"].get<double>(), 1008e9 / j["decode"]["gpu_bytes_per_token"].get<double>(), 1e-6);
  // V100 16 GB with 120b: most experts in host memory, read over PCIe 3.0 too.
  j = plan("--gpu v100 --model synthetic:120b");
  ASSERT_TRUE(j.contains("decode"));
  EXPECT_GT(j["n_cpu_moe"].get<int>(), 24);
  EXPECT_EQ(j["input"]["gpu_bandwidth"], 900e9);
  EXPECT_EQ(j["input"]["pcie_bandwidth"], 15.8e9);
  EXPECT_GT(j["decode"]["pcie_ms_per_token"].get<double>(), j["decode"]["gpu_ms_per_token"].get<double>());
  // PCIe 3.0 is the slower path there: the plan says to give the CPU more.
  EXPECT_LT(j["decode"]["best_hybrid_gpu_slots"].get<int>(), 2);
  EXPECT_GT(j["decode"]["best_tokens_per_s"].get<double>(), j["decode"]["tokens_per_s"].get<double>());
  // A flag given wins over the card's figure.
  j = plan("--gpu rtx3060 --gpu-memory 8GiB --pcie-bandwidth 25e9 --model synthetic:20b");
  ASSERT_TRUE(j.contains("input"));
  EXPECT_EQ(j["input"]["gpu_budget_bytes"], 8 * GiB);
  EXPECT_EQ(j["input"]["gpu_bandwidth"], 360e9);
  EXPECT_EQ(j["input"]["pcie_bandwidth"], 25e9);
  // The text names the card and the speed model's parts.
  auto [rc, text] = run(std::string(GPTOSS_BIN) + " plan --gpu v100 --model synthetic:120b");
  ASSERT_EQ(rc, 0);
  EXPECT_NE(text.find("V100"), std::string::npos) << text;
  EXPECT_NE(text.find("PCIe"), std::string::npos) << text;
  EXPECT_NE(text.find("tokens/s"), std::string::npos) << text;
  // An unknown card, or neither a card nor a size: exit 1 saying what to give.
  auto [rc2, err] = run(std::string(GPTOSS_BIN) + " plan --gpu rtx9999", true);
  EXPECT_EQ(rc2, 1);
  EXPECT_NE(err.find("rtx3060"), std::string::npos) << err;
  EXPECT_NE(err.find("--gpu-bandwidth"), std::string::npos) << err;
  auto [rc3, err3] = run(std::string(GPTOSS_BIN) + " plan --model synthetic:20b", true);
  EXPECT_EQ(rc3, 1);
  EXPECT_NE(err3.find("--gpu-memory"), std::string::npos) << err3;
}

}  // namespace

// Prompts longer than a step run in chunks (as the server runs them), with
// the second half's rate reported too; -g 0 and --batch-gen 0 skip decode
// instead of failing.
TEST(Cli, BenchChunksLongPromptsAndSkipsEmptyDecode) {
  auto [rc, out] = run(std::string(GPTOSS_BIN) + " bench --model " + kFixture +
                           " --device cpu -p 96 --max-step-tokens 32 -g 0 -b 1 --batch-gen 0 -r 1",
                       true);
  ASSERT_EQ(rc, 0) << out;
  EXPECT_NE(out.find("pp96 "), std::string::npos) << out;
  EXPECT_NE(out.find("pp96 @32+"), std::string::npos) << out;
  EXPECT_EQ(out.find("skipping"), std::string::npos) << out;
  EXPECT_EQ(out.find("error"), std::string::npos) << out;
  EXPECT_EQ(out.find("tg0"), std::string::npos) << out;
}
