#pragma once
// The constraint on one sequence's output: which tokens may come next and,
// once the analysis has used its budget, the tokens that close it and open
// the answer. ConstraintSpec is what a request compiles to (shared by its n
// sequences and by later requests with the same schema); HarmonyConstraint
// is one sequence's place in it.
#include <cstdint>
#include <memory>

#include "constrain/matcher.h"
#include "constrain/token_mask.h"
#include "constrain/vocabulary.h"

namespace gptoss::constrain {

struct ConstraintSpec {
  std::shared_ptr<const Matcher> matcher;  // harmony_turn_grammar()
  std::shared_ptr<MaskCache> masks;
  std::shared_ptr<const Vocabulary> vocab;
  // Analysis tokens allowed before the answer is forced; < 0: no limit.
  int thinking_budget = -1;
};

class HarmonyConstraint {
 public:
  explicit HarmonyConstraint(std::shared_ptr<const ConstraintSpec> spec);

  // The tokens allowed next, as Vocabulary::mask_words() words of bits, or
  // null when nothing is enforced any more (a token the grammar refused was
  // taken, e.g. a test's forced output). Valid until the next call.
  const uint32_t* next_mask();
  // The token taken (after next_mask()'s, or forced).
  void advance(int32_t token);
  // Tokens of analysis text so far.
  int analysis_tokens() const { return analysis_tokens_; }
  bool failed() const { return failed_; }

 private:
  bool in_analysis() const;

  std::shared_ptr<const ConstraintSpec> spec_;
  MatchState state_;
  int analysis_tokens_ = 0;
  bool failed_ = false;
  std::shared_ptr<const TokenMask> mask_;
  TokenMask own_;  // masks that are not cached (forced end of analysis, free text)
};

}  // namespace gptoss::constrain
