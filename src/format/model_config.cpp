#include "format/model_config.h"

#include <cmath>
#include <fstream>
#include <limits>
#include <type_traits>

#include "core/error.h"

namespace gptoss {

namespace {

template <typename T>
T get_field(const nlohmann::json& j, const char* key, const std::string& source) {
  if (!j.contains(key)) throw Error(source + ": config is missing \"" + key + "\"");
  const nlohmann::json& v = j.at(key);
  if constexpr (std::is_integral_v<T> && !std::is_same_v<T, bool>) {
    // json's get<int>() casts unchecked: 1e30 would be undefined behaviour,
    // 2^32 + 4 would quietly become 4.
    const bool in_range = v.is_number_unsigned() ? v.get<uint64_t>() <= uint64_t(std::numeric_limits<T>::max())
                          : v.is_number_integer()
                              ? v.get<int64_t>() >= int64_t(std::numeric_limits<T>::min()) &&
                                    v.get<int64_t>() <= int64_t(std::numeric_limits<T>::max())
                          : v.is_number_float() ? v.get<double>() >= double(std::numeric_limits<T>::min()) &&
                                                      v.get<double>() <= double(std::numeric_limits<T>::max()) &&
                                                      v.get<double>() == std::floor(v.get<double>())
                                                : true;  // not a number: the type error below
    if (!in_range)
      throw Error(source + ": config field \"" + key + "\" must be a whole number that fits an int: " + v.dump());
  }
  try {
    return v.get<T>();
  } catch (const std::exception&) {
    throw Error(source + ": config field \"" + key + "\" has the wrong type: " + v.dump());
  }
}

template <typename T>
T get_or(const nlohmann::json& j, const char* key, T fallback, const std::string& source) {
  if (!j.contains(key) || j.at(key).is_null()) return fallback;
  return get_field<T>(j, key, source);
}

}  // namespace

ModelConfig ModelConfig::from_json(const nlohmann::json& j, const std::string& source) {
  if (!j.is_object()) throw Error(source + ": config is not a JSON object");
  std::string model_type = get_or<std::string>(j, "model_type", "", source);
  bool arch_ok = model_type == "gpt_oss";
  if (j.contains("architectures") && j["architectures"].is_array())
    for (auto& a : j["architectures"]) arch_ok = arch_ok || (a.is_string() && a.get<std::string>() == "GptOssForCausalLM");
  if (!arch_ok) {
    throw Error(source + ": unknown architecture (model_type \"" + model_type +
                "\"); gptoss runs gpt-oss checkpoints (model_type gpt_oss, GptOssForCausalLM) only");
  }
  ModelConfig c;
  c.num_layers = get_field<int>(j, "num_hidden_layers", source);
  c.num_experts = get_field<int>(j, "num_local_experts", source);
  c.experts_per_token = j.contains("num_experts_per_tok") ? get_field<int>(j, "num_experts_per_tok", source)
                                                          : get_field<int>(j, "experts_per_token", source);
  c.hidden_size = get_field<int>(j, "hidden_size", source);
  c.intermediate_size = get_field<int>(j, "intermediate_size", source);
  c.num_heads = get_field<int>(j, "num_attention_heads", source);
  c.num_kv_heads = get_field<int>(j, "num_key_value_heads", source);
  c.head_dim = get_or<int>(j, "head_dim", c.num_heads ? c.hidden_size / c.num_heads : 0, source);
  c.vocab_size = get_field<int>(j, "vocab_size", source);
  c.sliding_window = get_or<int>(j, "sliding_window", 128, source);
  c.max_position_embeddings = get_or<int>(j, "max_position_embeddings", 131072, source);
  c.rope_theta = get_or<float>(j, "rope_theta", 150000.0f, source);
  c.rms_norm_eps = get_or<float>(j, "rms_norm_eps", 1e-5f, source);
  c.swiglu_limit = get_or<float>(j, "swiglu_limit", 7.0f, source);
  if (j.contains("rope_scaling") && j["rope_scaling"].is_object()) {
    auto& r = j["rope_scaling"];
    std::string type = get_or<std::string>(r, "rope_type", get_or<std::string>(r, "type", "yarn", source), source);
    if (type != "yarn") throw Error(source + ": rope_scaling type \"" + type + "\" is not supported (gpt-oss uses yarn)");
    c.rope.factor = get_or<float>(r, "factor", 32.0f, source);
    c.rope.beta_fast = get_or<float>(r, "beta_fast", 32.0f, source);
    c.rope.beta_slow = get_or<float>(r, "beta_slow", 1.0f, source);
    c.rope.original_max_position = get_or<int>(r, "original_max_position_embeddings", 4096, source);
    c.rope.truncate = get_or<bool>(r, "truncate", false, source);
  } else {
    c.rope.factor = 1.0f;  // no scaling: plain rope
  }
  if (j.contains("layer_types")) {
    auto types = get_field<std::vector<std::string>>(j, "layer_types", source);
    for (auto& t : types) {
      if (t == "sliding_attention") c.layer_types.push_back(LayerType::Sliding);
      else if (t == "full_attention") c.layer_types.push_back(LayerType::Full);
      else throw Error(source + ": unknown layer type \"" + t + "\" in layer_types");
    }
  } else {
    for (int i = 0; i < c.num_layers; ++i) c.layer_types.push_back(i % 2 == 0 ? LayerType::Sliding : LayerType::Full);
  }
  if (j.contains("eos_token_id")) {
    auto& e = j["eos_token_id"];
    if (e.is_number_integer()) c.eos_token_ids.push_back(e.get<int>());
    else if (e.is_array())
      for (auto& x : e) if (x.is_number_integer()) c.eos_token_ids.push_back(x.get<int>());
  }

  auto check = [&](bool ok, const std::string& what) {
    if (!ok) throw Error(source + ": " + what);
  };
  check(c.num_layers > 0 && c.num_layers <= 1024, "num_hidden_layers must be in 1..1024");
  check(int(c.layer_types.size()) == c.num_layers, "layer_types has " + std::to_string(c.layer_types.size()) +
                                                       " entries but num_hidden_layers is " + std::to_string(c.num_layers));
  check(c.num_experts > 0 && c.experts_per_token > 0 && c.experts_per_token <= c.num_experts,
        "experts_per_token must be in 1..num_local_experts");
  check(c.hidden_size > 0 && c.hidden_size % 32 == 0, "hidden_size must be a positive multiple of 32 (MXFP4 blocks)");
  check(c.intermediate_size > 0 && c.intermediate_size % 32 == 0,
        "intermediate_size must be a positive multiple of 32 (MXFP4 blocks)");
  check(c.num_heads > 0 && c.num_kv_heads > 0 && c.num_heads % c.num_kv_heads == 0,
        "num_attention_heads must be a multiple of num_key_value_heads");
  // q_dim() = heads x head_dim is an int; real models have tens of heads.
  check(c.num_heads <= 65536, "num_attention_heads must be at most 65536");
  check(c.head_dim > 0 && c.head_dim % 2 == 0 && c.head_dim <= 256, "head_dim must be even and at most 256");
  check(c.vocab_size > 0, "vocab_size must be positive");
  check(c.sliding_window > 0, "sliding_window must be positive");
  check(c.rope_theta > 0 && c.rope.factor > 0, "rope_theta and rope factor must be positive");
  return c;
}

ModelConfig ModelConfig::from_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw Error("cannot open " + path);
  nlohmann::json j;
  try {
    in >> j;
  } catch (const std::exception& e) {
    throw Error(path + ": not valid JSON (" + e.what() + ")");
  }
  return from_json(j, path);
}

