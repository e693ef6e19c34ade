#pragma once
// The Responses API request (input items, instructions, function tools,
// reasoning.effort, text.format, max_output_tokens) rewritten as the chat
// completions request that prepare_chat() understands.
#include "server/request_fields.h"

namespace gptoss::server {

// Throws ApiError 400 naming the offending input item or field.
Json responses_to_chat(const Json& body);

}  // namespace gptoss::server
