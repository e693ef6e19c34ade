#pragma once
// The memory planner: from a model's shapes and a GPU memory budget to a
// Placement saying what lives where, before a single weight is read.
//
// Attention, router, norms, embedding and unembedding always live on the GPU
// with the KV cache and the activation buffers: they are read for every token
// and are small. Expert weights are most of the model (9.5 of 12.8 GiB for 20b,
// 57 of 61 GiB for 120b) and only top-4 of them are read per token, so they are
// what moves to host memory when the GPU is too small. Like llama.cpp's
// --n-cpu-moe, the first N layers' experts go to the CPU; the planner picks the
// smallest N that fits unless the user gave one (--n-cpu-moe N, --cpu-moe = all).
//
// A pure function: no device is queried, so `gptoss plan` answers on any
// machine, and the tests check it with numbers worked out by hand.
#include <cstdint>
#include <string>
#include <vector>

#include "format/model_config.h"

namespace gptoss {

struct PlanInput {
  uint64_t gpu_budget_bytes = 0;  // what we may allocate on the GPU
  int ctx_size = 4096;            // tokens per sequence the KV cache must hold
  int max_num_seqs = 1;           // sequences at once, each up to ctx_size
  // Sequences whose sliding windows the KV cache holds at once (a server's
  // --max-num-seqs, even when only max_num_seqs of them reach ctx_size);
  // 0: max_num_seqs.
  int window_seqs = 0;
  int max_step_tokens = 2048;     // tokens per forward step: sizes the activation buffers
  int block_size = 16;            // KV block size in tokens
  bool cpu_moe = false;           // every layer's experts in host memory
  int n_cpu_moe = -1;             // the first N layers' experts in host memory; -1: as few as fit
  double gpu_bandwidth = 3.35e12;  // bytes/s, GPU memory (H100 SXM HBM3)
  double host_bandwidth = 50e9;    // bytes/s, host memory as the CPU experts see it
  double pcie_bandwidth = 64e9;    // bytes/s, host memory as the GPU reads it (PCIe 5.0 x16)
  // Of each token's top-k experts in a host layer, how many the GPU computes
  // reading their weights over PCIe while the CPU computes the rest (the
  // engine's default, GPTOSS_HYBRID_GPU_SLOTS, is 2).
  int hybrid_gpu_slots = 2;
};

struct LayerPlacement {
  int layer = 0;
  bool sliding = false;
  bool experts_on_gpu = true;
  uint64_t attention_bytes = 0;  // norms, q/k/v/o, sinks, router: always on the GPU
  uint64_t expert_bytes = 0;     // MXFP4 blocks + scales + biases of all experts
};

struct Placement {
  std::vector<LayerPlacement> layers;
  int n_cpu_moe = 0;  // layers 0..n_cpu_moe-1 keep their experts in host memory

  // GPU side
  uint64_t gpu_weight_bytes = 0;      // embedding, unembedding, final norm, attention, GPU experts
  uint64_t activation_bytes = 0;      // step buffers for max_step_tokens plus the cuBLAS workspace
  uint64_t kv_full_bytes = 0;         // full-attention layers: ctx_size x max_num_seqs positions
  uint64_t kv_window_bytes = 0;       // sliding-window pool (window + a step per sequence)
  uint64_t gpu_total_bytes = 0;       // sum of the four above
  // Host side
  uint64_t cpu_weight_bytes = 0;      // experts of the CPU layers
  uint64_t host_pinned_bytes = 0;     // pinned step inputs and logits staging

  uint64_t kv_bytes_per_token = 0;    // full-attention KV bytes per position (all full layers)
  int64_t max_kv_tokens = 0;          // positions the leftover budget holds across sequences
  int max_ctx_at_num_seqs = 0;        // longest context for max_num_seqs sequences
  int max_seqs_at_ctx = 0;            // most sequences of ctx_size tokens

  // Decode at batch 1, speed of light: bytes read per token on each path.
  // The host layers' experts are read by the CPU and, over PCIe, by the GPU
  // at once; the GPU's own reads come before and after (attention first).
  // ms per token = gpu_ms + max(cpu_ms, pcie_ms).
  uint64_t gpu_bytes_per_token = 0;   // non-expert weights + active GPU experts + KV at ctx_size
  uint64_t cpu_bytes_per_token = 0;   // active host-layer experts the CPU computes
  uint64_t pcie_bytes_per_token = 0;  // active host-layer experts the GPU reads over PCIe
  double gpu_ms_per_token = 0, cpu_ms_per_token = 0, pcie_ms_per_token = 0;
  double decode_tokens_per_s = 0;
  // The split of host experts between the CPU and PCIe that this model finds
  // fastest (GPTOSS_HYBRID_GPU_SLOTS), and its speed; the input's when no
  // expert is in host memory.
  int best_hybrid_gpu_slots = 0;
  double best_decode_tokens_per_s = 0;

  std::vector<std::string> why;  // the reasoning, one line each
};

// Throws Error with concrete numbers and what to change when nothing fits.
Placement plan_memory(const ModelConfig& config, const PlanInput& in);

// Bytes the GPU runner allocates for activations at this step size.
uint64_t activation_bytes(const ModelConfig& config, int max_step_tokens);

}  // namespace gptoss
