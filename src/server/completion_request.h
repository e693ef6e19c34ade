#pragma once
// A legacy /v1/completions request (prompt text or token ids) checked and
// turned into an engine request; apart from the endpoint so it can be fuzzed
// without HTTP, like prepare_chat.
#include "runtime/sequence.h"
#include "server/request_fields.h"
#include "server/server_context.h"

namespace gptoss::server {

// 'prompt' may hold several prompts (strings, or arrays of token ids): each
// is its own engine request, and its n choices are numbered prompt * n + j.
struct CompletionJob {
  std::vector<GenerateRequest> gens;  // one per prompt, ready for Engine::submit
  std::vector<std::string> echo;      // per prompt: its text when 'echo' is true, else empty
  int logprobs = -1;                  // alternatives per token to report; -1: none
};

// Most prompts one request may hold, and most sequences (prompts x n).
constexpr int kMaxCompletionPrompts = 1024;
constexpr int kMaxCompletionSequences = 1024;

// body: prompt, echo, suffix (refused), logprobs, besides the common fields.
// Throws ApiError 400 with the offending parameter.
CompletionJob prepare_completion(const ServerContext& ctx, const Json& body, const CommonParams& common);

}  // namespace gptoss::server
