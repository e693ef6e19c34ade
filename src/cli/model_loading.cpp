#include "cli/model_loading.h"

#include <chrono>
#include <cstdio>

#include "core/mem_size.h"
#include "core/progress.h"

namespace gptoss::cli {

void ModelFlags::add_to(CLI::App& cmd, bool with_ctx) {
  cmd.add_option("-m,--model", model,
                 "checkpoint directory, Hugging Face repo id in the local cache, or synthetic:tiny|20b|120b")
      ->capture_default_str();
  cmd.add_option("--device", device, "auto (a GPU when there is one), cpu, cuda or cuda:N")->capture_default_str();
  cmd.add_option("-t,--threads", threads, "CPU threads (0 = all cores)")->capture_default_str();
  cmd.add_option("--seed", seed, "seed for synthetic weights")->capture_default_str();
  if (with_ctx) cmd.add_option("-c,--ctx-size", ctx_size, "maximum context length in tokens")->capture_default_str();
}

ModelSource load_model(const ModelFlags& f) {
  auto t0 = std::chrono::steady_clock::now();
  Progress progress("loading " + f.model);
  ModelSource src = open_model(f.model, f.seed, [&](size_t done, size_t total) { progress.update(done, total); });
  double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::fprintf(stderr, "model %s: %d layers, %d experts (top-%d), %.2fB params (%.2fB active), %s weights, %.1f s\n",
               src.name.c_str(), src.config.num_layers, src.config.num_experts, src.config.experts_per_token,
               double(src.config.params_total()) / 1e9, double(src.config.params_active()) / 1e9,
               format_mem_size(src.weights->total_bytes()).c_str(), s);
  return src;
}

std::unique_ptr<ModelRunner> load_runner(const ModelFlags& f, const ModelSource& src) {
  RunnerOptions o;
  o.device = f.device;
  o.threads = f.threads;
  return make_runner(src, o);
}

}  // namespace gptoss::cli
