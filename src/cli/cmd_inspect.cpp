// gptoss inspect: what a checkpoint is, without running it.
#include <cstdio>
#include <map>

#include "cli/commands.h"
#include "cli/model_loading.h"
#include "core/mem_size.h"
#include "format/tensor_plan.h"

namespace gptoss::cli {

namespace {

std::string tensor_kind(const std::string& name) {
  if (name.find("embed_tokens") != std::string::npos) return "embedding";
  if (name.find("lm_head") != std::string::npos) return "unembedding";
  if (name.find("mlp.experts") != std::string::npos) return "experts (MXFP4 + bias)";
  if (name.find("mlp.router") != std::string::npos) return "router";
  if (name.find("self_attn") != std::string::npos) return "attention";
  if (name.find("norm") != std::string::npos) return "norms";
  return "other";
}

}  // namespace

void add_inspect_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("inspect", "print a model's config, parameter counts and tensor bytes by kind");
  auto flags = std::make_shared<ModelFlags>();
  flags->add_to(*cmd, false);
  auto json_out = std::make_shared<bool>(false);
  cmd->add_flag("--json", *json_out, "print JSON instead of text");
  cmd->callback([flags, json_out] {
    // Synthetic models are described from their plan, without making 60 GiB of weights.
    ModelSource src;
    std::map<std::string, size_t> by_kind;
    size_t total = 0;
    if (flags->model.rfind("synthetic:", 0) == 0 && flags->model.find(".json") == std::string::npos) {
      src.config = ModelConfig::preset(flags->model.substr(10));
      src.name = flags->model;
      for (auto& t : plan_tensors(src.config)) by_kind[tensor_kind(t.name)] += t.bytes(), total += t.bytes();
    } else {
      src = load_model(*flags);
      for (auto& [name, t] : src.weights->tensors()) by_kind[tensor_kind(name)] += t.nbytes;
      total = src.weights->total_bytes();
    }
    const ModelConfig& c = src.config;
    if (*json_out) {
      nlohmann::json j = {{"model", src.name},
                          {"config", c.to_json()},
                          {"params_total", c.params_total()},
                          {"params_active", c.params_active()},
                          {"bytes_total", total},
                          {"bytes_by_kind", by_kind}};
      std::printf("%s\n", j.dump(2).c_str());
      return;
    }
    std::printf("model            %s\n", src.name.c_str());
    std::printf("layers           %d (%s)\n", c.num_layers, "sliding/full alternating");
    std::printf("hidden           %d, intermediate %d per expert\n", c.hidden_size, c.intermediate_size);
    std::printf("attention        %d query heads, %d kv heads, head_dim %d, window %d\n", c.num_heads,
                c.num_kv_heads, c.head_dim, c.sliding_window);
    std::printf("experts          %d, top-%d per token\n", c.num_experts, c.experts_per_token);
    std::printf("vocabulary       %d\n", c.vocab_size);
    std::printf("rope             yarn factor %.0f, theta %.0f, original context %d\n", c.rope.factor, c.rope_theta,
                c.rope.original_max_position);
    std::printf("parameters       %.3fB total, %.3fB active per token\n", double(c.params_total()) / 1e9,
                double(c.params_active()) / 1e9);
    std::printf("tensor bytes     %s\n", format_mem_size(total).c_str());
    for (auto& [kind, bytes] : by_kind) std::printf("  %-24s %s\n", kind.c_str(), format_mem_size(bytes).c_str());
  });
}

}  // namespace gptoss::cli
