#pragma once
// Small pieces every endpoint uses: JSON output that survives odd bytes,
// server-sent events, submitting to the engine, OpenAI token log-probs.
#include "server/http_message.h"

#include <memory>
#include <string>

#include "runtime/request_stream.h"
#include "runtime/sequence.h"
#include "server/request_fields.h"
#include "server/server_context.h"

namespace gptoss::server {

// dump() that replaces invalid UTF-8 instead of throwing.
std::string dump_json(const Json& j);
// "data: {...}\n\n" (with "event: NAME\n" first when a name is given).
bool sse_send(DataSink& sink, const Json& j, const std::string& event = {});
bool sse_done(DataSink& sink);  // "data: [DONE]\n\n"
bool sse_comment(DataSink& sink);  // ": keep-alive\n\n"

// Engine::submit with its RequestError turned into ApiError 400 and EngineBusy
// into 429 with Retry-After. `id` names the request in the log, which shows
// its prompt text only with --log-prompts (prompts may be private).
std::shared_ptr<RequestStream> submit(ServerContext& ctx, GenerateRequest gen, const std::string& id);

// {"token","logprob","bytes","top_logprobs":[...]} as chat completions report it.
Json chat_logprob(const Tokenizer& tok, const SampledToken& t);

// Cancels a stream when it goes out of scope unless released.
struct CancelGuard {
  std::shared_ptr<RequestStream> stream;
  ~CancelGuard() {
    if (stream) stream->cancel();
  }
};

}  // namespace gptoss::server
