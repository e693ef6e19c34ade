#pragma once
// A chat request (OpenAI chat-completions form; the Responses API converts to
// it) checked and turned into the Harmony prompt and an engine request.
#include <string>
#include <vector>

#include "runtime/sequence.h"
#include "server/request_fields.h"
#include "server/server_context.h"

namespace gptoss::server {

struct ChatJob {
  GenerateRequest gen;                  // ready for Engine::submit
  std::vector<std::string> tool_names;  // for the parser
  std::vector<std::string> stop;        // stop strings (on the answer text)
  bool logprobs = false;
  int top_logprobs = 0;
};

// body: messages, tools, tool_choice, reasoning_effort, response_format,
// logprobs, top_logprobs. Throws ApiError 400 with the offending parameter.
ChatJob prepare_chat(const ServerContext& ctx, const Json& body, const CommonParams& common,
                     const char* max_param = "max_tokens");

// The token ids prepare_chat would feed the model for this body (messages,
// tools, tool_choice, response_format, reasoning_effort), without its checks
// of the length against the context (POST /tokenize).
std::vector<int32_t> chat_prompt_ids(const ServerContext& ctx, const Json& body);

// Checks max_tokens against the context and fills the engine request's
// limits; shared with /v1/completions.
void fit_to_context(const ServerContext& ctx, GenerateRequest& gen, const std::optional<int>& max_tokens,
                    const char* max_param);
// Applies the test-only forced output, if the server allows it.
void apply_forced_output(const ServerContext& ctx, const Json& body, GenerateRequest& gen);

// Turns a JSON Schema response format into developer instructions; throws on
// a malformed one.
std::string response_format_instructions(const Json& format, const char* param);

}  // namespace gptoss::server
