#pragma once
// One forward step over several sequences: each brings new tokens (a prompt
// chunk, or one sampled token) at consecutive positions starting at pos0.
#include <cstdint>
#include <vector>

#include "model/kv_layout.h"

namespace gptoss {

struct BatchSeq {
  SeqKv kv;
  int pos0 = 0;          // position of this step's first token
  int n_tokens = 0;
  bool all_logits = false;  // logits for every new token; else only the last
  // Whether the caller reads this sequence's logits rows, or only their argmax
  // (forward_greedy): a runner may then skip copying 800 KB per row back.
  bool want_logits = true;
};

struct ForwardBatch {
  std::vector<int32_t> tokens;  // n_tokens of seqs[0], then seqs[1], ...
  std::vector<BatchSeq> seqs;

  int total_tokens() const { return int(tokens.size()); }
  // Rows of the logits output: the sum over sequences of n_tokens or 1.
  int logits_rows() const {
    int r = 0;
    for (auto& s : seqs) r += s.all_logits ? s.n_tokens : (s.n_tokens > 0 ? 1 : 0);
    return r;
  }
};

}  // namespace gptoss
