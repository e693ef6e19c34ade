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

// One choice of a request: its sequence in the engine and its parser.
struct ChatChoice {
  int index;
  std::shared_ptr<RequestStream> stream;
  ChatAssembler assembler;
  GenerationOutcome outcome;
};

// With n > 1 every choice is its own sequence, all submitted at once (they
// share the prompt's KV blocks through the prefix cache and decode in the same
// batch). A stream sends the choices one after another: a later choice's
// tokens wait in its queue meanwhile, so all finish about together (a later
// choice longer than --max-unread-tokens pauses there until its turn).
struct ChatRun {
  ServerContext& ctx;
  ChatJob job;
  bool include_usage = false;
  std::vector<std::unique_ptr<ChatChoice>> choices;
  std::string id = random_id("chatcmpl-");
  std::time_t created = std::time(nullptr);

  ChatRun(ServerContext& c, ChatJob j, int n, const std::vector<std::string>& stop) : ctx(c), job(std::move(j)) {
    try {
      for (int i = 0; i < n; ++i) {
        GenerateRequest gen = job.gen;
        if (gen.sampling.seed) gen.sampling.seed = *gen.sampling.seed + uint64_t(i);  // n different answers, reproducibly
        auto stream = submit(ctx, std::move(gen), id);
        ChatAssembler assembler(c.tokenizer, job.tool_names, stop, job.gen.constraint != nullptr);
        choices.push_back(std::make_unique<ChatChoice>(ChatChoice{i, stream, std::move(assembler), {}}));
      }
    } catch (...) {
      cancel_all();  // the choices already queued must not run for nobody
      throw;
    }
  }
  void cancel_all() {
    for (auto& c : choices) c->stream->cancel();
  }

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

  static std::string finish_reason(const ChatChoice& c) {
    if (!c.assembler.tool_calls().empty()) return "tool_calls";
    if (c.outcome.reason == FinishReason::Length) return "length";
    return "stop";
  }

  // The prompt counts once; completions and reasoning add up over choices.
  Json usage() const {
    const GenerationOutcome& first = choices.front()->outcome;
    int completion = 0, reasoning = 0;
    for (auto& c : choices) completion += c->outcome.completion_tokens, reasoning += c->assembler.reasoning_tokens();
    return {{"prompt_tokens", first.prompt_tokens},
            {"completion_tokens", completion},
            {"total_tokens", first.prompt_tokens + completion},
            {"prompt_tokens_details", {{"cached_tokens", first.cached_tokens}}},
            {"completion_tokens_details", {{"reasoning_tokens", reasoning}}}};
  }

  Json chunk(int index, Json delta, Json finish, Json logprobs = nullptr) const {
    return {{"id", id},
            {"object", "chat.completion.chunk"},
            {"created", created},
            {"model", ctx.options.model_name},
            {"system_fingerprint", "gptoss-cpp"},
            {"choices", Json::array({{{"index", index}, {"delta", std::move(delta)}, {"logprobs", std::move(logprobs)},
                                      {"finish_reason", std::move(finish)}}})}};
  }