ModelConfig ModelConfig::preset(const std::string& name) {
  auto base = [](int layers, int experts, int hidden, int heads, int kv, int inter, int vocab) {
    nlohmann::json j = {{"architectures", {"GptOssForCausalLM"}},
                        {"model_type", "gpt_oss"},
                        {"num_hidden_layers", layers},
                        {"num_local_experts", experts},
                        {"num_experts_per_tok", 4},
                        {"hidden_size", hidden},
                        {"intermediate_size", inter},
                        {"num_attention_heads", heads},
                        {"num_key_value_heads", kv},
                        {"head_dim", 64},
                        {"vocab_size", vocab},
                        {"sliding_window", 128},
                        {"max_position_embeddings", 131072},
                        {"rope_theta", 150000},
                        {"rms_norm_eps", 1e-5},
                        {"swiglu_limit", 7.0},
                        {"eos_token_id", {200002, 199999, 200012}},
                        {"rope_scaling",
                         {{"rope_type", "yarn"}, {"factor", 32.0}, {"beta_fast", 32.0}, {"beta_slow", 1.0},
                          {"original_max_position_embeddings", 4096}, {"truncate", false}}}};
    return j;
  };
  if (name == "tiny") return from_json(base(4, 8, 256, 8, 2, 256, 201088), "synthetic:tiny");
  if (name == "20b") return from_json(base(24, 32, 2880, 64, 8, 2880, 201088), "synthetic:20b");
  if (name == "120b") return from_json(base(36, 128, 2880, 64, 8, 2880, 201088), "synthetic:120b");
  throw Error("unknown synthetic model '" + name + "': use synthetic:tiny, synthetic:20b, synthetic:120b or synthetic:CONFIG.json");
}

