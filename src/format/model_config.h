#pragma once
// The gpt-oss hyper-parameters, read from a Hugging Face config.json (or a
// preset for synthetic models). Every field the forward pass uses is here and
// checked at load: specialised kernels rely on these facts.
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace gptoss {

enum class LayerType { Sliding, Full };

struct RopeScaling {
  float factor = 32.0f;
  float beta_fast = 32.0f;
  float beta_slow = 1.0f;
  int original_max_position = 4096;
  bool truncate = false;
};

struct ModelConfig {
  int num_layers = 0;
  int num_experts = 0;
  int experts_per_token = 0;
  int hidden_size = 0;
  int intermediate_size = 0;
  int num_heads = 0;
  int num_kv_heads = 0;
  int head_dim = 0;
  int vocab_size = 0;
  int sliding_window = 0;
  int max_position_embeddings = 0;
  float rope_theta = 0;
  float rms_norm_eps = 1e-5f;
  float swiglu_limit = 7.0f;
  float swiglu_alpha = 1.702f;  // fixed by the architecture, not in config.json
  RopeScaling rope;
  std::vector<LayerType> layer_types;
  std::vector<int> eos_token_ids;

  // `source` names the file in error messages.
  static ModelConfig from_json(const nlohmann::json& j, const std::string& source);
  static ModelConfig from_file(const std::string& config_json_path);
  // "tiny" (fixture shapes with the real 201088 vocabulary), "20b", "120b".
  static ModelConfig preset(const std::string& name);
  nlohmann::json to_json() const;  // the HF config.json form

  int q_dim() const { return num_heads * head_dim; }
  int kv_dim() const { return num_kv_heads * head_dim; }
  bool is_sliding(int layer) const { return layer_types[size_t(layer)] == LayerType::Sliding; }

  // Parameter counts: total, and active for one token (top-k experts only).
  int64_t params_total() const;
  int64_t params_active() const;
};

}  // namespace gptoss
