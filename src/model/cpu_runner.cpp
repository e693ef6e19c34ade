#include "model/cpu_runner.h"

#include <cmath>

#include "backend/cpu/moe_cpu.h"
#include "core/error.h"

namespace gptoss {

CpuRunner::CpuRunner(const ModelSource& src, ThreadPool& pool, int max_step_tokens)
    : cfg_(src.config),
      store_(src.weights),
      w_(bind_model_weights(src.config, *src.weights)),
      pool_(pool),
      rope_(cfg_.head_dim, cfg_.rope_theta, cfg_.rope.factor, cfg_.rope.beta_fast, cfg_.rope.beta_slow,
            cfg_.rope.original_max_position, cfg_.rope.truncate),
      max_step_tokens_(max_step_tokens) {
  for (int l = 0; l < cfg_.num_layers; ++l)
    slot_in_kind_.push_back(cfg_.is_sliding(l) ? n_window_layers_++ : n_full_layers_++);
}

size_t CpuRunner::full_block_bytes(int bs) const {
  return size_t(n_full_layers_) * 2 * bs * cfg_.kv_dim() * sizeof(float);
}
size_t CpuRunner::window_block_bytes(int bs) const {
  return size_t(n_window_layers_) * 2 * bs * cfg_.kv_dim() * sizeof(float);
}

void CpuRunner::allocate_kv(const KvCacheConfig& kv) {
  kv_cfg_ = kv;
  full_kv_.assign(full_block_bytes(kv.block_size) / sizeof(float) * size_t(kv.num_full_blocks), 0.0f);
  window_kv_.assign(window_block_bytes(kv.block_size) / sizeof(float) * size_t(kv.num_window_blocks), 0.0f);
}

float* CpuRunner::kv_row(int layer, bool value, int32_t block, int row) {
  const bool sliding = cfg_.is_sliding(layer);
  const size_t bs = size_t(kv_cfg_.block_size), kvd = size_t(cfg_.kv_dim());
  const size_t blocks = size_t(sliding ? kv_cfg_.num_window_blocks : kv_cfg_.num_full_blocks);
  float* base = sliding ? window_kv_.data() : full_kv_.data();
  size_t offset = ((size_t(slot_in_kind_[size_t(layer)]) * blocks + size_t(block)) * 2 + (value ? 1 : 0)) * bs * kvd;
  return base + offset + size_t(row) * kvd;
}

void CpuRunner::attention(int layer, const ForwardBatch& batch, const std::vector<int>& pos,
                          const std::vector<int>& seq_of, const float* q, float* out) {
  const int T = batch.total_tokens(), nh = cfg_.num_heads, hd = cfg_.head_dim;
  const int group = cfg_.num_heads / cfg_.num_kv_heads, bs = kv_cfg_.block_size;
  const bool sliding = cfg_.is_sliding(layer);
  const float scale = 1.0f / std::sqrt(float(hd));
  pool_.parallel_for(size_t(T) * nh, [&](size_t i0, size_t i1) {
    std::vector<float> scores;
    for (size_t i = i0; i < i1; ++i) {
      const int t = int(i / size_t(nh)), h = int(i % size_t(nh)), g = h / group;
      const SeqKv& kv = batch.seqs[size_t(seq_of[size_t(t)])].kv;
      const int last = pos[size_t(t)];
      const int first = sliding ? std::max(0, last - cfg_.sliding_window + 1) : 0;
      scores.resize(size_t(last - first + 1));
      auto key = [&](int j) { return kv_row(layer, false, kv_block_for(kv, sliding, j, bs), j % bs) + g * hd; };
      auto value = [&](int j) { return kv_row(layer, true, kv_block_for(kv, sliding, j, bs), j % bs) + g * hd; };
      cpu::attend_with_sink(q + (size_t(t) * nh + h) * hd, hd, first, last, bf16_to_f32(w_.layers[size_t(layer)].sinks[h]),
                            scale, key, value, scores.data(), out + (size_t(t) * nh + h) * hd);
    }
  });
}

void CpuRunner::moe(int layer, const float* h, int T, float* x) {
  const LayerWeights& L = w_.layers[size_t(layer)];
  const int H = cfg_.hidden_size, E = cfg_.num_experts, K = cfg_.experts_per_token;
  std::vector<float> router(size_t(T) * E);
  cpu::matmul_bf16(h, T, H, L.router_w, L.router_b, E, router.data(), pool_);
  std::vector<int32_t> chosen(size_t(T) * K);
  std::vector<float> weight(size_t(T) * K);
  for (int t = 0; t < T; ++t)
    cpu::router_topk(&router[size_t(t) * E], E, K, &chosen[size_t(t) * K], &weight[size_t(t) * K]);
  const cpu::MoeExperts experts = moe_experts(cfg_, L);
  // The slots are summed first and then added to the residual (the slots
  // used to go into x one by one): equal up to float32 rounding.
  std::vector<float> y(size_t(T) * H);
  cpu::moe_forward(experts, h, T, chosen.data(), weight.data(), K, y.data(), pool_);
  for (size_t i = 0; i < y.size(); ++i) x[i] += y[i];
}

void CpuRunner::forward(const ForwardBatch& batch, float* logits, const LayerTrace& trace) {
  const int T = batch.total_tokens(), H = cfg_.hidden_size, Q = cfg_.q_dim(), KVD = cfg_.kv_dim();
  const int bs = kv_cfg_.block_size;
  if (T == 0) return;
  std::vector<int> pos(static_cast<size_t>(T)), seq_of(static_cast<size_t>(T));
  {
    int t = 0;
    for (size_t s = 0; s < batch.seqs.size(); ++s) {
      const BatchSeq& sq = batch.seqs[s];
      if (sq.n_tokens > max_step_tokens_)
        throw Error("a step of " + std::to_string(sq.n_tokens) + " tokens exceeds the runner's limit of " +
                    std::to_string(max_step_tokens_) + " (split the prompt into chunks)");
      const int last = sq.pos0 + sq.n_tokens - 1;
      if (size_t(last / bs) >= sq.kv.full_blocks.size() && n_full_layers_ > 0)
        throw Error("sequence " + std::to_string(s) + " has too few KV blocks for position " + std::to_string(last));
      for (int i = 0; i < sq.n_tokens; ++i, ++t) {
        pos[size_t(t)] = sq.pos0 + i;
        seq_of[size_t(t)] = int(s);
      }
    }
    if (t != T) throw Error("forward batch: token count does not match the sequences' n_tokens");
  }
  for (int32_t id : batch.tokens)
    if (id < 0 || id >= cfg_.vocab_size)
      throw Error("token id " + std::to_string(id) + " is outside the vocabulary (0.." +
                  std::to_string(cfg_.vocab_size - 1) + ")");

  std::vector<float> x(size_t(T) * H), h(size_t(T) * H), q(size_t(T) * Q), k(size_t(T) * KVD), v(size_t(T) * KVD);
  std::vector<float> attn(size_t(T) * Q), o(size_t(T) * H);
  for (int t = 0; t < T; ++t)
    cpu::bf16_row_to_f32(w_.embed + size_t(batch.tokens[size_t(t)]) * H, &x[size_t(t) * H], H);

  for (int l = 0; l < cfg_.num_layers; ++l) {
    const LayerWeights& L = w_.layers[size_t(l)];
    const bool sliding = cfg_.is_sliding(l);
    cpu::rmsnorm(x.data(), L.attn_norm, h.data(), T, H, cfg_.rms_norm_eps);
    cpu::matmul_bf16(h.data(), T, H, L.q_w, L.q_b, Q, q.data(), pool_);
    cpu::matmul_bf16(h.data(), T, H, L.k_w, L.k_b, KVD, k.data(), pool_);
    cpu::matmul_bf16(h.data(), T, H, L.v_w, L.v_b, KVD, v.data(), pool_);
    for (int t = 0; t < T; ++t) {
      rope_.apply(&q[size_t(t) * Q], cfg_.num_heads, pos[size_t(t)]);
      rope_.apply(&k[size_t(t) * KVD], cfg_.num_kv_heads, pos[size_t(t)]);
      const SeqKv& kv = batch.seqs[size_t(seq_of[size_t(t)])].kv;
      const int32_t block = kv_block_for(kv, sliding, pos[size_t(t)], bs);
      std::copy_n(&k[size_t(t) * KVD], KVD, kv_row(l, false, block, pos[size_t(t)] % bs));
      std::copy_n(&v[size_t(t) * KVD], KVD, kv_row(l, true, block, pos[size_t(t)] % bs));
    }
    attention(l, batch, pos, seq_of, q.data(), attn.data());
    cpu::matmul_bf16(attn.data(), T, Q, L.o_w, L.o_b, H, o.data(), pool_);
    for (size_t i = 0; i < x.size(); ++i) x[i] += o[i];
    cpu::rmsnorm(x.data(), L.mlp_norm, h.data(), T, H, cfg_.rms_norm_eps);
    moe(l, h.data(), T, x.data());
    if (trace && l + 1 < cfg_.num_layers) trace(l, x.data(), T);
  }

  // Final norm and unembedding only for the rows that want logits.
  std::vector<int> rows;
  {
    int t = 0;
    for (auto& s : batch.seqs) {
      if (s.all_logits) for (int i = 0; i < s.n_tokens; ++i) rows.push_back(t + i);
      else if (s.n_tokens > 0) rows.push_back(t + s.n_tokens - 1);
      t += s.n_tokens;
    }
  }
  if (trace) {
    cpu::rmsnorm(x.data(), w_.final_norm, h.data(), T, H, cfg_.rms_norm_eps);
    trace(cfg_.num_layers, h.data(), T);
  }
  std::vector<float> hr(rows.size() * H);
  for (size_t r = 0; r < rows.size(); ++r)
    cpu::rmsnorm(&x[size_t(rows[r]) * H], w_.final_norm, &hr[r * H], 1, H, cfg_.rms_norm_eps);
  cpu::matmul_bf16(hr.data(), int(rows.size()), H, w_.lm_head, nullptr, cfg_.vocab_size, logits, pool_);
}

}  // namespace gptoss
