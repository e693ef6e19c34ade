// POST /v1/chat/completions, streamed (SSE chunks) or whole.
#include <ctime>

#include "server/api_error.h"
#include "server/chat_assembler.h"
#include "server/chat_request.h"
#include "server/endpoints.h"
#include "server/generation.h"
#include "server/http_util.h"

namespace gptoss::server {

namespace {

struct ChatRun {
  ServerContext& ctx;
  ChatJob job;
  bool include_usage = false;
  std::shared_ptr<RequestStream> stream;
  ChatAssembler assembler;
  std::string id = random_id("chatcmpl-");
  std::time_t created = std::time(nullptr);

  ChatRun(ServerContext& c, ChatJob j, std::shared_ptr<RequestStream> s, std::vector<std::string> stop)
      : ctx(c), job(std::move(j)), stream(std::move(s)), assembler(c.tokenizer, job.tool_names, std::move(stop)) {}

  static Json delta_json(const ChatDelta& d) {
    Json j = Json::object();
    if (!d.reasoning.empty()) j["reasoning_content"] = j["reasoning"] = d.reasoning;
    if (!d.content.empty()) j["content"] = d.content;
    if (!d.tool_calls.empty()) {
      Json calls = Json::array();
      for (auto& c : d.tool_calls) {
        Json x = {{"index", c.index}};
        if (c.first) {
          x["id"] = c.id;
          x["type"] = "function";
          x["function"] = {{"name", c.name}, {"arguments", c.arguments}};
        } else {
          x["function"] = {{"arguments", c.arguments}};
        }
        calls.push_back(x);
      }
      j["tool_calls"] = calls;
    }
    return j;
  }

  std::string finish_reason(const GenerationOutcome& g) const {
    if (!assembler.tool_calls().empty()) return "tool_calls";
    if (g.reason == FinishReason::Length) return "length";
    return "stop";
  }

  Json usage(const GenerationOutcome& g) const {
    return {{"prompt_tokens", g.prompt_tokens},
            {"completion_tokens", g.completion_tokens},
            {"total_tokens", g.prompt_tokens + g.completion_tokens},
            {"prompt_tokens_details", {{"cached_tokens", g.cached_tokens}}},
            {"completion_tokens_details", {{"reasoning_tokens", assembler.reasoning_tokens()}}}};
  }

  Json chunk(Json delta, Json finish, Json logprobs = nullptr) const {
    return {{"id", id},
            {"object", "chat.completion.chunk"},
            {"created", created},
            {"model", ctx.options.model_name},
            {"system_fingerprint", "gptoss-cpp"},
            {"choices", Json::array({{{"index", 0}, {"delta", std::move(delta)}, {"logprobs", std::move(logprobs)},
                                      {"finish_reason", std::move(finish)}}})}};
  }

  // Streams chunks to the sink; returns false when the client went away.
  bool stream_to(httplib::DataSink& sink) {
    bool ok = sse_send(sink, chunk({{"role", "assistant"}, {"content", ""}}, nullptr));
    GenerationOutcome g = run_generation(
        *stream,
        [&](const SampledToken& t) {
          ChatDelta d = assembler.push(t.token);
          Json lp = job.logprobs ? Json{{"content", Json::array({chat_logprob(*ctx.tokenizer, t)})}} : Json(nullptr);
          if (d.empty() && lp.is_null()) return true;
          return ok = sse_send(sink, chunk(delta_json(d), nullptr, lp));
        },
        [&] { return ok = sse_comment(sink); }, [&] { return assembler.stop_string_hit(); });
    if (!g.client_gone) {
      ChatDelta d = assembler.finish();
      if (!d.empty()) ok = ok && sse_send(sink, chunk(delta_json(d), nullptr));
      if (g.reason == FinishReason::Error) {
        ok = ok && sse_send(sink, ApiError(500, "generation failed: " + g.error, "", "internal_error", "server_error").to_json());
      } else {
        ok = ok && sse_send(sink, chunk(Json::object(), finish_reason(g)));
        if (include_usage) {
          Json u = chunk(nullptr, nullptr);
          u["choices"] = Json::array();
          u["usage"] = usage(g);
          ok = ok && sse_send(sink, u);
        }
      }
      ok = ok && sse_done(sink);
    }
    report_request(ctx, id, "/v1/chat/completions", g);
    return ok && !g.client_gone;
  }

  Json whole() {
    Json logprobs = Json::array();
    GenerationOutcome g = run_generation(
        *stream,
        [&](const SampledToken& t) {
          assembler.push(t.token);
          if (job.logprobs) logprobs.push_back(chat_logprob(*ctx.tokenizer, t));
          return true;
        },
        {}, [&] { return assembler.stop_string_hit(); });
    assembler.finish();
    report_request(ctx, id, "/v1/chat/completions", g);
    if (g.reason == FinishReason::Error)
      throw ApiError(500, "generation failed: " + g.error, "", "internal_error", "server_error");
    Json msg = {{"role", "assistant"}, {"content", assembler.content()}};
    if (!assembler.reasoning().empty()) msg["reasoning_content"] = msg["reasoning"] = assembler.reasoning();
    if (!assembler.tool_calls().empty()) {
      Json calls = Json::array();
      for (auto& c : assembler.tool_calls())
        calls.push_back({{"id", c.id}, {"type", "function"}, {"function", {{"name", c.name}, {"arguments", c.arguments}}}});
      msg["tool_calls"] = calls;
      if (assembler.content().empty()) msg["content"] = nullptr;
    }
    Json choice = {{"index", 0},
                   {"message", msg},
                   {"logprobs", job.logprobs ? Json{{"content", logprobs}} : Json(nullptr)},
                   {"finish_reason", finish_reason(g)}};
    return {{"id", id},
            {"object", "chat.completion"},
            {"created", created},
            {"model", ctx.options.model_name},
            {"system_fingerprint", "gptoss-cpp"},
            {"choices", Json::array({choice})},
            {"usage", usage(g)}};
  }
};

}  // namespace

void handle_chat_completions(ServerContext& ctx, const httplib::Request& req, httplib::Response& res) {
  Json body = parse_body(req.body);
  CommonParams common = parse_common(body, "max_tokens");
  if (common.n != 1) throw bad_request("n > 1 is not supported yet: send n separate requests", "n");
  ChatJob job = prepare_chat(ctx, body, common);
  auto stream = submit(ctx, job.gen);
  auto run = std::make_shared<ChatRun>(ctx, std::move(job), stream, common.stop);
  run->include_usage = common.include_usage;
  if (!common.stream) {
    CancelGuard guard{stream};
    res.set_content(dump_json(run->whole()), "application/json");
    return;
  }
  res.set_header("Cache-Control", "no-cache");
  res.set_chunked_content_provider(
      "text/event-stream",
      [run](size_t, httplib::DataSink& sink) {
        bool ok = run->stream_to(sink);
        if (ok) sink.done();
        return ok;
      },
      [run](bool) { run->stream->cancel(); });  // also when the provider never ran
}

}  // namespace gptoss::server
