#pragma once
// A runner dressed up as a GPU with some memory in use: the CPU runner's
// results, plus device_memory(), for what reads GPU memory (KV sizing from
// --gpu-memory-utilization, /metrics, /v1/status) in tests without a GPU.
#include "model/model_runner.h"

namespace gptoss::test {

class PretendGpu : public ModelRunner {
 public:
  PretendGpu(ModelRunner& r, size_t used, size_t total) : r_(r), used_(used), total_(total) {}
  const ModelConfig& config() const override { return r_.config(); }
  std::string device_name() const override { return "pretend-gpu"; }
  size_t full_block_bytes(int b) const override { return r_.full_block_bytes(b); }
  size_t window_block_bytes(int b) const override { return r_.window_block_bytes(b); }
  void allocate_kv(const KvCacheConfig& kv) override { r_.allocate_kv(kv); }
  const KvCacheConfig& kv_config() const override { return r_.kv_config(); }
  int max_step_tokens() const override { return r_.max_step_tokens(); }
  void forward(const ForwardBatch& b, float* logits, const LayerTrace& t) override { r_.forward(b, logits, t); }
  std::vector<DeviceMemory> device_memory() const override { return {{used_, total_}}; }

 private:
  ModelRunner& r_;
  size_t used_, total_;
};

}  // namespace gptoss::test
