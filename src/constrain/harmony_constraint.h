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
  // Tests: steady() everywhere, so the engine guesses every mask and redoes
  // every wrong guess.
  bool always_steady = false;
};

class HarmonyConstraint {
 public:
  explicit HarmonyConstraint(std::shared_ptr<const ConstraintSpec> spec);

  // The tokens allowed next, as Vocabulary::mask_words() words of bits, or
  // null when nothing is enforced any more (a token the grammar refused was
  // taken, e.g. a test's forced output). Masks are shared and cached: two
  // states with the same mask usually get the same pointer, which is what
  // lets the engine queue a step with the mask of the step before and check
  // afterwards that it was the right one.
  std::shared_ptr<const TokenMask> next_mask();
  // The token taken (after next_mask()'s, or forced).
  void advance(int32_t token);
  // Whether the next mask is likely the one next_mask() gives now, whatever
  // token comes: inside free text (the budget not about to run out) or a
  // long string. The engine then queues a step before this one's token is
  // known, with this mask, and checks it afterwards.
  bool steady() const;
  // Tokens of analysis text so far.
  int analysis_tokens() const { return analysis_tokens_; }
  bool failed() const { return failed_; }

 private:
  bool in_analysis() const;

  std::shared_ptr<const ConstraintSpec> spec_;
  MatchState state_;
  int analysis_tokens_ = 0;
  bool failed_ = false;
};

}  // namespace gptoss::constrain
