#include "model/model_runner.h"

#include <algorithm>

namespace gptoss {

void ModelRunner::forward_greedy(const ForwardBatch& batch, float* logits, int32_t* argmax) {
  forward(batch, logits);
  const int V = config().vocab_size;
  for (int r = 0, rows = batch.logits_rows(); r < rows; ++r) {
    const float* row = logits + size_t(r) * V;
    argmax[r] = int32_t(std::max_element(row, row + V) - row);
  }
}

}  // namespace gptoss
