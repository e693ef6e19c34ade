#pragma once
// What the runtime drives: a model on some device that owns its KV storage
// and runs forward steps. The CPU runner is the readable reference; the CUDA
// runner is the fast one; tests hold them to each other and to the fixture.
#include <functional>
#include <string>
#include <vector>

#include "format/model_config.h"
#include "model/forward_batch.h"

namespace gptoss {

// Called after each layer with the residual stream [tokens, hidden] (float32,
// host memory); layer == num_layers means after the final norm. For tests.
using LayerTrace = std::function<void(int layer, const float* x, int tokens)>;

class ModelRunner {
 public:
  virtual ~ModelRunner() = default;
  virtual const ModelConfig& config() const = 0;
  virtual std::string device_name() const = 0;

  struct DeviceMemory {
    size_t used = 0, total = 0;  // bytes, as the driver reports them (all processes)
  };
  // One entry per device the model lives on; empty when it runs on the host.
  // Must be cheap: the server's status endpoint calls it on every poll.
  virtual std::vector<DeviceMemory> device_memory() const { return {}; }

  // Bytes one KV block takes across all layers of its kind.
  virtual size_t full_block_bytes(int block_size) const = 0;
  virtual size_t window_block_bytes(int block_size) const = 0;
  // (Re)creates KV storage; invalidates every sequence's cache.
  virtual void allocate_kv(const KvCacheConfig& kv) = 0;
  virtual const KvCacheConfig& kv_config() const = 0;
  // Largest number of new tokens a step may carry for one sequence (sizes the rings).
  virtual int max_step_tokens() const = 0;
  // Most logits rows one step may return (steps with all_logits must stay
  // under it). Serving needs one row per sequence, so a runner may keep this
  // far below max_step_tokens: a row of logits is 0.8 MB.
  virtual int max_logit_rows() const { return max_step_tokens(); }

  // Runs the batch; writes batch.logits_rows() x vocab float32 logits to `logits` (host).
  virtual void forward(const ForwardBatch& batch, float* logits, const LayerTrace& trace = {}) = 0;
  // forward(), plus argmax[row] (the greedy token) for every logits row. Rows
  // of sequences with want_logits false may be left unwritten in `logits`.
  // The default computes the argmax on the host; the CUDA runner on the GPU.
  virtual void forward_greedy(const ForwardBatch& batch, float* logits, int32_t* argmax);
};

}  // namespace gptoss
