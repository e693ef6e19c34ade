#pragma once
// Per-request token sampling: penalties, temperature, top-k, top-p, min-p,
// a seeded generator (same seed, same tokens), and log-probabilities.
#include <cstdint>
#include <optional>
#include <random>
#include <unordered_map>
#include <vector>

namespace gptoss {

struct SamplingParams {
  float temperature = 1.0f;  // 0 = greedy
  float top_p = 1.0f;
  int top_k = 0;             // 0 = off
  float min_p = 0.0f;
  float frequency_penalty = 0.0f;
  float presence_penalty = 0.0f;
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

class Sampler {
 public:
  explicit Sampler(const SamplingParams& params);
  // logits are modified in place (penalties, temperature).
  SampledToken sample(float* logits, int vocab);
  // Whether the next sample() needs the logits at all: not for plain greedy
  // decoding (or a forced token) without log-probabilities, where the
  // runner's arg-max is the answer and 800 KB per token need not reach the host.
  bool needs_logits() const;
  // The next token when needs_logits() is false; argmax is the runner's.
  SampledToken sample_greedy(int32_t argmax);
  // Tokens generated so far, for the frequency/presence penalties.
  void observe(int32_t token) { counts_[token]++; }

 private:
  SamplingParams p_;
  std::mt19937_64 rng_;
  std::unordered_map<int32_t, int> counts_;
  std::vector<int32_t> idx_;
  size_t forced_done_ = 0;
};

}  // namespace gptoss
