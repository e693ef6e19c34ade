#pragma once
// Where the experts go when a model is loaded for serve/chat/bench: the
// memory planner (runtime/memory_plan.h) applied to --gpu-memory, --cpu-moe
// and --n-cpu-moe, or, with none of them, to the GPU's own free memory so a
// model larger than the GPU still loads with some experts in host memory.
#include <cstdint>
#include <string>

#include "cli/model_loading.h"
#include "format/model_config.h"

namespace gptoss::cli {

struct PlacementChoice {
  int n_cpu_moe = 0;          // layers whose experts stay in host memory
  uint64_t kv_cache_bytes = 0;  // from a --gpu-memory budget; 0: the engine sizes the KV cache
};

// device: the resolved device string; ctx/step: what the KV cache and the
// activations must hold; max_num_seqs: sequences served at once (their
// sliding windows must all fit); utilization: share of the GPU to use when no
// --gpu-memory is given.
PlacementChoice choose_placement(const ModelFlags& flags, const ModelConfig& config, const std::string& device,
                                 int ctx_size, int max_step_tokens, double utilization, int max_num_seqs = 1);

// serve's --max-num-batched-tokens 0: 8192 on one whole GPU (no --gpu-memory
// budget, no experts on the host, one device) of 70 GiB or more, 2048
// elsewhere. gpu_total_bytes: the device's memory (0 when unknown or a CPU).
int default_batched_tokens(const ModelFlags& flags, const std::string& device, uint64_t gpu_total_bytes);

}  // namespace gptoss::cli