  // Streams chunks to the sink; returns false when the client went away.
  bool stream_to(DataSink& sink) {
    bool ok = true;
    for (auto& cp : choices) {
      ChatChoice& c = *cp;
      ok = ok && sse_send(sink, chunk(c.index, {{"role", "assistant"}, {"content", ""}}, nullptr));
      c.outcome = run_generation(
          *c.stream,
          [&](const SampledToken& t) {
            ChatDelta d = c.assembler.push(t.token);
            Json lp = job.logprobs ? Json{{"content", Json::array({chat_logprob(*ctx.tokenizer, t)})}} : Json(nullptr);
            if (d.empty() && lp.is_null()) return true;
            return ok = sse_send(sink, chunk(c.index, delta_json(d), nullptr, lp));
          },
          [&] { return ok = sse_comment(sink); }, [&] { return c.assembler.stop_string_hit(); });
      report_request(ctx, id, "/v1/chat/completions", c.outcome);
      if (c.outcome.client_gone || !ok) {
        cancel_all();
        return false;
      }
      ChatDelta d = c.assembler.finish();
      if (!d.empty()) ok = ok && sse_send(sink, chunk(c.index, delta_json(d), nullptr));
      if (c.outcome.reason == FinishReason::Error) {
        ok = ok && sse_send(sink, ApiError(500, "generation failed: " + c.outcome.error, "", "internal_error", "server_error").to_json());
        cancel_all();
        return ok && sse_done(sink);
      }
      ok = ok && sse_send(sink, chunk(c.index, Json::object(), finish_reason(c)));
    }
    if (include_usage) {
      Json u = chunk(0, nullptr, nullptr);
      u["choices"] = Json::array();
      u["usage"] = usage();
      ok = ok && sse_send(sink, u);
    }
    return ok && sse_done(sink);
  }

  Json whole() {
    Json out_choices = Json::array();
    for (auto& cp : choices) {
      ChatChoice& c = *cp;
      Json logprobs = Json::array();
      c.outcome = run_generation(
          *c.stream,
          [&](const SampledToken& t) {
            c.assembler.push(t.token);
            if (job.logprobs) logprobs.push_back(chat_logprob(*ctx.tokenizer, t));
            return true;
          },
          {}, [&] { return c.assembler.stop_string_hit(); });
      c.assembler.finish();
      report_request(ctx, id, "/v1/chat/completions", c.outcome);
      if (c.outcome.reason == FinishReason::Error) {
        cancel_all();
        throw ApiError(500, "generation failed: " + c.outcome.error, "", "internal_error", "server_error");
      }
      Json msg = {{"role", "assistant"}, {"content", c.assembler.content()}};
      if (!c.assembler.reasoning().empty()) msg["reasoning_content"] = msg["reasoning"] = c.assembler.reasoning();
      if (!c.assembler.tool_calls().empty()) {
        Json calls = Json::array();
        for (auto& tc : c.assembler.tool_calls())
          calls.push_back({{"id", tc.id}, {"type", "function"}, {"function", {{"name", tc.name}, {"arguments", tc.arguments}}}});
        msg["tool_calls"] = calls;
        if (c.assembler.content().empty()) msg["content"] = nullptr;
      }
      out_choices.push_back({{"index", c.index},
                             {"message", msg},
                             {"logprobs", job.logprobs ? Json{{"content", logprobs}} : Json(nullptr)},
                             {"finish_reason", finish_reason(c)}});
    }
    return {{"id", id},
            {"object", "chat.completion"},
            {"created", created},
            {"model", ctx.options.model_name},
            {"system_fingerprint", "gptoss-cpp"},
            {"choices", out_choices},
            {"usage", usage()}};
  }
};

}  // namespace

void handle_chat_completions(ServerContext& ctx, const HttpRequest& req, HttpResponse& res) {
  Json body = parse_body(req.body);
  CommonParams common = parse_common(body, "max_tokens");
  ChatJob job = prepare_chat(ctx, body, common);
  job.gen.pause_for_reader = common.stream;
  auto run = std::make_shared<ChatRun>(ctx, std::move(job), common.n, common.stop);
  run->include_usage = common.include_usage;
  if (!common.stream) {
    struct CancelAll {
      ChatRun& run;
      ~CancelAll() { run.cancel_all(); }  // cancelling a finished stream is a no-op
    } guard{*run};
    res.set_content(dump_json(run->whole()), "application/json");
    return;
  }
  res.set_header("Cache-Control", "no-cache");
  res.set_chunked_content_provider(
      "text/event-stream",
      [run](size_t, DataSink& sink) {
        bool ok = run->stream_to(sink);
        if (ok) sink.done();
        return ok;
      },
      [run](bool) { run->cancel_all(); });  // also when the provider never ran
}

}  // namespace gptoss::server
