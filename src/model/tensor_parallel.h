#pragma once
// Tensor parallelism: how one layer's weights are cut among `size` GPUs.
//
// Attention is split by heads: rank r owns a contiguous run of kv heads and
// the query heads that read them (whole GQA groups), so q/k/v are row slices,
// the output projection a column slice, and attention needs no communication.
// The experts are split along their intermediate dimension in MXFP4 blocks of
// 32: gate_up rows (gate/up interleaved, so pairs stay together) and down
// columns. SwiGLU is elementwise in that dimension, so each rank's down
// projection is a partial sum: one all-reduce after attention's output
// projection and one after the experts give every rank the full residual.
// o_proj's bias is added after the sum, by every rank to its copy; the
// experts' down bias is inside the sum, so only rank 0 keeps it.
//
// Expert parallelism (--expert-parallel) splits the experts instead: rank r
// keeps experts [expert0, expert0 + experts) whole, with their biases, and
// computes only the slots routed to them; the same all-reduce sums the ranks'
// parts. Attention is split by heads either way.
//
// Pure functions over host memory: the CPU tests hold the slices' partial
// sums to the unsplit layer, the CUDA runner uploads them.
#include <cstdint>
#include <vector>

#include "backend/cpu/moe_cpu.h"
#include "format/model_config.h"
#include "model/model_weights.h"

namespace gptoss {

struct TpShard {
  int rank = 0, size = 1;
  int q_head0 = 0, q_heads = 0;    // query heads [q_head0, q_head0 + q_heads)
  int kv_head0 = 0, kv_heads = 0;  // kv heads likewise
  int inter0 = 0, inter = 0;       // expert intermediate columns [inter0, inter0 + inter), multiples of 32
  int expert0 = 0, experts = 0;    // experts [expert0, expert0 + experts): all of them unless expert-parallel
  bool expert_parallel = false;
};

// Throws Error saying which sizes work when `size` does not divide the model.
TpShard tp_shard(const ModelConfig& config, int rank, int size, bool expert_parallel = false);

// One layer's attention slice: q, k, v rows stacked into one matrix (the CUDA
// runner's fused qkv), the output projection's columns, the rank's sinks.
struct ShardedAttention {
  std::vector<bf16_t> qkv_w;  // [(q_heads + 2 kv_heads) * head_dim, H]
  std::vector<bf16_t> qkv_b;  // [(q_heads + 2 kv_heads) * head_dim]
  std::vector<bf16_t> o_w;    // [H, q_heads * head_dim]; no bias: it is added after the sum
  std::vector<bf16_t> sinks;  // [q_heads]
};
ShardedAttention shard_attention(const ModelConfig& config, const LayerWeights& layer, const TpShard& shard);

// One layer's experts cut to the shard's intermediate columns, in the full
// tensors' layout with I replaced by shard.inter (expert-parallel: the
// shard's experts whole, E replaced by shard.experts).
struct ShardedExperts {
  std::vector<uint8_t> gu_blocks, gu_scales, dn_blocks, dn_scales;
  std::vector<bf16_t> gu_bias, dn_bias;  // dn_bias: zeros except on rank 0 (or expert-parallel)
  cpu::MoeExperts view(const ModelConfig& config, const TpShard& shard) const;
};
ShardedExperts shard_experts(const ModelConfig& config, const LayerWeights& layer, const TpShard& shard);

}  // namespace gptoss
