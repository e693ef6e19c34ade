#include "constrain/harmony_constraint.h"

#include <algorithm>

#include "core/log.h"
#include "harmony/special_tokens.h"

namespace gptoss::constrain {

namespace h = gptoss::harmony;

namespace {
// The token a grammar marker code stands for (marker_of's inverse).
int32_t token_of_marker(uint8_t code) { return int32_t(code) + 199990; }
const uint8_t kEndCode = uint8_t(h::kEnd - 199990);
}  // namespace

HarmonyConstraint::HarmonyConstraint(std::shared_ptr<const ConstraintSpec> spec)
    : spec_(std::move(spec)), state_(spec_->matcher->start()) {}

bool HarmonyConstraint::in_analysis() const {
  auto end = spec_->matcher->free_text_end(state_);
  return end && *end == kEndCode;
}

const uint32_t* HarmonyConstraint::next_mask() {
  if (failed_) return nullptr;
  const Vocabulary& v = *spec_->vocab;
  if (auto end = spec_->matcher->free_text_end(state_)) {
    if (*end == kEndCode && spec_->thinking_budget >= 0 && analysis_tokens_ >= spec_->thinking_budget) {
      own_.assign(size_t(v.mask_words()), 0);  // the budget is spent: close the analysis
    } else {
      own_ = v.text_mask();
    }
    mask_allow(own_, token_of_marker(*end));
    return own_.data();
  }
  mask_ = spec_->masks->get(*spec_->matcher, v, state_);
  if (std::all_of(mask_->begin(), mask_->end(), [](uint32_t w) { return w == 0; })) {
    // A dead end (a pattern whose strings cannot meet the length bounds, a
    // number range narrower than nine decimals): end the turn rather than
    // hang, and enforce nothing more.
    log_warn("constrained decoding reached a state with no valid token; ending the answer");
    failed_ = true;
    own_.assign(size_t(v.mask_words()), 0);
    mask_allow(own_, h::kReturn);
    mask_allow(own_, h::kCall);
    return own_.data();
  }
  return mask_->data();
}

void HarmonyConstraint::advance(int32_t token) {
  if (failed_) return;
  const Vocabulary& v = *spec_->vocab;
  const bool analysis = in_analysis();
  if (token < 0 || token >= v.size() || !v.usable(token) || !spec_->matcher->feed(state_, v.bytes(token))) {
    failed_ = true;  // e.g. forced output: from here on nothing is enforced
    return;
  }
  if (analysis && token != h::kEnd) analysis_tokens_++;
}

}  // namespace gptoss::constrain
