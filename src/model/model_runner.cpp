#include "model/model_runner.h"

#include <algorithm>
#include <string>

#include "core/error.h"

namespace gptoss {

void ModelRunner::forward_sample(const ForwardBatch& batch, float* logits, int32_t* tokens) {
  forward(batch, logits);
  const int V = config().vocab_size;
  int r = 0;
  for (const BatchSeq& s : batch.seqs) {
    const int n = s.all_logits ? s.n_tokens : (s.n_tokens > 0 ? 1 : 0);
    for (int j = 0; j < n; ++j, ++r)
      tokens[r] = choose_token(logits + size_t(r) * V, V, row_choice(s.choice, uint32_t(j)), j + 1 == n ? s.mask : nullptr);
  }
}

// Each feed entry is resolved from the previous step's tokens, then the step
// runs at once: a runner without a device queue gains nothing by waiting.
void ModelRunner::submit(const ForwardBatch& batch) {
  if (in_flight() >= kMaxInFlight)
    throw Error("submit(): " + std::to_string(kMaxInFlight) + " steps are in flight already; collect() one first");
  ForwardBatch b = batch;
  if (!b.feed.empty()) {
    if (b.feed.size() != b.tokens.size()) throw Error("a step's feed must have one entry per token");
    for (size_t t = 0; t < b.feed.size(); ++t) {
      const int32_t r = b.feed[t];
      if (r < 0) continue;
      if (size_t(r) >= last_tokens_.size())
        throw Error("feed names row " + std::to_string(r) + " but the previous step chose " +
                    std::to_string(last_tokens_.size()) + " tokens");
      b.tokens[t] = last_tokens_[size_t(r)];
    }
    b.feed.clear();
  }
  const int rows = b.logits_rows();
  DoneStep d;
  d.logits.resize(size_t(rows) * size_t(config().vocab_size));
  d.tokens.resize(size_t(rows));
  forward_sample(b, d.logits.data(), d.tokens.data());
  last_tokens_ = d.tokens;
  done_.push_back(std::move(d));
}

void ModelRunner::collect(float* logits, int32_t* tokens) {
  if (done_.empty()) throw Error("collect() without a submitted step");
  DoneStep& d = done_.front();
  std::copy(d.logits.begin(), d.logits.end(), logits);
  std::copy(d.tokens.begin(), d.tokens.end(), tokens);
  done_.erase(done_.begin());
}

}  // namespace gptoss
