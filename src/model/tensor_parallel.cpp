#include "model/tensor_parallel.h"

#include <algorithm>
#include <cstring>
#include <string>

#include "core/error.h"

namespace gptoss {

namespace {

// Which sizes split every dimension: kv heads evenly, blocks of 32 at least one each.
std::string sizes_that_work(const ModelConfig& c) {
  std::string s;
  for (int n = 1; n <= 64; ++n)
    if (c.num_kv_heads % n == 0 && c.intermediate_size / 32 >= n) s += (s.empty() ? "" : ", ") + std::to_string(n);
  return s;
}

template <typename T>
void append_rows(std::vector<T>& dst, const T* src, size_t row0, size_t rows, size_t row_len) {
  dst.insert(dst.end(), src + row0 * row_len, src + (row0 + rows) * row_len);
}

}  // namespace

TpShard tp_shard(const ModelConfig& c, int rank, int size, bool expert_parallel) {
  if (size < 1 || rank < 0 || rank >= size)
    throw Error("tensor-parallel rank " + std::to_string(rank) + " of " + std::to_string(size) + " is out of range");
  if (c.num_kv_heads % size != 0 || c.intermediate_size % 32 != 0 || c.intermediate_size / 32 < size)
    throw Error("--tensor-parallel-size " + std::to_string(size) + " does not split this model (" +
                std::to_string(c.num_kv_heads) + " kv heads, intermediate size " + std::to_string(c.intermediate_size) +
                "): use one of " + sizes_that_work(c));
  TpShard s;
  s.rank = rank;
  s.size = size;
  const int group = c.num_heads / c.num_kv_heads;
  s.kv_heads = c.num_kv_heads / size;
  s.kv_head0 = rank * s.kv_heads;
  s.q_heads = s.kv_heads * group;
  s.q_head0 = s.kv_head0 * group;
  // Blocks of 32 spread as evenly as they go (gpt-oss: 90 blocks; 4 ranks get 22 or 23).
  s.expert_parallel = expert_parallel;
  if (expert_parallel) {
    if (c.num_experts % size != 0)
      throw Error("--expert-parallel needs the " + std::to_string(c.num_experts) + " experts to split evenly over " +
                  std::to_string(size) + " GPUs");
    s.experts = c.num_experts / size;
    s.expert0 = rank * s.experts;
    s.inter = c.intermediate_size;
    return s;
  }
  s.experts = c.num_experts;
  const int blocks = c.intermediate_size / 32;
  const int b0 = blocks * rank / size, b1 = blocks * (rank + 1) / size;
  s.inter0 = 32 * b0;
  s.inter = 32 * (b1 - b0);
  return s;
}

ShardedAttention shard_attention(const ModelConfig& c, const LayerWeights& L, const TpShard& s) {
  const size_t H = size_t(c.hidden_size), D = size_t(c.head_dim), Q = size_t(c.q_dim());
  ShardedAttention a;
  append_rows(a.qkv_w, L.q_w, size_t(s.q_head0) * D, size_t(s.q_heads) * D, H);
  append_rows(a.qkv_w, L.k_w, size_t(s.kv_head0) * D, size_t(s.kv_heads) * D, H);
  append_rows(a.qkv_w, L.v_w, size_t(s.kv_head0) * D, size_t(s.kv_heads) * D, H);
  append_rows(a.qkv_b, L.q_b, size_t(s.q_head0) * D, size_t(s.q_heads) * D, 1);
  append_rows(a.qkv_b, L.k_b, size_t(s.kv_head0) * D, size_t(s.kv_heads) * D, 1);
  append_rows(a.qkv_b, L.v_b, size_t(s.kv_head0) * D, size_t(s.kv_heads) * D, 1);
  const size_t cols = size_t(s.q_heads) * D, col0 = size_t(s.q_head0) * D;
  a.o_w.resize(H * cols);
  for (size_t r = 0; r < H; ++r) std::copy_n(L.o_w + r * Q + col0, cols, &a.o_w[r * cols]);
  a.sinks.assign(L.sinks + s.q_head0, L.sinks + s.q_head0 + s.q_heads);
  return a;
}

ShardedExperts shard_experts(const ModelConfig& c, const LayerWeights& L, const TpShard& s) {
  const size_t E = size_t(c.num_experts), H = size_t(c.hidden_size), I = size_t(c.intermediate_size);
  const size_t i0 = size_t(s.inter0), n = size_t(s.inter);
  ShardedExperts x;
  if (s.expert_parallel) {
    // Whole experts: a contiguous run of every tensor.
    const size_t e0 = size_t(s.expert0), ne = size_t(s.experts);
    append_rows(x.gu_blocks, L.gate_up_blocks, e0, ne, 2 * I * H / 2);
    append_rows(x.gu_scales, L.gate_up_scales, e0, ne, 2 * I * H / 32);
    append_rows(x.gu_bias, L.gate_up_bias, e0, ne, 2 * I);
    append_rows(x.dn_blocks, L.down_blocks, e0, ne, H * I / 2);
    append_rows(x.dn_scales, L.down_scales, e0, ne, H * I / 32);
    append_rows(x.dn_bias, L.down_bias, e0, ne, H);
    return x;
  }
  for (size_t e = 0; e < E; ++e) {
    // gate_up: rows 2 i0 .. 2 (i0 + n) of this expert's 2I rows.
    append_rows(x.gu_blocks, L.gate_up_blocks + e * 2 * I * H / 2, 2 * i0, 2 * n, H / 2);
    append_rows(x.gu_scales, L.gate_up_scales + e * 2 * I * H / 32, 2 * i0, 2 * n, H / 32);
    append_rows(x.gu_bias, L.gate_up_bias + e * 2 * I, 2 * i0, 2 * n, 1);
    // down: every row, columns i0 .. i0 + n (blocks i0/32 ..).
    for (size_t r = 0; r < H; ++r) {
      const uint8_t* row = L.down_blocks + (e * H + r) * (I / 2);
      x.dn_blocks.insert(x.dn_blocks.end(), row + i0 / 2, row + (i0 + n) / 2);
      const uint8_t* sc = L.down_scales + (e * H + r) * (I / 32);
      x.dn_scales.insert(x.dn_scales.end(), sc + i0 / 32, sc + (i0 + n) / 32);
    }
  }
  x.dn_bias.assign(E * H, 0);
  if (s.rank == 0) std::copy_n(L.down_bias, E * H, x.dn_bias.begin());
  return x;
}

cpu::MoeExperts ShardedExperts::view(const ModelConfig& c, const TpShard& s) const {
  return {gu_blocks.data(), gu_scales.data(), gu_bias.data(), dn_blocks.data(), dn_scales.data(), dn_bias.data(),
          s.experts, c.hidden_size, s.inter, c.swiglu_alpha, c.swiglu_limit};
}

}  // namespace gptoss
