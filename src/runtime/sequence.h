#pragma once
// One request inside the engine: its tokens (prompt, then sampled ones), how
// many of them have keys and values in the cache, its blocks, its sampler and
// when it must stop.
#include <chrono>
#include <cstdint>
#include <memory>
#include <vector>

#include "constrain/harmony_constraint.h"
#include "runtime/kv_block_manager.h"
#include "runtime/request_stream.h"
#include "runtime/sampler.h"

namespace gptoss {

// What a caller asks the engine for.
struct GenerateRequest {
  std::vector<int32_t> prompt;
  SamplingParams sampling;
  int max_tokens = 256;
  std::vector<int32_t> stop_token_ids;  // e.g. <|return|> 200002, <|call|> 200012
  // Test-only (the server allows it with --debug-allow-forced-output): the
  // engine raises an internal error for this sequence once it has this many
  // output tokens, to show that one failing request does not take others down.
  int debug_fail_after_tokens = -1;
  // Pause when the stream's reader falls --max-unread-tokens behind (see
  // EngineOptions). false where unread tokens are expected: a reply built
  // whole before it is sent reads its n choices one after another, and the
  // tokens kept are the reply itself.
  bool pause_for_reader = true;
  // Constrained decoding (structured outputs, tool_choice, the thinking
  // budget): what each sequence's output must be; null for free output.
  std::shared_ptr<const constrain::ConstraintSpec> constraint;
  // The prompt's own log-probabilities (each token after the first, given
  // those before it) with this many alternatives each; -1: none. They come
  // as one StreamEvent before the first token. Such a prompt is computed
  // whole (no prefix-cache hit) in chunks whose every row's logits reach
  // the host. With them, max_tokens may be 0: the prompt is only scored.
  int prompt_logprobs = -1;
};

enum class SeqState { Waiting, Running, Finished };

class Sequence {
 public:
  using Clock = std::chrono::steady_clock;
  Sequence(uint64_t id, GenerateRequest request, std::shared_ptr<RequestStream> stream);

  uint64_t id;
  std::vector<int32_t> tokens;  // prompt then output
  int prompt_len;
  int num_computed = 0;         // leading tokens whose KV is in the cache
  int cached_prompt_tokens = 0; // of the prompt, found in the prefix cache (first admission)
  SeqBlockTable blocks;
  SeqState state = SeqState::Waiting;
  FinishReason finish = FinishReason::None;
  int max_tokens;
  std::vector<int32_t> stop_token_ids;
  Sampler sampler;
  std::shared_ptr<RequestStream> stream;
  Clock::time_point arrival, last_token;
  bool has_output_time = false;
  int preemptions = 0;
  bool prompt_counted = false;  // for metrics
  int debug_fail_after_tokens = -1;
  bool pause_for_reader = true;
  std::unique_ptr<constrain::HarmonyConstraint> constraint;  // null: free output
  // Steps in flight whose row for this sequence is to be dropped (queued
  // after a wrong mask guess, see Engine::look_ahead).
  int discard_steps = 0;
  int prompt_logprobs = -1;               // GenerateRequest::prompt_logprobs
  std::vector<SampledToken> prompt_lp;    // [i]: prompt token i + 1 given tokens 0..i
  bool prompt_lp_sent = false;

  // This step's chunk of the prompt needs every row's logits (prompt_logprobs).
  bool wants_prompt_rows() const { return prompt_logprobs >= 0 && !prompt_lp_sent && num_computed < prompt_len; }

  // Whether the next token's mask depends on tokens not yet taken.
  bool constrained() const { return constraint && !constraint->failed(); }
  int num_output() const { return int(tokens.size()) - prompt_len; }
  int pending() const { return int(tokens.size()) - num_computed; }
  bool is_stop_token(int32_t t) const;
};

}  // namespace gptoss
