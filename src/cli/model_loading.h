#pragma once
// What every model-using subcommand shares: --model/--device/--threads flags,
// loading with a progress line, and the runner.
#include <CLI/CLI.hpp>
#include <memory>
#include <string>

#include "format/model_source.h"
#include "model/runner_factory.h"

namespace gptoss::cli {

struct ModelFlags {
  std::string model = "synthetic:tiny";
  std::string device = "auto";
  int threads = 0;
  uint64_t seed = 0;  // for synthetic weights
  int ctx_size = 4096;

  void add_to(CLI::App& cmd, bool with_ctx = true);
};

ModelSource load_model(const ModelFlags& flags);  // prints progress and a summary to stderr
std::unique_ptr<ModelRunner> load_runner(const ModelFlags& flags, const ModelSource& source);

}  // namespace gptoss::cli
