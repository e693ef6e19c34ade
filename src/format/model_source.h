#pragma once
// Turns what the user typed after --model into a config and its weights:
//   a checkpoint directory (config.json + safetensors, sharded or not),
//   a llama.cpp GGUF file (path ending in .gguf, see gguf_model.h),
//   a Hugging Face repo id found in the local HF cache ("openai/gpt-oss-20b"),
//   synthetic:tiny | synthetic:20b | synthetic:120b | synthetic:CONFIG.json
//   (random weights with those shapes, made in memory from a seed).
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "format/model_config.h"
#include "format/weight_store.h"

namespace gptoss {

struct ModelSource {
  ModelConfig config;
  std::shared_ptr<WeightStore> weights;
  std::string directory;  // checkpoint directory; empty for synthetic models
  std::string name;       // what to call it in APIs and logs
};

// progress(done, total) is called while loading; may be empty.
using LoadProgress = std::function<void(size_t done, size_t total)>;

ModelSource open_model(const std::string& model, uint64_t seed = 0, const LoadProgress& progress = {});
// The config alone, without touching weights (config.json, a preset, or a
// GGUF's metadata): what `gptoss plan` needs to answer before loading.
// `name` (optional) receives what to call the model.
ModelConfig read_model_config(const std::string& model, std::string* name = nullptr);
ModelSource open_checkpoint_dir(const std::string& dir, const LoadProgress& progress = {});
ModelSource make_synthetic_model(const ModelConfig& config, const std::string& name, uint64_t seed,
                                 const LoadProgress& progress = {});
// The snapshot directory of a repo id in the HF cache; Error saying where we
// looked (and how to download it) when it is not there.
std::string resolve_hf_cache(const std::string& repo_id);

}  // namespace gptoss
