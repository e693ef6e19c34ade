// libFuzzer target: a request body through the server's parsing and prompt
// rendering, without HTTP and without generating. The first byte picks the
// endpoint (mod 3): chat completions, the Responses API, or the legacy
// completions (prompt text with control tokens, or token ids). Bad bodies
// must become an ApiError (an OpenAI 400) or gptoss::Error; any other
// exception would be a 500 for a client mistake, so it aborts.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "core/error.h"
#include "fuzz_support.h"
#include "server/api_error.h"
#include "server/chat_request.h"
#include "server/completion_request.h"
#include "server/request_fields.h"
#include "server/responses_input.h"

using namespace gptoss;
using namespace gptoss::server;

namespace {
fuzz::ServerFixture* fx = nullptr;  // lives for the process
enum class Endpoint { Chat, Responses, Completions };
}

// Built here rather than on the first input: under ASan the synthetic model
// and the real tokenizer take longer than libFuzzer's per-input -timeout.
extern "C" int LLVMFuzzerInitialize(int*, char***) {
  fx = new fuzz::ServerFixture();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const auto endpoint = Endpoint(data[0] % 3);
  const std::string body_text(reinterpret_cast<const char*>(data + 1), size - 1);
  try {
    Json body = parse_body(body_text);
    if (endpoint == Endpoint::Responses) body = responses_to_chat(body);
    CommonParams common = parse_common(body, "max_tokens", endpoint == Endpoint::Completions ? 0 : 1);
    if (endpoint == Endpoint::Completions) {
      CompletionJob job = prepare_completion(fx->ctx, body, common);
      (void)job;
    } else {
      ChatJob job = prepare_chat(fx->ctx, body, common, endpoint == Endpoint::Responses ? "max_output_tokens" : "max_tokens");
      (void)job;
    }
  } catch (const ApiError& e) {
    if (e.status != 400) {
      std::fprintf(stderr, "unexpected status %d: %s\n", e.status, e.what());
      std::abort();
    }
  } catch (const Error&) {
  } catch (const std::exception& e) {
    std::fprintf(stderr, "a bad request became an internal error: %s\n", e.what());
    std::abort();
  }
  return 0;
}
