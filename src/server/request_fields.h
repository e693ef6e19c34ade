#pragma once
// Reading request JSON field by field, with the errors an OpenAI client
// expects: which parameter, what type it should have, what range.
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "runtime/sampler.h"

namespace gptoss::server {

using Json = nlohmann::ordered_json;

// The request body as a JSON object, or ApiError 400 saying what is wrong.
Json parse_body(const std::string& body);

std::optional<bool> opt_bool(const Json& j, const char* key);
std::optional<int64_t> opt_int(const Json& j, const char* key, int64_t lo, int64_t hi);
std::optional<double> opt_number(const Json& j, const char* key, double lo, double hi);
std::optional<std::string> opt_string(const Json& j, const char* key);
// A string or an array of strings (as "stop" is); at most `max_items`.
std::vector<std::string> opt_string_list(const Json& j, const char* key, size_t max_items);

// OpenAI's logit_bias ({"token id": bias}, bias in [-100, 100]) or llama.cpp's
// [[id, bias], ...], sorted by token; the ids are checked against the
// vocabulary by the engine.
std::vector<std::pair<int32_t, float>> opt_logit_bias(const Json& j);

// What chat, completions and responses share.
struct CommonParams {
  SamplingParams sampling;
  std::optional<int> max_tokens;
  std::vector<std::string> stop;
  bool stream = false;
  bool include_usage = false;  // stream_options.include_usage
  int n = 1;
  std::string user;
};

// Reads temperature, top_p, top_k, min_p, frequency/presence_penalty, seed, logit_bias,
// stop, stream, stream_options, n, and the max-tokens field named `max_key`
// (and max_completion_tokens for chat), at least min_tokens (/v1/completions
// allows 0: a prompt only scored, which it checks itself).
CommonParams parse_common(const Json& body, const char* max_key, int min_tokens = 1);

// Test-only: token text the sampler must produce ("gptoss_debug":
// {"force_output": "..."}), honoured only when the server allows it.
std::optional<std::string> forced_output(const Json& body);
// Test-only: fail the request inside the engine after this many tokens
// ("gptoss_debug": {"fail_after_tokens": N}), same condition.
std::optional<int> debug_fail_after_tokens(const Json& body);

}  // namespace gptoss::server
