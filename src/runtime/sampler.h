#pragma once
// Per-request token sampling: penalties, temperature, top-k, top-p, min-p,
// a seed (same seed, same tokens), and log-probabilities. Every draw is a
// Gumbel-max over the kept tokens with the noise of core/gumbel.h, so the
// runner can make the same draw on the GPU when nothing else is asked for
// (device_choice()), and a seed gives the same tokens either way.
#include <cstdint>
#include <optional>
#include <unordered_map>
#include <utility>
#include <vector>

#include "core/gumbel.h"

namespace gptoss {

struct SamplingParams {
  float temperature = 1.0f;  // 0 = greedy
  float top_p = 1.0f;
  int top_k = 0;             // 0 = off
  float min_p = 0.0f;
  float frequency_penalty = 0.0f;
  float presence_penalty = 0.0f;
  // OpenAI's logit_bias: (token, bias) added to the logits before the
  // penalties' and truncation (-100 bans a token in practice, +100 forces it).
  std::vector<std::pair<int32_t, float>> logit_bias;
  std::optional<uint64_t> seed;
  int top_logprobs = 0;      // alternatives to report per token (0..20)
  bool logprobs = false;
  // Test-only (the server allows it with --debug-allow-forced-output): these
  // tokens are emitted first, whatever the model says; then sampling resumes.
  std::vector<int32_t> forced_tokens;
};

struct TokenLogprob {
  int32_t token;
  float logprob;
};

struct SampledToken {
  int32_t token = 0;
  float logprob = 0.0f;                  // of the chosen token under the unmodified distribution
  std::vector<TokenLogprob> top;         // top alternatives, if asked
};

// log(sum(exp(row))), summed in double: the base of every reported log-probability.
float log_sum_exp(const float* logits, int V);
// The k likeliest tokens of a row and their log-probabilities (logit - lse), likeliest first.
std::vector<TokenLogprob> top_logprobs(const float* logits, int V, float lse, int k);

class Sampler {
 public:
  explicit Sampler(const SamplingParams& params);
  // logits are modified in place (penalties, the mask). mask: the tokens
  // allowed (constrained decoding, see core/gumbel.h mask_allows), or null.
  SampledToken sample(float* logits, int vocab, const uint32_t* mask = nullptr);
  // Whether the next token needs the logits on the host: not when the
  // runner's own choice per device_choice() is the answer (greedy, or plain
  // temperature sampling, without penalties, biases or log-probabilities; or
  // a forced token), and 800 KB per token need not reach the host.
  bool needs_logits() const;
  // How the runner picks the next token when needs_logits() is false, or,
  // with ahead = 1, the token after it (drawn before this one is taken).
  TokenChoice device_choice(uint32_t ahead = 0) const;
  // Whether from here on every token is the runner's choice, whatever the
  // tokens before it were: no forced tokens left, no penalties, nothing that
  // needs the logits. Then a step can be queued with its token fed on the
  // device before the host has seen the one before (Engine's lookahead).
  bool runner_decides() const;
  // The next token when needs_logits() is false; `chosen` is the runner's.
  SampledToken from_runner(int32_t chosen);
  // Tokens generated so far, for the frequency/presence penalties.
  void observe(int32_t token) { counts_[token]++; }

 private:
  SamplingParams p_;
  uint64_t seed_;
  uint32_t drawn_ = 0;  // tokens produced so far: the next draw's noise counter
  std::unordered_map<int32_t, int> counts_;
  std::vector<int32_t> idx_;
  size_t forced_done_ = 0;
};

}  // namespace gptoss
