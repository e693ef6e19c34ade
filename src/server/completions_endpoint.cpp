// POST /v1/completions: raw text in (control tokens written as text are
// honoured, so a Harmony prompt can be sent by hand), raw text out.
#include <ctime>

#include "harmony/special_tokens.h"
#include "server/api_error.h"
#include "server/chat_assembler.h"
#include "server/chat_request.h"
#include "server/completion_request.h"
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

// One choice: its sequence, text decoding, stop strings and log-probabilities.
struct CompletionChoice {
  int index;
  std::shared_ptr<RequestStream> stream;
  StreamDecoder decoder;
  StopStrings stops;
  int logprobs = -1;  // -1: none
  std::string text;
  Json lp_tokens = Json::array(), lp_values = Json::array(), lp_top = Json::array(), lp_offsets = Json::array();
  GenerationOutcome outcome;

  CompletionChoice(const ServerContext& c, int i, std::shared_ptr<RequestStream> s, std::vector<std::string> stop, int lp)
      : index(i), stream(std::move(s)), decoder(c.tokenizer), stops(std::move(stop)), logprobs(lp) {}

  std::string take(const Tokenizer& tok, const SampledToken& t) {
    std::string piece = stops.push(decoder.push(t.token));
    if (logprobs >= 0) {
      lp_tokens.push_back(to_valid_utf8(tok.generated_bytes(t.token)));
      lp_values.push_back(t.logprob);
      lp_offsets.push_back(text.size());
      Json top = Json::object();
      for (auto& a : t.top) top[to_valid_utf8(tok.generated_bytes(a.token))] = a.logprob;
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
  const char* finish() const { return outcome.reason == FinishReason::Length ? "length" : "stop"; }
  Json lp_json() const {
    if (logprobs < 0) return nullptr;
    return {{"tokens", lp_tokens}, {"token_logprobs", lp_values}, {"top_logprobs", lp_top}, {"text_offset", lp_offsets}};
  }
};

// n choices are n sequences submitted together (sharing the prompt's KV
// blocks); a stream sends them one after another, as /v1/chat/completions does.
struct CompletionRun {
  ServerContext& ctx;
  std::vector<std::unique_ptr<CompletionChoice>> choices;
  std::string id = random_id("cmpl-");
  std::time_t created = std::time(nullptr);

  CompletionRun(ServerContext& c, const GenerateRequest& gen, int n, const std::vector<std::string>& stop, int lp)
      : ctx(c) {
    try {
      for (int i = 0; i < n; ++i) {
        GenerateRequest g = gen;
        if (g.sampling.seed) g.sampling.seed = *g.sampling.seed + uint64_t(i);
        choices.push_back(std::make_unique<CompletionChoice>(c, i, submit(ctx, std::move(g), id), stop, lp));
      }
    } catch (...) {
      cancel_all();
      throw;
    }
  }
  void cancel_all() {
    for (auto& c : choices) c->stream->cancel();
  }
  Json body(Json choice_list) const {
    return {{"id", id}, {"object", "text_completion"}, {"created", created}, {"model", ctx.options.model_name},
            {"choices", std::move(choice_list)}};
  }
  static Json choice(int index, const std::string& t, Json finish_reason, Json lp) {
    return {{"index", index}, {"text", t}, {"logprobs", std::move(lp)}, {"finish_reason", std::move(finish_reason)}};
  }
  Json usage() const {
    const GenerationOutcome& first = choices.front()->outcome;
    int completion = 0;
    for (auto& c : choices) completion += c->outcome.completion_tokens;
    return {{"prompt_tokens", first.prompt_tokens}, {"completion_tokens", completion},
            {"total_tokens", first.prompt_tokens + completion}};
  }
};

}  // namespace

CompletionJob prepare_completion(const ServerContext& ctx, const Json& body, const CommonParams& common) {
  if (body.contains("suffix") && !body["suffix"].is_null()) throw bad_request("'suffix' is not supported", "suffix");
  CompletionJob job;
  GenerateRequest& gen = job.gen;
  gen.prompt = prompt_ids(ctx, body);
  if (gen.prompt.empty()) throw bad_request("'prompt' is empty", "prompt");
  gen.sampling = common.sampling;
  if (auto lp = opt_int(body, "logprobs", 0, 20)) {
    gen.sampling.logprobs = true;
    gen.sampling.top_logprobs = int(*lp);
    job.logprobs = int(*lp);
  }
  for (int id : ctx.engine.model_config().eos_token_ids) gen.stop_token_ids.push_back(id);
  gen.stop_token_ids.insert(gen.stop_token_ids.end(), {harmony::kReturn, harmony::kCall, harmony::kEndOfText});
  fit_to_context(ctx, gen, common.max_tokens.value_or(16), "max_tokens");
  apply_forced_output(ctx, body, gen);
  gen.pause_for_reader = common.stream;
  return job;
}

void handle_completions(ServerContext& ctx, const HttpRequest& req, HttpResponse& res) {
  Json body = parse_body(req.body);
  CommonParams common = parse_common(body, "max_tokens");
  CompletionJob job = prepare_completion(ctx, body, common);
  auto run = std::make_shared<CompletionRun>(ctx, job.gen, common.n, common.stop, job.logprobs);
  const Tokenizer& tok = *ctx.tokenizer;
  if (!common.stream) {
    struct CancelAll {
      CompletionRun& run;
      ~CancelAll() { run.cancel_all(); }
    } guard{*run};
    Json list = Json::array();
    for (auto& cp : run->choices) {
      CompletionChoice& c = *cp;
      c.outcome = run_generation(*c.stream, [&](const SampledToken& t) { c.take(tok, t); return true; }, {},
                                 [&] { return c.stops.hit(); });
      c.flush();
      report_request(ctx, run->id, "/v1/completions", c.outcome);
      if (c.outcome.reason == FinishReason::Error)
        throw ApiError(500, "generation failed: " + c.outcome.error, "", "internal_error", "server_error");
      list.push_back(CompletionRun::choice(c.index, c.text, c.finish(), c.lp_json()));
    }
    Json out = run->body(std::move(list));
    out["usage"] = run->usage();
    res.set_content(dump_json(out), "application/json");
    return;
  }
  const bool include_usage = common.include_usage;
  res.set_chunked_content_provider(
      "text/event-stream",
      [run, include_usage](size_t, DataSink& sink) {
        const Tokenizer& tok = *run->ctx.tokenizer;
        bool ok = true;
        for (auto& cp : run->choices) {
          CompletionChoice& c = *cp;
          c.outcome = run_generation(
              *c.stream, [&](const SampledToken& t) {
                std::string piece = c.take(tok, t);
                return piece.empty() ? true
                                     : (ok = sse_send(sink, run->body(Json::array({CompletionRun::choice(c.index, piece, nullptr, nullptr)}))));
              },
              [&] { return ok = sse_comment(sink); }, [&] { return c.stops.hit(); });
          report_request(run->ctx, run->id, "/v1/completions", c.outcome);
          if (c.outcome.client_gone || !ok) {
            run->cancel_all();
            return false;
          }
          ok = sse_send(sink, run->body(Json::array({CompletionRun::choice(c.index, c.flush(), c.finish(), nullptr)})));
        }
        if (include_usage) {
          Json u = run->body(Json::array());
          u["usage"] = run->usage();
          ok = ok && sse_send(sink, u);
        }
        ok = ok && sse_done(sink);
        if (ok) sink.done();
        return ok;
      },
      [run](bool) { run->cancel_all(); });
}

}  // namespace gptoss::server
