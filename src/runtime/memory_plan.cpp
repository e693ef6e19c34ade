#include "runtime/memory_plan.h"

#include <algorithm>
#include <cstdio>

#include "core/error.h"
#include "core/mem_size.h"
#include "format/tensor_plan.h"
#include "runtime/kv_sizing.h"

namespace gptoss {

namespace {

std::string gib(uint64_t bytes) { return format_mem_size(bytes); }

std::string fmt(const char* f, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
}

bool is_expert(TensorRole r) {
  return r == TensorRole::ExpertBlocks || r == TensorRole::ExpertScales || r == TensorRole::ExpertBias;
}

// Layer index from "model.layers.N.", -1 for the global tensors.
int layer_of(const std::string& name) {
  const std::string p = "model.layers.";
  if (name.rfind(p, 0) != 0) return -1;
  return std::stoi(name.substr(p.size()));
}

struct Sizes {
  uint64_t global = 0;                 // embedding, unembedding, final norm
  std::vector<uint64_t> attn, expert;  // per layer
  uint64_t embed_row = 0, unembed = 0;
};

Sizes measure(const ModelConfig& c) {
  Sizes s;
  s.attn.assign(size_t(c.num_layers), 0);
  s.expert.assign(size_t(c.num_layers), 0);
  for (const PlannedTensor& t : plan_tensors(c)) {
    const int l = layer_of(t.name);
    if (l < 0) s.global += t.bytes();
    else if (is_expert(t.role)) s.expert[size_t(l)] += t.bytes();
    else s.attn[size_t(l)] += t.bytes();
  }
  s.embed_row = uint64_t(c.hidden_size) * 2;
  s.unembed = uint64_t(c.vocab_size) * uint64_t(c.hidden_size) * 2;
  return s;
}

uint64_t round_up(uint64_t v, uint64_t m) { return (v + m - 1) / m * m; }

}  // namespace

uint64_t activation_bytes(const ModelConfig& c, int max_step_tokens) {
  // Mirrors CudaRunner's constructor: one buffer per activation, sized for a
  // whole step, except the logits, which hold at most 512 rows (0.4 GiB of the
  // 0.9 GiB at 2048 tokens for gpt-oss shapes).
  const uint64_t T = uint64_t(max_step_tokens), H = uint64_t(c.hidden_size), I = uint64_t(c.intermediate_size);
  const uint64_t E = uint64_t(c.num_experts), K = uint64_t(c.experts_per_token), V = uint64_t(c.vocab_size);
  const uint64_t Q = uint64_t(c.q_dim()), KV = uint64_t(c.kv_dim());
  const uint64_t G = std::min<uint64_t>(T, 1024);  // rows of the MXFP4 MMA expert path (mma_max_tokens)
  const uint64_t R = std::min<uint64_t>(T, 512);  // logits rows (CudaRunner's kMaxLogitRows)
  // Split-key attention partials of decode steps: 8 tokens x 16 splits or 64 x 4, 66 floats per head.
  const uint64_t NH = uint64_t(c.num_heads), attn_part = std::max<uint64_t>(8 * 16, 64 * 4) * NH * 66;
  const uint64_t f32 =
      4 * (T * H * 3 + T * (Q + 2 * KV) + T * E + T * K + T * K * H + R * V + T * 2 * I + attn_part);
  const uint64_t b16 = 2 * (T * H * 2 + T * Q * 2 + G * H + G * K * I + 2 * I * H + H * I + T * I);
  const uint64_t i32 = 4 * (T * K * 2 + (E + 1) + E + T * 5 + 256 + 64 * uint64_t(c.num_kv_heads) + 1) + 8 * T;
  const uint64_t cublas_workspace = 64ull << 20;
  // Hybrid: two experts staged at once while host experts stream in, and ones for the combine.
  const uint64_t staging = 2 * (3 * I * H / 2 + 3 * I * H / 32 + (2 * I + H) * 2) + 4 * T;
  return f32 + b16 + i32 + cublas_workspace + staging;
}

Placement plan_memory(const ModelConfig& c, const PlanInput& in) {
  const int L = c.num_layers;
  if (in.gpu_budget_bytes == 0) throw Error("--gpu-memory must be more than 0 bytes, e.g. --gpu-memory 16GiB");
  if (in.ctx_size < 1) throw Error("--ctx-size must be at least 1 token");
  if (in.ctx_size > c.max_position_embeddings)
    throw Error("--ctx-size " + std::to_string(in.ctx_size) + " is longer than the model's " +
                std::to_string(c.max_position_embeddings) + " positions (max_position_embeddings)");
  if (in.max_num_seqs < 1) throw Error("--max-num-seqs must be at least 1");
  if (in.max_step_tokens < 1) throw Error("--max-step-tokens must be at least 1");
  if (in.block_size < 1) throw Error("the KV block size must be at least 1");
  if (in.n_cpu_moe > L)
    throw Error("--n-cpu-moe " + std::to_string(in.n_cpu_moe) + " is more than the model's " + std::to_string(L) +
                " layers (use --cpu-moe to keep every layer's experts in host memory)");
  if (!(in.gpu_bandwidth > 0) || !(in.host_bandwidth > 0) || !(in.pcie_bandwidth > 0))
    throw Error("bandwidths must be positive");

  const Sizes s = measure(c);
  uint64_t all_attn = 0, all_expert = 0;
  for (int l = 0; l < L; ++l) all_attn += s.attn[size_t(l)], all_expert += s.expert[size_t(l)];

  // KV: full-attention layers keep every position of every sequence; the
  // sliding-window pool is sized exactly as the engine sizes it (kv_sizing).
  int n_full = 0, n_window = 0;
  for (int l = 0; l < L; ++l) (c.is_sliding(l) ? n_window : n_full)++;
  const uint64_t per_pos = uint64_t(c.kv_dim()) * 2 /*k,v*/ * 2 /*bf16*/;
  const uint64_t B = uint64_t(in.block_size);
  KvSizingInput kin;
  kin.block_size = in.block_size;
  kin.max_num_seqs = in.max_num_seqs;
  kin.max_num_batched_tokens = in.max_step_tokens;
  kin.max_step_tokens = in.max_step_tokens;
  auto window_bytes = [&](int seqs) {
    KvSizingInput k = kin;
    k.max_num_seqs = seqs;
    return uint64_t(window_pool_blocks(c, k)) * B * per_pos * uint64_t(n_window);
  };
  auto full_bytes = [&](int ctx, int seqs) {
    return uint64_t(seqs) * round_up(uint64_t(ctx), B) * per_pos * uint64_t(n_full);
  };

  Placement p;
  p.activation_bytes = activation_bytes(c, in.max_step_tokens);
  p.kv_full_bytes = full_bytes(in.ctx_size, in.max_num_seqs);
  p.kv_window_bytes = window_bytes(std::max(in.max_num_seqs, in.window_seqs));
  p.kv_bytes_per_token = per_pos * uint64_t(n_full);
  const uint64_t fixed = s.global + all_attn + p.activation_bytes + p.kv_window_bytes;  // GPU, whatever N is

  // GPU bytes with the first n layers' experts in host memory.
  auto gpu_need = [&](int n) {
    uint64_t e = 0;
    for (int l = n; l < L; ++l) e += s.expert[size_t(l)];
    return fixed + p.kv_full_bytes + e;
  };
  int n_fit = -1;  // smallest N that fits
  for (int n = 0; n <= L; ++n)
    if (gpu_need(n) <= in.gpu_budget_bytes) {
      n_fit = n;
      break;
    }

  const std::string budget = gib(in.gpu_budget_bytes);
  const std::string parts = "non-expert weights " + gib(s.global + all_attn) + ", activations " +
                            gib(p.activation_bytes) + " for " + std::to_string(in.max_step_tokens) +
                            " tokens/step, KV cache " + gib(p.kv_full_bytes + p.kv_window_bytes) + " for " +
                            std::to_string(in.max_num_seqs) + " x " + std::to_string(in.ctx_size) + " tokens";
  if (n_fit < 0) {
    // Even with every expert in host memory the rest does not fit: say what would.
    std::string msg = "the model needs " + gib(gpu_need(L)) + " on the GPU even with every expert in host memory (" +
                      parts + "); the budget is " + budget + ".";
    const uint64_t no_kv = fixed;
    if (no_kv < in.gpu_budget_bytes && p.kv_bytes_per_token > 0) {
      const uint64_t tokens = (in.gpu_budget_bytes - no_kv) / p.kv_bytes_per_token / B * B;
      const uint64_t ctx = tokens / uint64_t(in.max_num_seqs) / B * B;
      if (ctx >= B)
        msg += " With --cpu-moe, --ctx-size " + std::to_string(ctx) + " fits for " + std::to_string(in.max_num_seqs) +
               " sequence(s); or raise --gpu-memory.";
      else
        msg += " Lower --max-num-seqs, or raise --gpu-memory.";
    } else {
      // Weights and activations alone are too much: find a step size that fits.
      int step = in.max_step_tokens;
      while (step > 1 && s.global + all_attn + activation_bytes(c, step) + window_bytes(in.max_num_seqs) +
                                 full_bytes(in.ctx_size, in.max_num_seqs) >
                             in.gpu_budget_bytes)
        step /= 2;
      const uint64_t at_step = s.global + all_attn + activation_bytes(c, step) + p.kv_window_bytes + p.kv_full_bytes;
      if (step < in.max_step_tokens && at_step <= in.gpu_budget_bytes)
        msg += " Lower --max-step-tokens to " + std::to_string(step) + " with --cpu-moe, or raise --gpu-memory.";
      else
        msg += " Raise --gpu-memory to at least " + gib(s.global + all_attn + activation_bytes(c, 1) +
                                                        window_bytes(1) + full_bytes(std::min(in.ctx_size, 1024), 1)) +
               " (--cpu-moe, --max-step-tokens 1, --ctx-size " + std::to_string(std::min(in.ctx_size, 1024)) +
               ", --max-num-seqs 1) or use a GPU with more memory.";
    }
    throw Error(msg);
  }

  int n = n_fit;
  const bool forced = in.cpu_moe || in.n_cpu_moe >= 0;
  if (forced) {
    n = in.cpu_moe ? L : in.n_cpu_moe;
    if (gpu_need(n) > in.gpu_budget_bytes)
      throw Error("the model needs " + gib(gpu_need(n)) + " on the GPU with --n-cpu-moe " + std::to_string(n) + " (" +
                  parts + ", experts of " + std::to_string(L - n) + " layers " +
                  gib(gpu_need(n) - fixed - p.kv_full_bytes) + "); the budget is " + budget + ": use --n-cpu-moe " +
                  std::to_string(n_fit) + (n_fit == L ? " (--cpu-moe)" : "") +
                  " or more, or lower --ctx-size / --max-num-seqs");
  }
  p.n_cpu_moe = n;
  for (int l = 0; l < L; ++l) {
    LayerPlacement lp;
    lp.layer = l;
    lp.sliding = c.is_sliding(l);
    lp.experts_on_gpu = l >= n;
    lp.attention_bytes = s.attn[size_t(l)];
    lp.expert_bytes = s.expert[size_t(l)];
    (lp.experts_on_gpu ? p.gpu_weight_bytes : p.cpu_weight_bytes) += lp.expert_bytes;
    p.layers.push_back(lp);
  }
  p.gpu_weight_bytes += s.global + all_attn;
  p.gpu_total_bytes = p.gpu_weight_bytes + p.activation_bytes + p.kv_full_bytes + p.kv_window_bytes;
  const uint64_t T = uint64_t(in.max_step_tokens);
  p.host_pinned_bytes = std::min<uint64_t>(T, 512) * uint64_t(c.vocab_size) * 4 + T * 4 * 5 + 256 * 4;
  if (p.n_cpu_moe > 0)  // hidden states out and expert sums back, routing
    p.host_pinned_bytes += T * uint64_t(c.hidden_size) * 4 * 2 + T * uint64_t(c.experts_per_token) * 8;

  // What else fits in what is left: the KV pools could grow to this.
  const uint64_t base = p.gpu_weight_bytes + p.activation_bytes;
  const uint64_t left = in.gpu_budget_bytes - base - p.kv_window_bytes;
  p.max_kv_tokens = p.kv_bytes_per_token ? int64_t(left / p.kv_bytes_per_token / B * B) : int64_t(1) << 40;
  p.max_ctx_at_num_seqs = int(std::min<int64_t>(c.max_position_embeddings,
                                                p.max_kv_tokens / in.max_num_seqs / int64_t(B) * int64_t(B)));
  for (int seqs = in.max_num_seqs;; ++seqs) {
    if (base + window_bytes(seqs) + full_bytes(in.ctx_size, seqs) > in.gpu_budget_bytes || seqs > (1 << 20)) break;
    p.max_seqs_at_ctx = seqs;
  }

  // Decode at batch 1: every byte a token needs is read once. A host layer's
  // experts wait for its attention; there the CPU and the GPU (over PCIe)
  // each read their share of the token's experts at the same time.
  const double frac = double(c.experts_per_token) / double(c.num_experts);
  const int gpu_slots = std::clamp(in.hybrid_gpu_slots, 0, c.experts_per_token);
  const double pcie_share = double(gpu_slots) / double(c.experts_per_token);
  uint64_t gpu_read = s.embed_row + uint64_t(c.hidden_size) * 2 + s.unembed, host_read = 0;
  for (int l = 0; l < L; ++l) {
    gpu_read += s.attn[size_t(l)];
    const uint64_t kv_positions = c.is_sliding(l) ? uint64_t(std::min(in.ctx_size, c.sliding_window)) : uint64_t(in.ctx_size);
    gpu_read += kv_positions * per_pos;
    const uint64_t active = uint64_t(double(s.expert[size_t(l)]) * frac);
    (l >= n ? gpu_read : host_read) += active;
  }
  const uint64_t pcie_read = uint64_t(double(host_read) * pcie_share), cpu_read = host_read - pcie_read;
  auto decode_rate = [&](int slots) {
    const double pcie_bytes = double(host_read) * double(slots) / double(c.experts_per_token);
    const double host_s = std::max((double(host_read) - pcie_bytes) / in.host_bandwidth, pcie_bytes / in.pcie_bandwidth);
    return 1.0 / (double(gpu_read) / in.gpu_bandwidth + host_s);
  };
  p.best_hybrid_gpu_slots = gpu_slots;
  if (host_read)
    for (int k = 0; k <= c.experts_per_token; ++k)
      if (decode_rate(k) > decode_rate(p.best_hybrid_gpu_slots) * (1 + 1e-9)) p.best_hybrid_gpu_slots = k;
  p.best_decode_tokens_per_s = decode_rate(p.best_hybrid_gpu_slots);
  p.gpu_bytes_per_token = gpu_read;
  p.cpu_bytes_per_token = cpu_read;
  p.pcie_bytes_per_token = pcie_read;
  p.gpu_ms_per_token = double(gpu_read) / in.gpu_bandwidth * 1e3;
  p.cpu_ms_per_token = double(cpu_read) / in.host_bandwidth * 1e3;
  p.pcie_ms_per_token = double(pcie_read) / in.pcie_bandwidth * 1e3;
  const double host_ms = std::max(p.cpu_ms_per_token, p.pcie_ms_per_token);
  p.decode_tokens_per_s = 1e3 / (p.gpu_ms_per_token + host_ms);

  // Why, in the order a reader would ask.
  const uint64_t per_layer_experts = L ? s.expert[0] : 0;
  p.why.push_back("experts are " + gib(all_expert) + " of the " + gib(all_expert + all_attn + s.global) +
                  " of weights, but a token reads only " + std::to_string(c.experts_per_token) + " of " +
                  std::to_string(c.num_experts) + " per layer: they are what moves to host memory");
  p.why.push_back("always on the GPU: " + parts);
  if (forced) {
    p.why.push_back(std::string(in.cpu_moe ? "--cpu-moe" : "--n-cpu-moe " + std::to_string(n)) + ": layers 0.." +
                    std::to_string(n - 1) + " keep their experts in host memory" +
                    (n > n_fit ? " (" + std::to_string(n_fit) + " would have been enough)" : ""));
  } else if (n == 0) {
    p.why.push_back("every layer's experts (" + gib(per_layer_experts) + " each) fit in the " + budget + " budget");
  } else {
    p.why.push_back("the " + budget + " budget leaves room for the experts of " + std::to_string(L - n) + " of " +
                    std::to_string(L) + " layers (" + gib(per_layer_experts) + " each); layers 0.." +
                    std::to_string(n - 1) + " keep theirs in host memory (llama.cpp's --n-cpu-moe order)");
  }
  std::string host_part;
  if (host_read) {
    host_part = " and " + gib(host_read) + " of host-layer experts, " + std::to_string(c.experts_per_token - gpu_slots) +
                " of each token's " + std::to_string(c.experts_per_token) + " by the CPU (" + gib(cpu_read) + " at " +
                fmt("%.0f", in.host_bandwidth / 1e9) + " GB/s: " + fmt("%.2f", p.cpu_ms_per_token) +
                " ms) while the GPU reads " + std::to_string(gpu_slots) + " over PCIe (" + gib(pcie_read) + " at " +
                fmt("%.1f", in.pcie_bandwidth / 1e9) + " GB/s: " + fmt("%.2f", p.pcie_ms_per_token) + " ms)";
  }
  const char* limit = host_ms <= p.gpu_ms_per_token ? ""
                      : p.cpu_ms_per_token >= p.pcie_ms_per_token ? "; host memory bandwidth is the limit"
                                                                  : "; PCIe bandwidth is the limit";
  p.why.push_back("decode at batch 1 reads " + gib(gpu_read) + " per token in GPU memory (" +
                  fmt("%.0f", in.gpu_bandwidth / 1e9) + " GB/s: " + fmt("%.2f", p.gpu_ms_per_token) + " ms)" +
                  host_part + ": at most " + fmt("%.0f", p.decode_tokens_per_s) + " tokens/s" + limit);
  if (p.best_hybrid_gpu_slots != gpu_slots)
    p.why.push_back("GPTOSS_HYBRID_GPU_SLOTS=" + std::to_string(p.best_hybrid_gpu_slots) + " (the GPU reads " +
                    std::to_string(p.best_hybrid_gpu_slots) + " of each token's " +
                    std::to_string(c.experts_per_token) + " host experts, the CPU the rest) balances the two paths: " +
                    "at most " + fmt("%.0f", p.best_decode_tokens_per_s) + " tokens/s");
  p.why.push_back("KV cache: " + gib(p.kv_bytes_per_token) + " per position over " + std::to_string(n_full) +
                  " full-attention layers; the " + std::to_string(n_window) + " sliding layers keep only " +
                  std::to_string(c.sliding_window) + " positions + a step per sequence (" + gib(p.kv_window_bytes) +
                  ")");
  return p;
}

}  // namespace gptoss
