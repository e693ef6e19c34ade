#include "format/tensor_plan.h"

namespace gptoss {

std::vector<PlannedTensor> plan_tensors(const ModelConfig& c) {
  const int64_t H = c.hidden_size, I = c.intermediate_size, E = c.num_experts, V = c.vocab_size;
  const int64_t q = c.q_dim(), kv = c.kv_dim();
  using R = TensorRole;
  std::vector<PlannedTensor> t;
  t.push_back({"model.embed_tokens.weight", DType::BF16, {V, H}, R::Dense});
  for (int l = 0; l < c.num_layers; ++l) {
    std::string p = "model.layers." + std::to_string(l) + ".";
    t.push_back({p + "input_layernorm.weight", DType::BF16, {H}, R::Norm});
    t.push_back({p + "post_attention_layernorm.weight", DType::BF16, {H}, R::Norm});
    t.push_back({p + "self_attn.q_proj.weight", DType::BF16, {q, H}, R::Dense});
    t.push_back({p + "self_attn.q_proj.bias", DType::BF16, {q}, R::Dense});
    t.push_back({p + "self_attn.k_proj.weight", DType::BF16, {kv, H}, R::Dense});
    t.push_back({p + "self_attn.k_proj.bias", DType::BF16, {kv}, R::Dense});
    t.push_back({p + "self_attn.v_proj.weight", DType::BF16, {kv, H}, R::Dense});
    t.push_back({p + "self_attn.v_proj.bias", DType::BF16, {kv}, R::Dense});
    t.push_back({p + "self_attn.o_proj.weight", DType::BF16, {H, q}, R::Dense});
    t.push_back({p + "self_attn.o_proj.bias", DType::BF16, {H}, R::Dense});
    t.push_back({p + "self_attn.sinks", DType::BF16, {c.num_heads}, R::Sink});
    t.push_back({p + "mlp.router.weight", DType::BF16, {E, H}, R::Router});
    t.push_back({p + "mlp.router.bias", DType::BF16, {E}, R::Router});
    t.push_back({p + "mlp.experts.gate_up_proj_blocks", DType::U8, {E, 2 * I, H / 32, 16}, R::ExpertBlocks});
    t.push_back({p + "mlp.experts.gate_up_proj_scales", DType::U8, {E, 2 * I, H / 32}, R::ExpertScales});
    t.push_back({p + "mlp.experts.gate_up_proj_bias", DType::BF16, {E, 2 * I}, R::ExpertBias});
    t.push_back({p + "mlp.experts.down_proj_blocks", DType::U8, {E, H, I / 32, 16}, R::ExpertBlocks});
    t.push_back({p + "mlp.experts.down_proj_scales", DType::U8, {E, H, I / 32}, R::ExpertScales});
    t.push_back({p + "mlp.experts.down_proj_bias", DType::BF16, {E, H}, R::ExpertBias});
  }
  t.push_back({"model.norm.weight", DType::BF16, {H}, R::Norm});
  t.push_back({"lm_head.weight", DType::BF16, {V, H}, R::Dense});
  return t;
}

}  // namespace gptoss
