#pragma once
// What every model-using subcommand shares: --model/--device/--threads flags,
// loading with a progress line, and the runner.
#include <CLI/CLI.hpp>
#include <memory>
#include <string>
#include <vector>

#include "format/model_source.h"
#include "model/runner_factory.h"

namespace gptoss::cli {

struct ModelFlags {
  std::string model = "synthetic:tiny";
  std::string device = "auto";
  int threads = 0;
  uint64_t seed = 0;  // for synthetic weights
  int ctx_size = 4096;
  // where the experts go on a GPU (cli/placement.h)
  std::string gpu_memory;  // e.g. 12GiB: plan for this much GPU memory
  bool cpu_moe = false;    // every layer's experts in host memory
  int n_cpu_moe = -1;      // the first N layers' experts in host memory; -1: planned
  int tensor_parallel_size = 1;
  std::vector<int> devices;
  bool expert_parallel = false;  // with --tp N: whole experts per GPU instead of slices of all
  std::string nccl_id_file;  // one process per GPU: this one is rank 0 (cmd_tp_worker.cpp runs the others)

  void add_to(CLI::App& cmd, bool with_ctx = true);
};

ModelSource load_model(const ModelFlags& flags);  // prints progress and a summary to stderr
// The runner, with experts placed by the planner. kv_cache_bytes (if given)
// receives the KV budget a --gpu-memory plan leaves, 0 if none.
// max_num_seqs: sequences the caller runs at once (the plan keeps room for their sliding windows).
std::unique_ptr<ModelRunner> load_runner(const ModelFlags& flags, const ModelSource& source, int max_step_tokens = 2048,
                                         double gpu_memory_utilization = 0.9, uint64_t* kv_cache_bytes = nullptr,
                                         int max_num_seqs = 1);

}  // namespace gptoss::cli
