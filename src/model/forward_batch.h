#pragma once
// One forward step over several sequences: each brings new tokens (a prompt
// chunk, or one sampled token) at consecutive positions starting at pos0.
#include <cstdint>
#include <vector>

#include "core/gumbel.h"
#include "model/kv_layout.h"

namespace gptoss {

struct BatchSeq {
  SeqKv kv;
  int pos0 = 0;          // position of this step's first token
  int n_tokens = 0;
  bool all_logits = false;  // logits for every new token; else only the last
  // Whether the caller reads this sequence's logits rows, or only their argmax
  // (forward_sample): a runner may then skip copying 800 KB per row back.
  bool want_logits = true;
  // How forward_sample() and submit() pick this sequence's next token from
  // each of its logits rows (row j of the sequence uses counter + j).
  TokenChoice choice;
  // Constrained decoding: the tokens this sequence's last row may take (bit
  // t of mask[t / 32]), or null for any. Owned by the caller until the step
  // is collected.
  const uint32_t* mask = nullptr;
};

struct ForwardBatch {
  std::vector<int32_t> tokens;  // n_tokens of seqs[0], then seqs[1], ...
  std::vector<BatchSeq> seqs;
  // submit() only: empty, or one entry per token. feed[t] = r >= 0 makes token
  // t the token chosen for logits row r of the step submitted just before
  // (tokens[t] is then ignored), so a decode step can be queued before the
  // host knows its input; -1 takes tokens[t].
  std::vector<int32_t> feed;

  int total_tokens() const { return int(tokens.size()); }
  // Rows of the logits output: the sum over sequences of n_tokens or 1.
  int logits_rows() const {
    int r = 0;
    for (auto& s : seqs) r += s.all_logits ? s.n_tokens : (s.n_tokens > 0 ? 1 : 0);
    return r;
  }
};

}  // namespace gptoss
