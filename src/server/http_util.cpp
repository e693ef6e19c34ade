#include "server/http_util.h"

#include "core/log.h"
#include "server/api_error.h"

namespace gptoss::server {

std::string dump_json(const Json& j) { return j.dump(-1, ' ', false, Json::error_handler_t::replace); }

bool sse_send(DataSink& sink, const Json& j, const std::string& event) {
  std::string s;
  if (!event.empty()) s = "event: " + event + "\n";
  s += "data: " + dump_json(j) + "\n\n";
  return sink.write(s.data(), s.size());
}

bool sse_done(DataSink& sink) {
  static const std::string s = "data: [DONE]\n\n";
  return sink.write(s.data(), s.size());
}

bool sse_comment(DataSink& sink) {
  static const std::string s = ": keep-alive\n\n";
  return sink.write(s.data(), s.size());
}

std::shared_ptr<RequestStream> submit(ServerContext& ctx, GenerateRequest gen, const std::string& id) {
  if (ctx.options.log_prompts)
    log_info(id + " prompt (" + std::to_string(gen.prompt.size()) + " tokens): " +
             dump_json(Json(ctx.tokenizer->decode(gen.prompt))));
  try {
    return ctx.engine.submit(std::move(gen));
  } catch (const RequestError& e) {
    throw bad_request(e.what(), "", "invalid_request");
  } catch (const EngineBusy& e) {
    ApiError busy(429, std::string("the server is busy: ") + e.what(), "", "queue_full", "server_error");
    busy.retry_after_s = 1;
    throw busy;
  }
}

Json chat_logprob(const Tokenizer& tok, const SampledToken& t) {
  auto entry = [&](int32_t id, float lp) {
    const std::string b = tok.generated_bytes(id);
    Json bytes = Json::array();
    for (unsigned char c : b) bytes.push_back(int(c));
    return Json{{"token", to_valid_utf8(b)}, {"logprob", lp}, {"bytes", bytes}};
  };
  Json e = entry(t.token, t.logprob);
  Json top = Json::array();
  for (auto& a : t.top) top.push_back(entry(a.token, a.logprob));
  e["top_logprobs"] = top;
  return e;
}

}  // namespace gptoss::server
