#pragma once
// The reference gpt-oss forward pass on the CPU, float32 throughout, KV cache
// in float32 paged blocks. Readable first: every CUDA kernel is tested against it.
#include <memory>
#include <vector>

#include "backend/cpu/cpu_kernels.h"
#include "format/model_source.h"
#include "model/model_runner.h"
#include "model/model_weights.h"

namespace gptoss {

class CpuRunner : public ModelRunner {
 public:
  CpuRunner(const ModelSource& source, ThreadPool& pool, int max_step_tokens = 2048);

  const ModelConfig& config() const override { return cfg_; }
  std::string device_name() const override { return "cpu"; }
  size_t full_block_bytes(int block_size) const override;
  size_t window_block_bytes(int block_size) const override;
  void allocate_kv(const KvCacheConfig& kv) override;
  const KvCacheConfig& kv_config() const override { return kv_cfg_; }
  int max_step_tokens() const override { return max_step_tokens_; }
  void forward(const ForwardBatch& batch, float* logits, const LayerTrace& trace = {}) override;

 private:
  float* kv_row(int layer, bool value, int32_t block, int row);
  void attention(int layer, const ForwardBatch& batch, const std::vector<int>& pos,
                 const std::vector<int>& seq_of, const float* q, float* out);
  void moe(int layer, const float* h, int T, float* x);

  ModelConfig cfg_;
  std::shared_ptr<WeightStore> store_;  // keeps the weights mapped
  ModelWeights w_;
  ThreadPool& pool_;
  cpu::YarnRope rope_;
  int max_step_tokens_;
  KvCacheConfig kv_cfg_;
  std::vector<int> slot_in_kind_;            // layer -> index among layers of its kind
  int n_full_layers_ = 0, n_window_layers_ = 0;
  std::vector<float> full_kv_, window_kv_;   // [layer_of_kind][block][k|v][row][kv_dim]
};

}  // namespace gptoss
