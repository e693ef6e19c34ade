#include "runtime/sequence.h"

#include <algorithm>

namespace gptoss {

Sequence::Sequence(uint64_t id_, GenerateRequest r, std::shared_ptr<RequestStream> s)
    : id(id_),
      tokens(std::move(r.prompt)),
      prompt_len(int(tokens.size())),
      max_tokens(r.max_tokens),
      stop_token_ids(std::move(r.stop_token_ids)),
      sampler(r.sampling),
      stream(std::move(s)),
      arrival(Clock::now()),
      debug_fail_after_tokens(r.debug_fail_after_tokens),
      pause_for_reader(r.pause_for_reader),
      constraint(r.constraint ? std::make_unique<constrain::HarmonyConstraint>(std::move(r.constraint)) : nullptr),
      prompt_logprobs(r.prompt_logprobs) {}

bool Sequence::is_stop_token(int32_t t) const {
  return std::find(stop_token_ids.begin(), stop_token_ids.end(), t) != stop_token_ids.end();
}

}  // namespace gptoss
