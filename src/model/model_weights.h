#pragma once
// The blueprint of gpt-oss: every weight the forward pass reads, as typed
// pointers into a WeightStore, each checked for dtype and shape at bind time.
// Shapes use the config: H hidden, Q = heads*64, KV = kv_heads*64, E experts,
// I intermediate, V vocab.
#include <cstdint>
#include <vector>

#include "backend/cpu/moe_cpu.h"
#include "format/model_config.h"
#include "core/bf16.h"
#include "format/weight_store.h"

namespace gptoss {



struct LayerWeights {
  const bf16_t* attn_norm;       // [H]
  const bf16_t* q_w;             // [Q, H]
  const bf16_t* q_b;             // [Q]
  const bf16_t* k_w;             // [KV, H]
  const bf16_t* k_b;             // [KV]
  const bf16_t* v_w;             // [KV, H]
  const bf16_t* v_b;             // [KV]
  const bf16_t* o_w;             // [H, Q]
  const bf16_t* o_b;             // [H]
  const bf16_t* sinks;           // [heads]
  const bf16_t* mlp_norm;        // [H]
  const bf16_t* router_w;        // [E, H]
  const bf16_t* router_b;        // [E]
  const uint8_t* gate_up_blocks; // [E, 2I, H/32, 16]  rows interleave gate (even) and up (odd)
  const uint8_t* gate_up_scales; // [E, 2I, H/32]
  const bf16_t* gate_up_bias;    // [E, 2I]
  const uint8_t* down_blocks;    // [E, H, I/32, 16]
  const uint8_t* down_scales;    // [E, H, I/32]
  const bf16_t* down_bias;       // [E, H]
};

struct ModelWeights {
  const bf16_t* embed;       // [V, H]
  std::vector<LayerWeights> layers;
  const bf16_t* final_norm;  // [H]
  const bf16_t* lm_head;     // [V, H]
};

// Throws Error naming the tensor and file for anything missing or mis-shaped.
ModelWeights bind_model_weights(const ModelConfig& config, const WeightStore& store);

// A layer's experts as the CPU MoE kernels take them.
cpu::MoeExperts moe_experts(const ModelConfig& config, const LayerWeights& layer);

}  // namespace gptoss
