#include "model/model_weights.h"

namespace gptoss {

ModelWeights bind_model_weights(const ModelConfig& c, const WeightStore& s) {
  const int64_t H = c.hidden_size, I = c.intermediate_size, E = c.num_experts, V = c.vocab_size;
  const int64_t Q = c.q_dim(), KV = c.kv_dim();
  auto bf = [&](const std::string& n, std::vector<int64_t> shape) {
    return reinterpret_cast<const bf16_t*>(s.require(n, DType::BF16, shape).data);
  };
  auto u8 = [&](const std::string& n, std::vector<int64_t> shape) { return s.require(n, DType::U8, shape).data; };
  ModelWeights w;
  w.embed = bf("model.embed_tokens.weight", {V, H});
  for (int l = 0; l < c.num_layers; ++l) {
    std::string p = "model.layers." + std::to_string(l) + ".";
    LayerWeights L;
    L.attn_norm = bf(p + "input_layernorm.weight", {H});
    L.q_w = bf(p + "self_attn.q_proj.weight", {Q, H});
    L.q_b = bf(p + "self_attn.q_proj.bias", {Q});
    L.k_w = bf(p + "self_attn.k_proj.weight", {KV, H});
    L.k_b = bf(p + "self_attn.k_proj.bias", {KV});
    L.v_w = bf(p + "self_attn.v_proj.weight", {KV, H});
    L.v_b = bf(p + "self_attn.v_proj.bias", {KV});
    L.o_w = bf(p + "self_attn.o_proj.weight", {H, Q});
    L.o_b = bf(p + "self_attn.o_proj.bias", {H});
    L.sinks = bf(p + "self_attn.sinks", {c.num_heads});
    L.mlp_norm = bf(p + "post_attention_layernorm.weight", {H});
    L.router_w = bf(p + "mlp.router.weight", {E, H});
    L.router_b = bf(p + "mlp.router.bias", {E});
    L.gate_up_blocks = u8(p + "mlp.experts.gate_up_proj_blocks", {E, 2 * I, H / 32, 16});
    L.gate_up_scales = u8(p + "mlp.experts.gate_up_proj_scales", {E, 2 * I, H / 32});
    L.gate_up_bias = bf(p + "mlp.experts.gate_up_proj_bias", {E, 2 * I});
    L.down_blocks = u8(p + "mlp.experts.down_proj_blocks", {E, H, I / 32, 16});
    L.down_scales = u8(p + "mlp.experts.down_proj_scales", {E, H, I / 32});
    L.down_bias = bf(p + "mlp.experts.down_proj_bias", {E, H});
    w.layers.push_back(L);
  }
  w.final_norm = bf("model.norm.weight", {H});
  w.lm_head = bf("lm_head.weight", {V, H});
  return w;
}

cpu::MoeExperts moe_experts(const ModelConfig& c, const LayerWeights& L) {
  return {L.gate_up_blocks, L.gate_up_scales, L.gate_up_bias, L.down_blocks,     L.down_scales,  L.down_bias,
          c.num_experts,    c.hidden_size,    c.intermediate_size, c.swiglu_alpha, c.swiglu_limit};
}

}  // namespace gptoss
