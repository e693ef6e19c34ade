// gptoss plan: what would go where on a GPU of a given size, before loading
// any weights (only config.json, a GGUF's metadata or a synthetic preset is read).
#include <cstdio>

#include "cli/commands.h"
#include "cli/known_gpus.h"
#include "core/error.h"
#include "core/mem_size.h"
#include "format/model_source.h"
#include "runtime/memory_plan.h"

namespace gptoss::cli {

namespace {

struct PlanFlags {
  std::string model = "synthetic:20b";
  std::string gpu;  // a known card (--gpu): its memory and bandwidths unless given
  std::string gpu_memory;
  double utilization = 0.9;
  PlanInput in;
  bool json = false;
};

// What the plan is for: a known card's figures, each replaced by its flag if
// given. The budget is a share of a card's memory, as `serve` takes it.
struct Target {
  std::string gpu;  // e.g. "NVIDIA GeForce RTX 3060 12 GB"; empty without --gpu
  PlanInput in;
};

Target resolve_target(const PlanFlags& f, const CLI::App& cmd) {
  Target t;
  t.in = f.in;
  if (!f.gpu.empty()) {
    const KnownGpu& g = find_known_gpu(f.gpu);
    t.gpu = g.description;
    if (cmd.count("--gpu-bandwidth") == 0) t.in.gpu_bandwidth = g.bandwidth;
    if (cmd.count("--pcie-bandwidth") == 0) t.in.pcie_bandwidth = g.pcie_bandwidth;
    if (!(f.utilization > 0 && f.utilization <= 1)) throw Error("--gpu-memory-utilization must be in (0, 1]");
    t.in.gpu_budget_bytes = uint64_t(f.utilization * double(g.memory_bytes));
  }
  if (!f.gpu_memory.empty()) t.in.gpu_budget_bytes = parse_mem_size(f.gpu_memory);
  if (t.in.gpu_budget_bytes == 0 && f.gpu.empty())
    throw Error("give --gpu NAME (a card plan knows) or --gpu-memory SIZE (e.g. 12GiB)");
  return t;
}

nlohmann::json to_json(const std::string& name, const std::string& gpu, const PlanInput& in, const Placement& p) {
  nlohmann::json layers = nlohmann::json::array();
  for (auto& l : p.layers)
    layers.push_back({{"layer", l.layer},
                      {"attention", l.sliding ? "sliding" : "full"},
                      {"attention_device", "gpu"},
                      {"attention_bytes", l.attention_bytes},
                      {"experts_device", l.experts_on_gpu ? "gpu" : "cpu"},
                      {"expert_bytes", l.expert_bytes}});
  return {{"model", name},
          {"input",
           {{"gpu", gpu},
            {"gpu_budget_bytes", in.gpu_budget_bytes},
            {"ctx_size", in.ctx_size},
            {"max_num_seqs", in.max_num_seqs},
            {"max_step_tokens", in.max_step_tokens},
            {"cpu_moe", in.cpu_moe},
            {"n_cpu_moe", in.n_cpu_moe},
            {"gpu_bandwidth", in.gpu_bandwidth},
            {"host_bandwidth", in.host_bandwidth},
            {"pcie_bandwidth", in.pcie_bandwidth},
            {"hybrid_gpu_slots", in.hybrid_gpu_slots}}},
          {"n_cpu_moe", p.n_cpu_moe},
          {"layers", layers},
          {"gpu",
           {{"weight_bytes", p.gpu_weight_bytes},
            {"activation_bytes", p.activation_bytes},
            {"kv_full_bytes", p.kv_full_bytes},
            {"kv_window_bytes", p.kv_window_bytes},
            {"total_bytes", p.gpu_total_bytes}}},
          {"host", {{"weight_bytes", p.cpu_weight_bytes}, {"pinned_bytes", p.host_pinned_bytes}}},
          {"kv",
           {{"bytes_per_token", p.kv_bytes_per_token},
            {"max_tokens", p.max_kv_tokens},
            {"max_ctx_at_num_seqs", p.max_ctx_at_num_seqs},
            {"max_seqs_at_ctx", p.max_seqs_at_ctx}}},
          {"decode",
           {{"gpu_bytes_per_token", p.gpu_bytes_per_token},
            {"cpu_bytes_per_token", p.cpu_bytes_per_token},
            {"pcie_bytes_per_token", p.pcie_bytes_per_token},
            {"gpu_ms_per_token", p.gpu_ms_per_token},
            {"cpu_ms_per_token", p.cpu_ms_per_token},
            {"pcie_ms_per_token", p.pcie_ms_per_token},
            {"tokens_per_s", p.decode_tokens_per_s},
            {"best_hybrid_gpu_slots", p.best_hybrid_gpu_slots},
            {"best_tokens_per_s", p.best_decode_tokens_per_s}}},
          {"why", p.why}};
}

void print_text(const std::string& name, const std::string& gpu, const PlanInput& in, const Placement& p) {
  auto m = [](uint64_t b) { return format_mem_size(b); };
  std::printf("plan for %s on a GPU budget of %s (context %d x %d sequence(s), %d tokens/step)\n", name.c_str(),
              m(in.gpu_budget_bytes).c_str(), in.ctx_size, in.max_num_seqs, in.max_step_tokens);
  std::printf("GPU: %s%s%.0f GB/s memory, %.1f GB/s PCIe; host memory %.0f GB/s\n\n", gpu.c_str(),
              gpu.empty() ? "" : ", ", in.gpu_bandwidth / 1e9, in.pcie_bandwidth / 1e9, in.host_bandwidth / 1e9);
  std::printf("layer  attention         experts\n");
  // Runs of layers with the same placement print as one line, so 36 layers stay readable.
  size_t i = 0;
  while (i < p.layers.size()) {
    size_t j = i;
    while (j + 1 < p.layers.size() && p.layers[j + 1].experts_on_gpu == p.layers[i].experts_on_gpu) ++j;
    const auto& l = p.layers[i];
    std::string range = i == j ? std::to_string(i) : std::to_string(i) + "-" + std::to_string(j);
    uint64_t attn = 0, exp = 0;
    for (size_t k = i; k <= j; ++k) attn += p.layers[k].attention_bytes, exp += p.layers[k].expert_bytes;
    std::printf("%-6s GPU %-12s  %s %s\n", range.c_str(), m(attn).c_str(), l.experts_on_gpu ? "GPU" : "CPU",
                m(exp).c_str());
    i = j + 1;
  }
  std::printf("(embedding, unembedding, norms, router and attention of every layer: GPU)\n\n");
  std::printf("GPU   weights      %s\n", m(p.gpu_weight_bytes).c_str());
  std::printf("      activations  %s (%d tokens/step)\n", m(p.activation_bytes).c_str(), in.max_step_tokens);
  std::printf("      KV cache     %s (full layers %s, sliding window %s)\n",
              m(p.kv_full_bytes + p.kv_window_bytes).c_str(), m(p.kv_full_bytes).c_str(),
              m(p.kv_window_bytes).c_str());
  std::printf("      total        %s of %s\n", m(p.gpu_total_bytes).c_str(), m(in.gpu_budget_bytes).c_str());
  std::printf("host  experts      %s (%d of %zu layers)\n", m(p.cpu_weight_bytes).c_str(), p.n_cpu_moe,
              p.layers.size());
  std::printf("      pinned       %s\n\n", m(p.host_pinned_bytes).c_str());
  std::printf("KV    %s per token; the budget holds %lld tokens: context up to %d for %d sequence(s), or up to %d "
              "sequences of %d tokens\n",
              m(p.kv_bytes_per_token).c_str(), (long long)p.max_kv_tokens, p.max_ctx_at_num_seqs, in.max_num_seqs,
              p.max_seqs_at_ctx, in.ctx_size);
  if (p.n_cpu_moe > 0)
    std::printf("decode (batch 1, speed of light): %.0f tokens/s (GPU memory %.2f ms + host experts max(CPU %.2f ms, "
                "PCIe %.2f ms) per token)\n\n",
                p.decode_tokens_per_s, p.gpu_ms_per_token, p.cpu_ms_per_token, p.pcie_ms_per_token);
  else
    std::printf("decode (batch 1, speed of light): %.0f tokens/s (GPU memory %.2f ms per token)\n\n",
                p.decode_tokens_per_s, p.gpu_ms_per_token);
  std::printf("why:\n");
  for (auto& w : p.why) std::printf("  - %s\n", w.c_str());
}

}  // namespace

void add_plan_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("plan", "show what goes on the GPU and what stays in host memory, before loading");
  auto f = std::make_shared<PlanFlags>();
  cmd->add_option("-m,--model", f->model,
                  "checkpoint directory, .gguf file, Hugging Face repo id in the local cache, or synthetic:20b|120b")
      ->capture_default_str();
  std::string names;
  for (const KnownGpu& g : known_gpus()) names += (names.empty() ? "" : ", ") + g.name;
  cmd->add_option("--gpu", f->gpu,
                  "plan for this card, present or not: its memory (times --gpu-memory-utilization) and bandwidths (" +
                      names + ")");
  cmd->add_option("--gpu-memory", f->gpu_memory, "GPU memory to plan for, e.g. 12GiB (with --gpu: instead of its share)");
  cmd->add_option("--gpu-memory-utilization", f->utilization, "share of a --gpu card's memory to use, as serve's")
      ->capture_default_str();
  cmd->add_option("-c,--ctx-size", f->in.ctx_size, "context length per sequence in tokens")->capture_default_str();
  cmd->add_option("--max-num-seqs", f->in.max_num_seqs, "sequences at once")->capture_default_str();
  cmd->add_option("--max-step-tokens", f->in.max_step_tokens, "tokens per forward step (sizes activations)")
      ->capture_default_str();
  cmd->add_flag("--cpu-moe", f->in.cpu_moe, "keep every layer's experts in host memory");
  cmd->add_option("--n-cpu-moe", f->in.n_cpu_moe, "keep the experts of the first N layers in host memory")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--gpu-bandwidth", f->in.gpu_bandwidth, "GPU memory bandwidth in bytes/s")->capture_default_str();
  cmd->add_option("--host-bandwidth", f->in.host_bandwidth, "host memory bandwidth in bytes/s (the CPU's experts)")
      ->capture_default_str();
  cmd->add_option("--pcie-bandwidth", f->in.pcie_bandwidth, "host-to-GPU bandwidth in bytes/s (the GPU's host experts)")
      ->capture_default_str();
  cmd->add_flag("--json", f->json, "print JSON instead of text");
  cmd->callback([f, cmd] {
    const Target t = resolve_target(*f, *cmd);
    std::string name;
    ModelConfig config = read_model_config(f->model, &name);
    Placement p = plan_memory(config, t.in);
    if (f->json) std::printf("%s\n", to_json(name, t.gpu, t.in, p).dump(2).c_str());
    else print_text(name, t.gpu, t.in, p);
  });
}

}  // namespace gptoss::cli
