#include "runtime/solo_session.h"

#include <numeric>

#include "core/error.h"

namespace gptoss {

SoloSession::SoloSession(ModelRunner& runner, int max_context, int block_size)
    : runner_(runner), max_context_(max_context) {
  const ModelConfig& c = runner.config();
  KvCacheConfig kv;
  kv.block_size = block_size;
  kv.num_full_blocks = (max_context + block_size - 1) / block_size;
  kv.num_window_blocks = window_ring_blocks(c.sliding_window, runner.max_step_tokens(), block_size);
  runner.allocate_kv(kv);
  full_blocks_.resize(size_t(kv.num_full_blocks));
  window_blocks_.resize(size_t(kv.num_window_blocks));
  std::iota(full_blocks_.begin(), full_blocks_.end(), 0);
  std::iota(window_blocks_.begin(), window_blocks_.end(), 0);
}

std::vector<float> SoloSession::feed(std::span<const int32_t> tokens, bool all_logits) {
  const int V = runner_.config().vocab_size;
  if (pos_ + int(tokens.size()) > max_context_)
    throw Error("context full: " + std::to_string(pos_ + tokens.size()) + " tokens exceed --ctx-size " +
                std::to_string(max_context_) + " (raise --ctx-size)");
  std::vector<float> out;
  if (all_logits) out.reserve(tokens.size() * size_t(V));
  size_t done = 0;
  while (done < tokens.size()) {
    const int limit = all_logits ? std::min(runner_.max_step_tokens(), runner_.max_logit_rows()) : runner_.max_step_tokens();
    const size_t n = std::min(tokens.size() - done, size_t(limit));
    ForwardBatch b;
    b.tokens.assign(tokens.begin() + long(done), tokens.begin() + long(done + n));
    BatchSeq s;
    s.kv = SeqKv{full_blocks_, window_blocks_};
    s.pos0 = pos_;
    s.n_tokens = int(n);
    s.all_logits = all_logits;
    b.seqs.push_back(s);
    std::vector<float> logits(size_t(b.logits_rows()) * size_t(V));
    runner_.forward(b, logits.data());
    pos_ += int(n);
    done += n;
    if (all_logits) out.insert(out.end(), logits.begin(), logits.end());
    else out = std::move(logits);
  }
  return out;
}

int argmax(const float* v, int n) {
  int best = 0;
  for (int i = 1; i < n; ++i)
    if (v[i] > v[best]) best = i;
  return best;
}

}  // namespace gptoss
