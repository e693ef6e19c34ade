#pragma once
// A stand-in for a GPU model: the real model's config and KV bookkeeping
// (from the runner it wraps), but a forward step that computes nothing and
// picks a plain word token by position. Thousands of tokens a second on a
// CPU, so the server above sees the turnover a GPU gives it: the HTTP layer
// is what a test then loads.
#include <algorithm>

#include "forwarding_runner.h"

namespace gptoss::test {

class FastRunner : public ForwardingRunner {
 public:
  using ForwardingRunner::ForwardingRunner;
  // Ordinary word pieces of the gpt-oss vocabulary (no special tokens, so
  // an answer always runs to max_tokens).
  static int32_t token_at(int pos) { return 1000 + pos % 64; }

  void forward(const ForwardBatch& b, float* logits, const LayerTrace&) override {
    const size_t V = size_t(config().vocab_size);
    int r = 0;
    for (const BatchSeq& s : b.seqs)
      for (int j = 0; j < rows(s); ++j, ++r) {
        float* row = logits + size_t(r) * V;
        std::fill(row, row + V, 0.0f);
        row[size_t(token_at(s.pos0 + s.n_tokens - rows(s) + j))] = 10.0f;
      }
  }
  void forward_sample(const ForwardBatch& b, float* logits, int32_t* tokens) override {
    const size_t V = size_t(config().vocab_size);
    int r = 0;
    for (const BatchSeq& s : b.seqs)
      for (int j = 0; j < rows(s); ++j, ++r) {
        tokens[r] = token_at(s.pos0 + s.n_tokens - rows(s) + j);
        if (s.want_logits) {
          float* row = logits + size_t(r) * V;
          std::fill(row, row + V, 0.0f);
          row[size_t(tokens[r])] = 10.0f;
        }
      }
  }

 private:
  static int rows(const BatchSeq& s) { return s.all_logits ? s.n_tokens : (s.n_tokens > 0 ? 1 : 0); }
};

}  // namespace gptoss::test
