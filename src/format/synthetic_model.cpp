// Random weights at gpt-oss shapes, with the statistics of shared/tools/make_synth.py
// (dense ~N(0, 0.02), norms ~1 + N(0, 0.1), sinks ~N(0, 1), router ~N(0, 0.05),
// uniform MXFP4 nibbles, scales 2^(121-127 +- 1)), so speed measured on them is
// the speed on real checkpoints. Deterministic for a seed, whatever the thread count.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "core/bf16.h"
#include "core/thread_pool.h"
#include "format/model_source.h"

namespace gptoss {

namespace {

uint64_t splitmix(uint64_t& s) {
  uint64_t z = (s += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

enum class Fill { Normal, Ones, Nibbles, Scales };

// Fills in chunks of 64 Ki elements, each seeded from (tensor seed, chunk).
void fill_tensor(uint8_t* data, int64_t n, Fill kind, float std, uint64_t seed) {
  const int64_t chunk = 1 << 16;
  const int64_t chunks = (n + chunk - 1) / chunk;
  ThreadPool::global().parallel_for(size_t(chunks), [&](size_t b, size_t e) {
    for (size_t c = b; c < e; ++c) {
      uint64_t s = seed * 0x100000001b3ull + c;
      int64_t lo = int64_t(c) * chunk, hi = std::min(n, lo + chunk);
      for (int64_t i = lo; i < hi; ++i) {
        uint64_t r = splitmix(s);
        switch (kind) {
          case Fill::Nibbles: data[i] = uint8_t(r); break;
          case Fill::Scales: data[i] = uint8_t(121 + int(r % 3) - 1); break;
          default: {
            // Irwin-Hall of 4 uniforms: close enough to a normal for weights.
            float u = float(r & 0xffff) + float((r >> 16) & 0xffff) + float((r >> 32) & 0xffff) + float(r >> 48);
            float z = (u / 65536.0f - 2.0f) * 1.7320508f;
            float v = kind == Fill::Ones ? 1.0f + 0.1f * z : std * z;
            uint16_t h = f32_to_bf16(v);
            std::memcpy(data + 2 * i, &h, 2);
          }
        }
      }
    }
  });
}

}  // namespace

ModelSource make_synthetic_model(const ModelConfig& c, const std::string& name, uint64_t seed,
                                 const LoadProgress& progress) {
  ModelSource src;
  src.config = c;
  src.name = name;
  src.weights = std::make_shared<WeightStore>();
  src.weights->origin = name;
  auto& w = *src.weights;
  uint64_t tensor_seed = seed * 1000003ull + 17;
  auto add = [&](const std::string& n, DType t, std::vector<int64_t> shape, Fill f, float std = 0.02f) {
    uint8_t* p = w.add_owned(n, t, shape, name);
    int64_t count = 1;
    for (auto d : shape) count *= d;
    fill_tensor(p, count, f, std, ++tensor_seed);
  };
  const int64_t H = c.hidden_size, I = c.intermediate_size, E = c.num_experts, V = c.vocab_size;
  const int64_t q = c.q_dim(), kv = c.kv_dim();
  add("model.embed_tokens.weight", DType::BF16, {V, H}, Fill::Normal);
  for (int l = 0; l < c.num_layers; ++l) {
    std::string p = "model.layers." + std::to_string(l) + ".";
    add(p + "input_layernorm.weight", DType::BF16, {H}, Fill::Ones);
    add(p + "post_attention_layernorm.weight", DType::BF16, {H}, Fill::Ones);
    add(p + "self_attn.q_proj.weight", DType::BF16, {q, H}, Fill::Normal);
    add(p + "self_attn.q_proj.bias", DType::BF16, {q}, Fill::Normal);
    add(p + "self_attn.k_proj.weight", DType::BF16, {kv, H}, Fill::Normal);
    add(p + "self_attn.k_proj.bias", DType::BF16, {kv}, Fill::Normal);
    add(p + "self_attn.v_proj.weight", DType::BF16, {kv, H}, Fill::Normal);
    add(p + "self_attn.v_proj.bias", DType::BF16, {kv}, Fill::Normal);
    add(p + "self_attn.o_proj.weight", DType::BF16, {H, q}, Fill::Normal);
    add(p + "self_attn.o_proj.bias", DType::BF16, {H}, Fill::Normal);
    add(p + "self_attn.sinks", DType::BF16, {c.num_heads}, Fill::Normal, 1.0f);
    add(p + "mlp.router.weight", DType::BF16, {E, H}, Fill::Normal, 0.05f);
    add(p + "mlp.router.bias", DType::BF16, {E}, Fill::Normal, 0.05f);
    add(p + "mlp.experts.gate_up_proj_blocks", DType::U8, {E, 2 * I, H / 32, 16}, Fill::Nibbles);
    add(p + "mlp.experts.gate_up_proj_scales", DType::U8, {E, 2 * I, H / 32}, Fill::Scales);
    add(p + "mlp.experts.gate_up_proj_bias", DType::BF16, {E, 2 * I}, Fill::Normal);
    add(p + "mlp.experts.down_proj_blocks", DType::U8, {E, H, I / 32, 16}, Fill::Nibbles);
    add(p + "mlp.experts.down_proj_scales", DType::U8, {E, H, I / 32}, Fill::Scales);
    add(p + "mlp.experts.down_proj_bias", DType::BF16, {E, H}, Fill::Normal);
    if (progress) progress(size_t(l + 1), size_t(c.num_layers + 1));
  }
  add("model.norm.weight", DType::BF16, {H}, Fill::Ones);
  add("lm_head.weight", DType::BF16, {V, H}, Fill::Normal);
  if (progress) progress(size_t(c.num_layers + 1), size_t(c.num_layers + 1));
  return src;
}

}  // namespace gptoss
