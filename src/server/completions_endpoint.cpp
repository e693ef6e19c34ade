// POST /v1/completions: raw text in (control tokens written as text are
// honoured, so a Harmony prompt can be sent by hand), raw text out.
#include <ctime>

#include "harmony/special_tokens.h"
#include "server/api_error.h"
#include "server/chat_assembler.h"
#include "server/chat_request.h"
#include "server/endpoints.h"
#include "server/generation.h"
#include "server/http_util.h"
#include "server/stop_strings.h"

namespace gptoss::server {

namespace {

std::vector<int32_t> prompt_ids(const ServerContext& ctx, const Json& body) {
  auto it = body.find("prompt");
  if (it == body.end() || it->is_null()) throw bad_request("'prompt' is required: a string or an array of token ids", "prompt");
  if (it->is_string()) return ctx.tokenizer->encode(it->get<std::string>(), /*allow_special=*/true);
  if (it->is_array()) {
    if (it->size() == 1 && (*it)[0].is_string()) return ctx.tokenizer->encode((*it)[0].get<std::string>(), true);
    std::vector<int32_t> ids;
    for (auto& v : *it) {
      if (!v.is_number_integer()) throw bad_request("'prompt' must be a string or an array of token ids (one prompt per request)", "prompt");
      ids.push_back(v.get<int32_t>());
    }
    return ids;
  }
  throw bad_request("'prompt' must be a string or an array of token ids", "prompt");
}

struct CompletionRun {
  ServerContext& ctx;
  std::shared_ptr<RequestStream> stream;
  StreamDecoder decoder;
  StopStrings stops;
  int logprobs = -1;  // -1: none
  std::string id = random_id("cmpl-");
  std::time_t created = std::time(nullptr);
  std::string text;
  Json lp_tokens = Json::array(), lp_values = Json::array(), lp_top = Json::array(), lp_offsets = Json::array();

  CompletionRun(ServerContext& c, std::shared_ptr<RequestStream> s, std::vector<std::string> stop)
      : ctx(c), stream(std::move(s)), decoder(c.tokenizer), stops(std::move(stop)) {}

  std::string take(const SampledToken& t) {
    std::string piece = stops.push(decoder.push(t.token));
    if (logprobs >= 0) {
      lp_tokens.push_back(to_valid_utf8(ctx.tokenizer->token_bytes(t.token)));
      lp_values.push_back(t.logprob);
      lp_offsets.push_back(text.size());
      Json top = Json::object();
      for (auto& a : t.top) top[to_valid_utf8(ctx.tokenizer->token_bytes(a.token))] = a.logprob;
      lp_top.push_back(top);
    }
    text += piece;
    return piece;
  }
  std::string flush() {
    std::string rest = stops.hit() ? std::string() : stops.push(decoder.flush()) + stops.flush();
    text += rest;
    return rest;
  }
  static const char* finish(const GenerationOutcome& g) { return g.reason == FinishReason::Length ? "length" : "stop"; }
  Json lp_json() const {
    if (logprobs < 0) return nullptr;
    return {{"tokens", lp_tokens}, {"token_logprobs", lp_values}, {"top_logprobs", lp_top}, {"text_offset", lp_offsets}};
  }
  Json body(const std::string& t, Json finish_reason, Json lp) const {
    return {{"id", id}, {"object", "text_completion"}, {"created", created}, {"model", ctx.options.model_name},
            {"choices", Json::array({{{"index", 0}, {"text", t}, {"logprobs", lp}, {"finish_reason", finish_reason}}})}};
  }
  static Json usage(const GenerationOutcome& g) {
    return {{"prompt_tokens", g.prompt_tokens}, {"completion_tokens", g.completion_tokens},
            {"total_tokens", g.prompt_tokens + g.completion_tokens}};
  }
};

}  // namespace

void handle_completions(ServerContext& ctx, const httplib::Request& req, httplib::Response& res) {
  Json body = parse_body(req.body);
  CommonParams common = parse_common(body, "max_tokens");
  if (common.n != 1) throw bad_request("n > 1 is not supported yet: send n separate requests", "n");
  if (body.contains("suffix") && !body["suffix"].is_null()) throw bad_request("'suffix' is not supported", "suffix");
  GenerateRequest gen;
  gen.prompt = prompt_ids(ctx, body);
  if (gen.prompt.empty()) throw bad_request("'prompt' is empty", "prompt");
  gen.sampling = common.sampling;
  auto lp = opt_int(body, "logprobs", 0, 20);
  if (lp) {
    gen.sampling.logprobs = true;
    gen.sampling.top_logprobs = int(*lp);
  }
  for (int id : ctx.engine.model_config().eos_token_ids) gen.stop_token_ids.push_back(id);
  gen.stop_token_ids.insert(gen.stop_token_ids.end(), {harmony::kReturn, harmony::kCall, harmony::kEndOfText});
  fit_to_context(ctx, gen, common.max_tokens.value_or(16), "max_tokens");
  apply_forced_output(ctx, body, gen);
  const std::string id = random_id("cmpl-");
  auto stream = submit(ctx, std::move(gen), id);
  auto run = std::make_shared<CompletionRun>(ctx, stream, common.stop);
  run->id = id;
  run->logprobs = lp ? int(*lp) : -1;
  if (!common.stream) {
    CancelGuard guard{stream};
    auto g = run_generation(*stream, [&](const SampledToken& t) { run->take(t); return true; }, {},
                            [&] { return run->stops.hit(); });
    run->flush();
    report_request(run->ctx, run->id, "/v1/completions", g);
    if (g.reason == FinishReason::Error) throw ApiError(500, "generation failed: " + g.error, "", "internal_error", "server_error");
    Json out = run->body(run->text, CompletionRun::finish(g), run->lp_json());
    out["usage"] = CompletionRun::usage(g);
    res.set_content(dump_json(out), "application/json");
    return;
  }
  const bool include_usage = common.include_usage;
  res.set_chunked_content_provider(
      "text/event-stream",
      [run, include_usage](size_t, httplib::DataSink& sink) {
        bool ok = true;
        auto g = run_generation(
            *run->stream, [&](const SampledToken& t) {
              std::string piece = run->take(t);
              return piece.empty() ? true : (ok = sse_send(sink, run->body(piece, nullptr, nullptr)));
            },
            [&] { return ok = sse_comment(sink); }, [&] { return run->stops.hit(); });
        if (!g.client_gone) {
          ok = ok && sse_send(sink, run->body(run->flush(), CompletionRun::finish(g), nullptr));
          if (include_usage) {
            Json u = run->body("", nullptr, nullptr);
            u["choices"] = Json::array();
            u["usage"] = CompletionRun::usage(g);
            ok = ok && sse_send(sink, u);
          }
          ok = ok && sse_done(sink);
        }
        report_request(run->ctx, run->id, "/v1/completions", g);
        if (ok && !g.client_gone) sink.done();
        return ok && !g.client_gone;
      },
      [run](bool) { run->stream->cancel(); });
}

}  // namespace gptoss::server
