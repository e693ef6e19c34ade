#pragma once
// A runner that hands every call to another one: test runners derive from it
// and override only what they change or watch.
#include "model/model_runner.h"

namespace gptoss::test {

class ForwardingRunner : public ModelRunner {
 public:
  explicit ForwardingRunner(ModelRunner& r) : r_(r) {}
  const ModelConfig& config() const override { return r_.config(); }
  std::string device_name() const override { return r_.device_name(); }
  size_t full_block_bytes(int b) const override { return r_.full_block_bytes(b); }
  size_t window_block_bytes(int b) const override { return r_.window_block_bytes(b); }
  void allocate_kv(const KvCacheConfig& kv) override { r_.allocate_kv(kv); }
  const KvCacheConfig& kv_config() const override { return r_.kv_config(); }
  int max_step_tokens() const override { return r_.max_step_tokens(); }
  int max_logit_rows() const override { return r_.max_logit_rows(); }
  int max_step_seqs() const override { return r_.max_step_seqs(); }
  void forward(const ForwardBatch& b, float* logits, const LayerTrace& t) override { r_.forward(b, logits, t); }

 protected:
  ModelRunner& r_;
};

}  // namespace gptoss::test
