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
  // Most sequences one step may carry (every running sequence decodes in one).
  virtual int max_step_seqs() const { return 1 << 20; }

  // Runs the batch; writes batch.logits_rows() x vocab float32 logits to `logits` (host).
  virtual void forward(const ForwardBatch& batch, float* logits, const LayerTrace& trace = {}) = 0;
  // forward(), plus tokens[row], the token chosen for every logits row: the
  // arg-max, or a sample per the row's sequence's TokenChoice. Rows of
  // sequences with want_logits false may be left unwritten in `logits`. The
  // default chooses on the host; the CUDA runner on the GPU, so that only
  // token ids come back.
  virtual void forward_sample(const ForwardBatch& batch, float* logits, int32_t* tokens);

  // Pipelined steps: submit() queues a step like forward_sample() and may
  // return before it has run; collect() waits for the oldest step not yet
  // collected and writes its logits (rows of want_logits sequences) and
  // chosen tokens. At most kMaxInFlight steps are submitted and not
  // collected. A step's `feed` may name rows of the step submitted just
  // before it, so the host can queue step n + 1 before it knows step n's
  // tokens, and the device never waits for the host between steps. The
  // default runs each step inside submit().
  static constexpr int kMaxInFlight = 2;
  // Bytes of the unembedding read by a step of `rows` rows that needs only
  // their tokens (for speed-of-light estimates).
  virtual double unembedding_bytes(int rows) const {
    (void)rows;
    return 2.0 * config().vocab_size * config().hidden_size;
  }
  virtual void submit(const ForwardBatch& batch);
  virtual void collect(float* logits, int32_t* tokens);
  virtual int in_flight() const { return int(done_.size()); }

 private:
  struct DoneStep {
    std::vector<float> logits;
    std::vector<int32_t> tokens;
  };
  std::vector<DoneStep> done_;  // the default submit()'s results, oldest first
  std::vector<int32_t> last_tokens_;  // the last submitted step's, for feed
};

}  // namespace gptoss
