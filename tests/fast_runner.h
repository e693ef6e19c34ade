#pragma once
// A stand-in for a GPU model: the real model's config and KV bookkeeping
// (from the runner it wraps), but a forward step that computes nothing and
// picks a plain word token by position. Thousands of tokens a second on a
// CPU, so the server above sees the turnover a GPU gives it: the HTTP layer
// is what a test then loads.
#include <algorithm>
#include <deque>
#include <vector>

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
  // The default submit() keeps every step's logits (0.8 MB a row) and
  // collect() copies them: far more work than the step itself here. Only
  // the chosen tokens are kept, and logits written for rows that want them.
  void submit(const ForwardBatch& b) override {
    Step step;
    for (const BatchSeq& s : b.seqs)
      for (int j = 0; j < rows(s); ++j)
        step.push_back({token_at(s.pos0 + s.n_tokens - rows(s) + j), s.want_logits});
    steps_.push_back(std::move(step));
  }
  void collect(float* logits, int32_t* tokens) override {
    const size_t V = size_t(config().vocab_size);
    const Step step = std::move(steps_.front());
    steps_.pop_front();
    for (size_t r = 0; r < step.size(); ++r) {
      tokens[r] = step[r].token;
      if (step[r].want_logits) {
        float* row = logits + r * V;
        std::fill(row, row + V, 0.0f);
        row[size_t(step[r].token)] = 10.0f;
      }
    }
  }
  int in_flight() const override { return int(steps_.size()); }

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
  struct Row {
    int32_t token;
    bool want_logits;
  };
  using Step = std::vector<Row>;
  std::deque<Step> steps_;
};

}  // namespace gptoss::test
