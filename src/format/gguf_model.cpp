#include "format/gguf_model.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>

#include "core/bf16.h"
#include "core/error.h"
#include "core/mxfp4.h"

namespace gptoss {

namespace {

float f16_to_f32(uint16_t h) {
  const uint32_t sign = uint32_t(h & 0x8000) << 16;
  const int exp = (h >> 10) & 0x1f;
  const uint32_t mant = h & 0x3ff;
  float v;
  if (exp == 0) v = std::ldexp(float(mant), -24);                 // zero and subnormals
  else if (exp == 31) v = mant ? NAN : INFINITY;
  else v = std::ldexp(float(mant | 0x400), exp - 25);
  uint32_t bits;
  std::memcpy(&bits, &v, 4);
  bits |= sign;
  std::memcpy(&v, &bits, 4);
  return v;
}

std::string arch_of(const GgufFile& f) {
  const GgufKv* a = f.find_kv("general.architecture");
  if (!a || a->type != GgufType::STRING) throw Error(f.path() + ": no general.architecture: not a llama.cpp model GGUF");
  return a->value.get<std::string>();
}

// A numeric metadata value, by key; Error naming the file and key when missing.
double num(const GgufFile& f, const std::string& key) {
  const GgufKv* kv = f.find_kv(key);
  if (!kv) throw Error(f.path() + ": metadata '" + key + "' is missing (is this a gpt-oss GGUF?)");
  if (!kv->value.is_number()) throw Error(f.path() + ": metadata '" + key + "' is not a number");
  return kv->value.get<double>();
}
double num_or(const GgufFile& f, const std::string& key, double fallback) {
  return f.find_kv(key) ? num(f, key) : fallback;
}
// A count or length, by key: a whole number that fits an int (a float cast
// out of range would be undefined behaviour, not an error).
int whole(const GgufFile& f, const std::string& key, double v) {
  if (!(v >= 0 && v <= double(INT32_MAX)) || v != std::floor(v))
    throw Error(f.path() + ": metadata '" + key + "' is " + std::to_string(v) + ", not a count (0 to 2^31-1)");
  return int(v);
}
int count(const GgufFile& f, const std::string& key) { return whole(f, key, num(f, key)); }
int count_or(const GgufFile& f, const std::string& key, int fallback) {
  return f.find_kv(key) ? count(f, key) : fallback;
}

const GgufTensor& tensor(const GgufFile& f, const std::string& name) {
  const GgufTensor* t = f.find(name);
  if (!t) throw Error(f.path() + ": missing tensor '" + name + "' (is this a complete gpt-oss GGUF?)");
  return *t;
}

void check_dims(const GgufFile& f, const GgufTensor& t, const std::vector<int64_t>& dims) {
  if (t.dims != dims) {
    auto s = [](const std::vector<int64_t>& d) {
      std::string r = "[";
      for (size_t i = 0; i < d.size(); ++i) r += (i ? ", " : "") + std::to_string(d[i]);
      return r + "]";
    };
    throw Error(f.path() + ": tensor '" + t.name + "' has ggml dims " + s(t.dims) + ", expected " + s(dims) +
                " from the metadata");
  }
}

}  // namespace

void ggml_to_bf16(GgmlType type, const uint8_t* src, int64_t count, uint16_t* dst, const std::string& what) {
  switch (type) {
    case GgmlType::BF16: std::memcpy(dst, src, size_t(count) * 2); return;
    case GgmlType::F32:
      for (int64_t i = 0; i < count; ++i) {
        float v;
        std::memcpy(&v, src + 4 * i, 4);
        dst[i] = f32_to_bf16(v);
      }
      return;
    case GgmlType::F16:
      for (int64_t i = 0; i < count; ++i) {
        uint16_t h;
        std::memcpy(&h, src + 2 * i, 2);
        dst[i] = f32_to_bf16(f16_to_f32(h));
      }
      return;
    case GgmlType::Q8_0:
      // Blocks of 32: an f16 scale d, then 32 int8 q; value = d * q.
      for (int64_t b = 0; b < count / 32; ++b) {
        const uint8_t* blk = src + 34 * b;
        uint16_t h;
        std::memcpy(&h, blk, 2);
        const float d = f16_to_f32(h);
        for (int i = 0; i < 32; ++i) dst[32 * b + i] = f32_to_bf16(d * float(int8_t(blk[2 + i])));
      }
      return;
    default: {
      const GgmlTypeTraits* t = ggml_type_traits(uint32_t(type));
      throw Error(what + " is " + (t ? t->name : "an unknown type") +
                  ": gptoss reads F32, F16, BF16 and Q8_0 for dense tensors (and MXFP4 experts); "
                  "use a GGUF converted without re-quantisation (e.g. ggml-org's gpt-oss mxfp4 files)");
    }
  }
}

void mxfp4_block_from_ggml(const uint8_t* g, uint8_t* blocks16, uint8_t* scale) {
  *scale = g[0];
  uint8_t v[32];
  for (int k = 0; k < 16; ++k) v[k] = g[1 + k] & 0xf, v[k + 16] = g[1 + k] >> 4;
  for (int j = 0; j < 16; ++j) blocks16[j] = uint8_t(v[2 * j] | (v[2 * j + 1] << 4));
}

void mxfp4_block_to_ggml(const uint8_t* blocks16, uint8_t scale, uint8_t* g) {
  g[0] = scale;
  uint8_t v[32];
  for (int j = 0; j < 16; ++j) v[2 * j] = blocks16[j] & 0xf, v[2 * j + 1] = blocks16[j] >> 4;
  for (int k = 0; k < 16; ++k) g[1 + k] = uint8_t(v[k] | (v[k + 16] << 4));
}

ModelConfig gguf_model_config(const GgufFile& f) {
  const std::string arch = arch_of(f);
  if (arch != "gpt-oss")
    throw Error(f.path() + ": architecture \"" + arch + "\" is not gpt-oss; gptoss runs gpt-oss models only");
  auto k = [&](const std::string& s) { return arch + "." + s; };
  const int layers = count(f, k("block_count"));
  const int heads = count(f, k("attention.head_count"));
  const GgufTensor& embd = tensor(f, "token_embd.weight");
  if (embd.dims.size() != 2) throw Error(f.path() + ": token_embd.weight must have 2 dimensions");
  int head_dim = count_or(f, k("attention.key_length"), 0);
  if (head_dim == 0 && heads > 0) {
    // Older files: from the query projection, [hidden, heads * head_dim].
    const GgufTensor& q = tensor(f, "blk.0.attn_q.weight");
    if (q.dims.size() == 2) head_dim = int(std::min<int64_t>(q.dims[1] / heads, INT32_MAX));
  }
  nlohmann::json types = nlohmann::json::array();
  for (int l = 0; l < layers && l < 4096; ++l) types.push_back(l % 2 == 0 ? "sliding_attention" : "full_attention");
  nlohmann::json j = {
      {"model_type", "gpt_oss"},
      {"num_hidden_layers", layers},
      {"num_local_experts", count(f, k("expert_count"))},
      {"num_experts_per_tok", count(f, k("expert_used_count"))},
      {"hidden_size", count(f, k("embedding_length"))},
      {"intermediate_size", count_or(f, k("expert_feed_forward_length"), count_or(f, k("feed_forward_length"), 0))},
      {"num_attention_heads", heads},
      {"num_key_value_heads", count(f, k("attention.head_count_kv"))},
      {"head_dim", head_dim},
      {"vocab_size", int(std::min<int64_t>(embd.dims[1], INT32_MAX))},  // larger: the shape check fails
      {"sliding_window", count(f, k("attention.sliding_window"))},
      {"max_position_embeddings", count(f, k("context_length"))},
      {"rope_theta", num(f, k("rope.freq_base"))},
      {"rms_norm_eps", num_or(f, k("attention.layer_norm_rms_epsilon"), 1e-5)},
      {"swiglu_limit", num_or(f, k("swiglu_clamp_exp"), 7.0)},
      {"layer_types", types},
  };
  const GgufKv* rope_type = f.find_kv(k("rope.scaling.type"));
  if (rope_type && rope_type->value.is_string() && rope_type->value.get<std::string>() != "none") {
    j["rope_scaling"] = {{"rope_type", rope_type->value.get<std::string>()},
                         {"factor", num(f, k("rope.scaling.factor"))},
                         {"original_max_position_embeddings", count(f, k("rope.scaling.original_context_length"))},
                         {"beta_fast", num_or(f, k("rope.scaling.yarn_beta_fast"), 32.0)},
                         {"beta_slow", num_or(f, k("rope.scaling.yarn_beta_slow"), 1.0)},
                         {"truncate", false}};
  }
  if (const GgufKv* eos = f.find_kv("tokenizer.ggml.eos_token_id"); eos && eos->value.is_number_integer())
    j["eos_token_id"] = eos->value.get<int>();
  return ModelConfig::from_json(j, f.path());
}

ModelSource open_gguf(const std::string& path, const LoadProgress& progress) {
  std::shared_ptr<GgufFile> f = GgufFile::open(path);
  ModelSource src;
  src.config = gguf_model_config(*f);
  const ModelConfig& c = src.config;
  const GgufKv* name = f->find_kv("general.name");
  src.name = name && name->value.is_string() ? name->value.get<std::string>()
                                             : std::filesystem::path(path).stem().string();
  src.weights = std::make_shared<WeightStore>();
  src.weights->origin = path;
  WeightStore& w = *src.weights;
  const int64_t H = c.hidden_size, I = c.intermediate_size, E = c.num_experts, V = c.vocab_size;
  const int64_t Q = c.q_dim(), KV = c.kv_dim();
  const size_t steps = size_t(c.num_layers) + 2;
  size_t done = 0;

  // Dense: ggml dims are the HF shape reversed; BF16 stays in the mapped file.
  auto dense = [&](const std::string& hf, const std::string& gg, std::vector<int64_t> hf_shape) {
    const GgufTensor& t = tensor(*f, gg);
    check_dims(*f, t, std::vector<int64_t>(hf_shape.rbegin(), hf_shape.rend()));
    if (t.type == GgmlType::BF16) return w.add_view(hf, DType::BF16, hf_shape, t.data, path, f);
    auto* dst = reinterpret_cast<uint16_t*>(w.add_owned(hf, DType::BF16, hf_shape, path));
    ggml_to_bf16(t.type, t.data, t.numel(), dst, path + ": tensor '" + gg + "'");
  };
  dense("model.embed_tokens.weight", "token_embd.weight", {V, H});
  dense("model.norm.weight", "output_norm.weight", {H});
  // Files with tied embeddings omit output.weight (llama.cpp then uses token_embd).
  dense("lm_head.weight", f->find("output.weight") ? "output.weight" : "token_embd.weight", {V, H});
  if (progress) progress(++done, steps);

  std::vector<uint16_t> gate_b, up_b;  // sized once the expert tensors vouch for E and I
  for (int l = 0; l < c.num_layers; ++l) {
    const std::string p = "model.layers." + std::to_string(l) + ".", g = "blk." + std::to_string(l) + ".";
    dense(p + "input_layernorm.weight", g + "attn_norm.weight", {H});
    dense(p + "post_attention_layernorm.weight", g + "post_attention_norm.weight", {H});
    dense(p + "self_attn.q_proj.weight", g + "attn_q.weight", {Q, H});
    dense(p + "self_attn.q_proj.bias", g + "attn_q.bias", {Q});
    dense(p + "self_attn.k_proj.weight", g + "attn_k.weight", {KV, H});
    dense(p + "self_attn.k_proj.bias", g + "attn_k.bias", {KV});
    dense(p + "self_attn.v_proj.weight", g + "attn_v.weight", {KV, H});
    dense(p + "self_attn.v_proj.bias", g + "attn_v.bias", {KV});
    dense(p + "self_attn.o_proj.weight", g + "attn_output.weight", {H, Q});
    dense(p + "self_attn.o_proj.bias", g + "attn_output.bias", {H});
    dense(p + "self_attn.sinks", g + "attn_sinks.weight", {c.num_heads});
    dense(p + "mlp.router.weight", g + "ffn_gate_inp.weight", {E, H});
    dense(p + "mlp.router.bias", g + "ffn_gate_inp.bias", {E});

    // Experts: gate and up rows (separate, or fused gate-then-up) interleave again.
    auto mxfp4 = [&](const std::string& gg, std::vector<int64_t> dims) -> const GgufTensor& {
      const GgufTensor& t = tensor(*f, gg);
      if (t.type != GgmlType::MXFP4)
        throw Error(path + ": tensor '" + gg + "' is " + ggml_type_traits(uint32_t(t.type))->name +
                    "; gptoss runs gpt-oss experts in MXFP4 only (use the original mxfp4 GGUF)");
      check_dims(*f, t, dims);
      return t;
    };
    const bool fused = f->find(g + "ffn_gate_up_exps.weight") != nullptr;
    const GgufTensor* gate = fused ? &mxfp4(g + "ffn_gate_up_exps.weight", {H, 2 * I, E})
                                   : &mxfp4(g + "ffn_gate_exps.weight", {H, I, E});
    const GgufTensor* up = fused ? nullptr : &mxfp4(g + "ffn_up_exps.weight", {H, I, E});
    const GgufTensor& down = mxfp4(g + "ffn_down_exps.weight", {I, H, E});
    // Nothing is allocated from the metadata's sizes alone: a file claiming
    // huge experts would otherwise ask for gigabytes before any check.
    gate_b.resize(size_t(E * I));
    up_b.resize(size_t(E * I));
    const int64_t hb = H / 32, ib = I / 32;
    uint8_t* gu_blocks = w.add_owned(p + "mlp.experts.gate_up_proj_blocks", DType::U8, {E, 2 * I, hb, 16}, path);
    uint8_t* gu_scales = w.add_owned(p + "mlp.experts.gate_up_proj_scales", DType::U8, {E, 2 * I, hb}, path);
    for (int64_t e = 0; e < E; ++e)
      for (int64_t r = 0; r < 2 * I; ++r) {
        const int64_t i = r / 2;
        const bool is_up = r % 2 == 1;
        // Source row: fused files hold I gate rows then I up rows per expert.
        const uint8_t* row = fused ? gate->data + size_t((e * 2 * I + (is_up ? I + i : i)) * hb * 17)
                                   : (is_up ? up : gate)->data + size_t((e * I + i) * hb * 17);
        for (int64_t b = 0; b < hb; ++b)
          mxfp4_block_from_ggml(row + b * 17, gu_blocks + size_t(((e * 2 * I + r) * hb + b) * 16),
                                gu_scales + size_t((e * 2 * I + r) * hb + b));
      }
    uint8_t* dn_blocks = w.add_owned(p + "mlp.experts.down_proj_blocks", DType::U8, {E, H, ib, 16}, path);
    uint8_t* dn_scales = w.add_owned(p + "mlp.experts.down_proj_scales", DType::U8, {E, H, ib}, path);
    for (int64_t r = 0; r < E * H; ++r)
      for (int64_t b = 0; b < ib; ++b)
        mxfp4_block_from_ggml(down.data + size_t((r * ib + b) * 17), dn_blocks + size_t((r * ib + b) * 16),
                              dn_scales + size_t(r * ib + b));

    // Biases: [E, I] gate and up (or [E, 2I] fused) -> [E, 2I] interleaved.
    auto bias = [&](const std::string& gg, std::vector<int64_t> dims, uint16_t* dst) {
      const GgufTensor& t = tensor(*f, gg);
      check_dims(*f, t, dims);
      ggml_to_bf16(t.type, t.data, t.numel(), dst, path + ": tensor '" + gg + "'");
    };
    auto* gub = reinterpret_cast<uint16_t*>(w.add_owned(p + "mlp.experts.gate_up_proj_bias", DType::BF16, {E, 2 * I}, path));
    if (fused) {
      std::vector<uint16_t> both(size_t(E * 2 * I));
      bias(g + "ffn_gate_up_exps.bias", {2 * I, E}, both.data());
      for (int64_t e = 0; e < E; ++e)
        for (int64_t i = 0; i < I; ++i) {
          gub[e * 2 * I + 2 * i] = both[size_t(e * 2 * I + i)];
          gub[e * 2 * I + 2 * i + 1] = both[size_t(e * 2 * I + I + i)];
        }
    } else {
      bias(g + "ffn_gate_exps.bias", {I, E}, gate_b.data());
      bias(g + "ffn_up_exps.bias", {I, E}, up_b.data());
      for (int64_t e = 0; e < E; ++e)
        for (int64_t i = 0; i < I; ++i) {
          gub[e * 2 * I + 2 * i] = gate_b[size_t(e * I + i)];
          gub[e * 2 * I + 2 * i + 1] = up_b[size_t(e * I + i)];
        }
    }
    bias(g + "ffn_down_exps.bias", {H, E},
         reinterpret_cast<uint16_t*>(w.add_owned(p + "mlp.experts.down_proj_bias", DType::BF16, {E, H}, path)));
    if (progress) progress(++done, steps);
  }
  if (progress) progress(++done, steps);
  return src;
}

}  // namespace gptoss