nlohmann::json ModelConfig::to_json() const {
  nlohmann::json types = nlohmann::json::array();
  for (auto t : layer_types) types.push_back(t == LayerType::Sliding ? "sliding_attention" : "full_attention");
  return {{"architectures", {"GptOssForCausalLM"}},
          {"model_type", "gpt_oss"},
          {"num_hidden_layers", num_layers},
          {"num_local_experts", num_experts},
          {"num_experts_per_tok", experts_per_token},
          {"hidden_size", hidden_size},
          {"intermediate_size", intermediate_size},
          {"num_attention_heads", num_heads},
          {"num_key_value_heads", num_kv_heads},
          {"head_dim", head_dim},
          {"vocab_size", vocab_size},
          {"sliding_window", sliding_window},
          {"max_position_embeddings", max_position_embeddings},
          {"rope_theta", rope_theta},
          {"rms_norm_eps", rms_norm_eps},
          {"swiglu_limit", swiglu_limit},
          {"layer_types", types},
          {"eos_token_id", eos_token_ids},
          {"rope_scaling",
           {{"rope_type", "yarn"}, {"factor", rope.factor}, {"beta_fast", rope.beta_fast}, {"beta_slow", rope.beta_slow},
            {"original_max_position_embeddings", rope.original_max_position}, {"truncate", rope.truncate}}}};
}

int64_t ModelConfig::params_total() const {
  const int64_t H = hidden_size, I = intermediate_size, E = num_experts, V = vocab_size;
  int64_t attn = H * q_dim() + q_dim() + 2 * (H * kv_dim() + kv_dim()) + q_dim() * H + H + num_heads;
  int64_t moe = E * H + E + E * (2 * I * H + 2 * I + H * I + H);
  return 2 * V * H + H + int64_t(num_layers) * (attn + moe + 2 * H);
}

int64_t ModelConfig::params_active() const {
  const int64_t H = hidden_size, I = intermediate_size, E = num_experts, K = experts_per_token, V = vocab_size;
  int64_t attn = H * q_dim() + q_dim() + 2 * (H * kv_dim() + kv_dim()) + q_dim() * H + H + num_heads;
  int64_t moe = E * H + E + K * (2 * I * H + 2 * I + H * I + H);
  // The embedding is a lookup, not a matmul: count one row.
  return H + V * H + H + int64_t(num_layers) * (attn + moe + 2 * H);
}

}  // namespace gptoss
