#pragma once
// Waits for one request's tokens and hands them on, noticing a client that
// went away (a failed write) and cancelling its sequence, which frees its
// KV blocks. Also measures what the request log reports.
#include <chrono>
#include <functional>
#include <string>

#include "runtime/request_stream.h"
#include "server/server_context.h"

namespace gptoss::server {

struct GenerationOutcome {
  FinishReason reason = FinishReason::None;
  std::string error;
  int prompt_tokens = 0, cached_tokens = 0, completion_tokens = 0;
  bool client_gone = false;
  double ttft_s = 0, total_s = 0;
};

// on_token(token) -> false when the client is gone; keepalive() is called
// after a second without tokens, -> false likewise. stop() -> true asks to
// end early (a stop string was seen): the sequence is cancelled and the
// outcome says Stop. on_prompt gets the prompt's log-probabilities, before
// the first token, when the request asked for them (-> false: client gone).
GenerationOutcome run_generation(RequestStream& stream, const std::function<bool(const SampledToken&)>& on_token,
                                 const std::function<bool()>& keepalive, const std::function<bool()>& stop,
                                 const std::function<bool(const std::vector<SampledToken>&)>& on_prompt = {});

// Decode speed: tokens after the first over the time after the first (0 when unknown).
double decode_tokens_per_second(const GenerationOutcome& g);

// Logs a finished request ("chatcmpl-.. /v1/chat/completions in=12 out=34
// ttft=0.050s 41.2 tok/s finish=stop") and keeps its timing for /v1/status.
void report_request(ServerContext& ctx, const std::string& id, const std::string& path, const GenerationOutcome& g);

}  // namespace gptoss::server
