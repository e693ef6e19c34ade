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

std::shared_ptr<const TokenMask> HarmonyConstraint::next_mask() {
  if (failed_) return nullptr;
  const Vocabulary& v = *spec_->vocab;
  MaskCache& cache = *spec_->masks;
  if (auto end = spec_->matcher->free_text_end(state_)) {
    // Free text, or its end forced once the thinking budget is spent. The
    // keys cannot be a state's (those are never this short).
    const bool forced = *end == kEndCode && spec_->thinking_budget >= 0 && analysis_tokens_ >= spec_->thinking_budget;
    return cache.get(std::string{'\0', char(*end), char(forced)}, [&] {
      TokenMask m = forced ? TokenMask(size_t(v.mask_words()), 0) : v.text_mask();
      mask_allow(m, token_of_marker(*end));
      return m;
    });
  }
  auto mask = cache.get(*spec_->matcher, v, state_);
  if (std::all_of(mask->begin(), mask->end(), [](uint32_t w) { return w == 0; })) {
    // A dead end (a pattern whose strings cannot meet the length bounds, a
    // number range narrower than nine decimals): end the turn rather than
    // hang, and enforce nothing more.
    log_warn("constrained decoding reached a state with no valid token; ending the answer");
    failed_ = true;
    return cache.get(std::string{'\0', 'x'}, [&] {
      TokenMask m(size_t(v.mask_words()), 0);
      mask_allow(m, h::kReturn);
      mask_allow(m, h::kCall);
      return m;
    });
  }
  return mask;
}

bool HarmonyConstraint::steady() const {
  if (failed_) return false;
  if (spec_->always_steady) return true;
  if (auto end = spec_->matcher->free_text_end(state_))
    return *end != kEndCode || spec_->thinking_budget < 0 || analysis_tokens_ + 2 < spec_->thinking_budget;
  return spec_->matcher->in_long_string(state_);
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
