#pragma once
// One sequence on a runner, with a KV cache of its own: what `gptoss logits`,
// `generate` and `chat` need. (The server uses the scheduler instead.)
#include <cstdint>
#include <span>
#include <vector>

#include "model/model_runner.h"

namespace gptoss {

class SoloSession {
 public:
  // Allocates the runner's KV cache for one sequence of up to max_context tokens.
  SoloSession(ModelRunner& runner, int max_context, int block_size = 16);

  // Appends tokens (split into steps the runner accepts) and returns the
  // logits of the last one, or of every one when all_logits ([n, vocab]).
  std::vector<float> feed(std::span<const int32_t> tokens, bool all_logits = false);
  int position() const { return pos_; }
  int max_context() const { return max_context_; }
  void reset() { pos_ = 0; }

 private:
  ModelRunner& runner_;
  int max_context_;
  int pos_ = 0;
  std::vector<int32_t> full_blocks_, window_blocks_;
};

int argmax(const float* v, int n);

}  // namespace gptoss
