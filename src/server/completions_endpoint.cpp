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

// One prompt: its token ids and, for echo, its text.
struct PromptIn {
  std::vector<int32_t> ids;
  std::string text;
};

// 'prompt': a string, an array of token ids, or an array of either (several prompts).
std::vector<PromptIn> prompts_of(const ServerContext& ctx, const Json& body, bool echo) {
  auto it = body.find("prompt");
  if (it == body.end() || it->is_null()) throw bad_request("'prompt' is required: a string or an array of token ids", "prompt");
  const int vocab = ctx.engine.model_config().vocab_size;
  auto from_text = [&](const std::string& t) { return PromptIn{ctx.tokenizer->encode(t, /*allow_special=*/true), t}; };
  auto from_ids = [&](const Json& a, const std::string& where) {
    PromptIn p;
    for (auto& v : a) {
      if (!v.is_number_integer()) throw bad_request(where + " must be a string or an array of token ids", "prompt");
      const int64_t id = v.get<int64_t>();
      if (id < 0 || id >= vocab)
        throw bad_request(where + " holds token id " + std::to_string(id) + ", outside the vocabulary (0.." +
                              std::to_string(vocab - 1) + ")",
                          "prompt");
      p.ids.push_back(int32_t(id));
    }
    if (echo) p.text = ctx.tokenizer->decode(p.ids);
    return p;
  };
  if (it->is_string()) return {from_text(it->get<std::string>())};
  if (!it->is_array()) throw bad_request("'prompt' must be a string or an array of token ids", "prompt");
  if (it->empty()) throw bad_request("'prompt' is empty", "prompt");
  // An array of integers is one prompt; otherwise every element is one.
  if ((*it)[0].is_number_integer()) return {from_ids(*it, "'prompt'")};
  if (it->size() > size_t(kMaxCompletionPrompts))
    throw bad_request("'prompt' holds " + std::to_string(it->size()) + " prompts; at most " +
                          std::to_string(kMaxCompletionPrompts) + " per request",
                      "prompt");
  std::vector<PromptIn> out;
  for (size_t i = 0; i < it->size(); ++i) {
    const Json& e = (*it)[i];
    const std::string where = "'prompt[" + std::to_string(i) + "]'";
    if (e.is_string()) out.push_back(from_text(e.get<std::string>()));
    else if (e.is_array()) out.push_back(from_ids(e, where));
    else throw bad_request(where + " must be a string or an array of token ids", "prompt");
  }
  return out;
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

  int prompt;                      // which of the request's prompts
  std::string echo;                // the prompt's text, sent before the completion ('echo')
  std::vector<int32_t> prompt_ids;  // the prompt's tokens, which echo with logprobs reports

  CompletionChoice(const ServerContext& c, int i, int p, std::shared_ptr<RequestStream> s, std::vector<std::string> stop,
                   int lp, std::string echo_text, std::vector<int32_t> ids)
      : index(i), stream(std::move(s)), decoder(c.tokenizer), stops(std::move(stop)), logprobs(lp), prompt(p),
        echo(std::move(echo_text)), prompt_ids(std::move(ids)) {}

  // One log-probability entry: the token's text, its log-probability and
  // alternatives (null for the prompt's first token, which has none), and
  // where its text starts in the choice's text (echo included).
  void add_lp(const Tokenizer& tok, int32_t token, Json value, const std::vector<TokenLogprob>* top, size_t offset) {
    lp_tokens.push_back(to_valid_utf8(tok.token_bytes(token)));
    lp_values.push_back(std::move(value));
    lp_offsets.push_back(offset);
    if (!top) {
      lp_top.push_back(nullptr);
      return;
    }
    Json t = Json::object();
    for (auto& a : *top) t[to_valid_utf8(tok.generated_bytes(a.token))] = a.logprob;
    lp_top.push_back(std::move(t));
  }
  // echo with logprobs: the prompt's tokens lead the choice's entries.
  void take_prompt(const Tokenizer& tok, const std::vector<SampledToken>& lp) {
    const std::vector<int32_t>& ids = prompt_ids;
    size_t offset = 0;
    for (size_t i = 0; i < ids.size(); ++i) {
      if (i == 0) add_lp(tok, ids[0], nullptr, nullptr, 0);
      else if (i - 1 < lp.size()) add_lp(tok, ids[i], lp[i - 1].logprob, &lp[i - 1].top, offset);
      offset += to_valid_utf8(tok.token_bytes(ids[i])).size();
    }
  }
  std::string take(const Tokenizer& tok, const SampledToken& t) {
    std::string piece = stops.push(decoder.push(t.token));
    if (logprobs >= 0) add_lp(tok, t.token, t.logprob, &t.top, echo.size() + text.size());
    text += piece;
    return piece;
  }
  // Streamed: the entries not yet sent, with the chunk that sends them.
  size_t lp_sent = 0;
  Json lp_unsent() {
    if (logprobs < 0) return nullptr;
    auto slice = [&](const Json& a) { return Json(std::vector<Json>(a.begin() + long(lp_sent), a.end())); };
    Json out = {{"tokens", slice(lp_tokens)}, {"token_logprobs", slice(lp_values)}, {"top_logprobs", slice(lp_top)},
                {"text_offset", slice(lp_offsets)}};
    lp_sent = lp_tokens.size();
    return out;
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

// Each prompt's n choices are n sequences submitted together (sharing the
// prompt's KV blocks); every prompt is submitted at once, so they run as one
// batch; a stream sends the choices one after another, as
// /v1/chat/completions does.
struct CompletionRun {
  ServerContext& ctx;
  std::vector<std::unique_ptr<CompletionChoice>> choices;
  std::string id = random_id("cmpl-");
  std::time_t created = std::time(nullptr);

  CompletionRun(ServerContext& c, const CompletionJob& job, int n, const std::vector<std::string>& stop) : ctx(c) {
    try {
      for (size_t p = 0; p < job.gens.size(); ++p)
        for (int j = 0; j < n; ++j) {
          const int index = int(p) * n + j;
          GenerateRequest g = job.gens[p];
          if (g.sampling.seed) g.sampling.seed = *g.sampling.seed + uint64_t(index);
          choices.push_back(std::make_unique<CompletionChoice>(c, index, int(p), submit(ctx, std::move(g), id), stop,
                                                               job.logprobs, job.echo[p],
                                                               job.gens[p].prompt_logprobs >= 0 ? job.gens[p].prompt : std::vector<int32_t>()));
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
  // Each prompt's tokens count once, however many choices it has.
  Json usage() const {
    int prompt = 0, completion = 0, last = -1;
    for (auto& c : choices) {
      if (c->prompt != last) prompt += c->outcome.prompt_tokens, last = c->prompt;
      completion += c->outcome.completion_tokens;
    }
    return {{"prompt_tokens", prompt}, {"completion_tokens", completion}, {"total_tokens", prompt + completion}};
  }
};

}  // namespace

CompletionJob prepare_completion(const ServerContext& ctx, const Json& body, const CommonParams& common) {
  if (body.contains("suffix") && !body["suffix"].is_null()) throw bad_request("'suffix' is not supported", "suffix");
  if (auto best_of = opt_int(body, "best_of", 1, 64); best_of && *best_of != common.n)
    throw bad_request(*best_of < common.n ? "'best_of' must be at least 'n'"
                                          : "'best_of' (ranking more candidates than n by log-probability) is not "
                                            "supported: ask for n choices instead",
                      "best_of");
  const bool echo = opt_bool(body, "echo").value_or(false);
  CompletionJob job;
  SamplingParams sampling = common.sampling;
  if (auto lp = opt_int(body, "logprobs", 0, 20)) {
    sampling.logprobs = true;
    sampling.top_logprobs = int(*lp);
    job.logprobs = int(*lp);
  }
  if (common.max_tokens == 0 && !(echo && job.logprobs >= 0))
    throw bad_request("'max_tokens' 0 only scores the prompt: it needs 'echo' and 'logprobs'", "max_tokens");
  std::vector<PromptIn> prompts = prompts_of(ctx, body, echo);
  if (int64_t(prompts.size()) * common.n > kMaxCompletionSequences)
    throw bad_request(std::to_string(prompts.size()) + " prompts x n = " + std::to_string(common.n) + " are " +
                          std::to_string(int64_t(prompts.size()) * common.n) + " sequences; at most " +
                          std::to_string(kMaxCompletionSequences) + " per request",
                      "n");
  for (size_t i = 0; i < prompts.size(); ++i) {
    GenerateRequest gen;
    gen.prompt = std::move(prompts[i].ids);
    if (gen.prompt.empty())
      throw bad_request(prompts.size() == 1 ? "'prompt' is empty" : "'prompt[" + std::to_string(i) + "]' is empty",
                        "prompt");
    gen.sampling = sampling;
    // echo with logprobs also scores the prompt's own tokens (how evaluation
    // harnesses read a text's likelihood).
    if (echo && job.logprobs >= 0) gen.prompt_logprobs = job.logprobs;
    for (int id : ctx.engine.model_config().eos_token_ids) gen.stop_token_ids.push_back(id);
    gen.stop_token_ids.insert(gen.stop_token_ids.end(), {harmony::kReturn, harmony::kCall, harmony::kEndOfText});
    fit_to_context(ctx, gen, common.max_tokens.value_or(16), "max_tokens");
    apply_forced_output(ctx, body, gen);
    gen.pause_for_reader = common.stream;
    job.gens.push_back(std::move(gen));
    job.echo.push_back(echo ? std::move(prompts[i].text) : std::string());
  }
  return job;
}

void handle_completions(ServerContext& ctx, const HttpRequest& req, HttpResponse& res) {
  Json body = parse_body(req.body);
  CommonParams common = parse_common(body, "max_tokens", 0);
  CompletionJob job = prepare_completion(ctx, body, common);
  auto run = std::make_shared<CompletionRun>(ctx, job, common.n, common.stop);
  const Tokenizer& tok = *ctx.tokenizer;
  if (!common.stream) {
    struct CancelAll {
      CompletionRun& run;
      ~CancelAll() { run.cancel_all(); }
    } guard{*run};
    Json list = Json::array();
    for (auto& cp : run->choices) {
      CompletionChoice& c = *cp;
      c.outcome = run_generation(
          *c.stream, [&](const SampledToken& t) { c.take(tok, t); return true; }, {}, [&] { return c.stops.hit(); },
          [&](const std::vector<SampledToken>& lp) { c.take_prompt(tok, lp); return true; });
      c.flush();
      report_request(ctx, run->id, "/v1/completions", c.outcome);
      if (c.outcome.reason == FinishReason::Error)
        throw ApiError(500, "generation failed: " + c.outcome.error, "", "internal_error", "server_error");
      list.push_back(CompletionRun::choice(c.index, c.echo + c.text, c.finish(), c.lp_json()));
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
          // The echoed prompt leads; with logprobs it waits for the prompt's scores.
          const bool echo_now = !c.echo.empty() && c.logprobs < 0;
          if (echo_now &&
              !sse_send(sink, run->body(Json::array({CompletionRun::choice(c.index, c.echo, nullptr, nullptr)})))) {
            run->cancel_all();
            return false;
          }
          c.outcome = run_generation(
              *c.stream, [&](const SampledToken& t) {
                std::string piece = c.take(tok, t);
                return piece.empty() ? true
                                     : (ok = sse_send(sink, run->body(Json::array({CompletionRun::choice(c.index, piece, nullptr, c.lp_unsent())}))));
              },
              [&] { return ok = sse_comment(sink); }, [&] { return c.stops.hit(); },
              [&](const std::vector<SampledToken>& lp) {
                c.take_prompt(tok, lp);
                return c.echo.empty() ||
                       (ok = sse_send(sink, run->body(Json::array({CompletionRun::choice(c.index, c.echo, nullptr, c.lp_unsent())}))));
              });
          report_request(run->ctx, run->id, "/v1/completions", c.outcome);
          if (c.outcome.client_gone || !ok) {
            run->cancel_all();
            return false;
          }
          std::string rest = c.flush();
          ok = sse_send(sink, run->body(Json::array({CompletionRun::choice(c.index, rest, c.finish(), c.lp_unsent())})));
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
