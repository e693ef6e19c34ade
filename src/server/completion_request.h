#pragma once
// A legacy /v1/completions request (prompt text or token ids) checked and
// turned into an engine request; apart from the endpoint so it can be fuzzed
// without HTTP, like prepare_chat.
#include "runtime/sequence.h"
#include "server/request_fields.h"
#include "server/server_context.h"

namespace gptoss::server {

struct CompletionJob {
  GenerateRequest gen;  // ready for Engine::submit
  int logprobs = -1;    // alternatives per token to report; -1: none
};

// body: prompt, suffix (refused), logprobs, besides the common fields.
// Throws ApiError 400 with the offending parameter.
CompletionJob prepare_completion(const ServerContext& ctx, const Json& body, const CommonParams& common);

}  // namespace gptoss::server
