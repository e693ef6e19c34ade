// POST /v1/responses: the Responses API, with reasoning items, message items
// and function_call items, streamed as typed events or returned whole.
#include <ctime>
#include <functional>

#include "server/api_error.h"
#include "server/chat_assembler.h"
#include "server/chat_request.h"
#include "server/endpoints.h"
#include "server/generation.h"
#include "server/http_util.h"
#include "server/responses_input.h"

namespace gptoss::server {

namespace {

// Builds the output items as deltas arrive, emitting the matching events.
class OutputItems {
 public:
  using Emit = std::function<void(const std::string& type, Json event)>;
  explicit OutputItems(Emit emit) : emit_(std::move(emit)) {}

  void add(const ChatDelta& d) {
    if (!d.reasoning.empty()) text_delta("reasoning", d.reasoning);
    if (!d.content.empty()) text_delta("message", d.content);
    for (auto& c : d.tool_calls) {
      if (c.first) {
        close();
        open({{"type", "function_call"}, {"id", random_id("fc_")}, {"call_id", c.id}, {"name", c.name},
              {"arguments", ""}, {"status", "in_progress"}});
      }
      if (!c.arguments.empty() && open_ && items_.back()["type"] == "function_call") {
        text_ += c.arguments;
        emit_("response.function_call_arguments.delta",
              {{"item_id", items_.back()["id"]}, {"output_index", items_.size() - 1}, {"delta", c.arguments}});
      }
    }
  }

  void close() {
    if (!open_) return;
    open_ = false;
    Json& item = items_.back();
    const size_t idx = items_.size() - 1;
    item["status"] = "completed";
    const std::string type = item["type"];
    if (type == "reasoning") {
      item["content"] = Json::array({{{"type", "reasoning_text"}, {"text", text_}}});
      emit_("response.reasoning_text.done", {{"item_id", item["id"]}, {"output_index", idx}, {"content_index", 0}, {"text", text_}});
    } else if (type == "message") {
      Json part = {{"type", "output_text"}, {"text", text_}, {"annotations", Json::array()}};
      item["content"] = Json::array({part});
      emit_("response.output_text.done", {{"item_id", item["id"]}, {"output_index", idx}, {"content_index", 0}, {"text", text_}});
      emit_("response.content_part.done", {{"item_id", item["id"]}, {"output_index", idx}, {"content_index", 0}, {"part", part}});
    } else {
      item["arguments"] = text_;
      emit_("response.function_call_arguments.done", {{"item_id", item["id"]}, {"output_index", idx}, {"arguments", text_}});
    }
    emit_("response.output_item.done", {{"output_index", idx}, {"item", item}});
  }

  const std::vector<Json>& items() const { return items_; }

 private:
  void open(Json item) {
    items_.push_back(std::move(item));
    open_ = true;
    text_.clear();
    emit_("response.output_item.added", {{"output_index", items_.size() - 1}, {"item", items_.back()}});
  }
  void text_delta(const std::string& type, const std::string& text) {
    if (!open_ || items_.back()["type"] != type) {
      close();
      if (type == "reasoning") {
        open({{"type", "reasoning"}, {"id", random_id("rs_")}, {"summary", Json::array()}, {"content", Json::array()},
              {"status", "in_progress"}});
      } else {
        open({{"type", "message"}, {"id", random_id("msg_")}, {"role", "assistant"}, {"status", "in_progress"},
              {"content", Json::array()}});
        emit_("response.content_part.added", {{"item_id", items_.back()["id"]}, {"output_index", items_.size() - 1},
                                              {"content_index", 0},
                                              {"part", {{"type", "output_text"}, {"text", ""}, {"annotations", Json::array()}}}});
      }
    }
    text_ += text;
    const bool reasoning = type == "reasoning";
    emit_(reasoning ? "response.reasoning_text.delta" : "response.output_text.delta",
          {{"item_id", items_.back()["id"]}, {"output_index", items_.size() - 1}, {"content_index", 0}, {"delta", text}});
  }

  Emit emit_;
  std::vector<Json> items_;
  bool open_ = false;
  std::string text_;
};

struct ResponseRun {
  ServerContext& ctx;
  ChatJob job;
  std::shared_ptr<RequestStream> stream;
  ChatAssembler assembler;
  std::string id = random_id("resp_");
  std::time_t created = std::time(nullptr);
  Json request_echo;

  ResponseRun(ServerContext& c, ChatJob j, std::shared_ptr<RequestStream> s)
      : ctx(c), job(std::move(j)), stream(std::move(s)), assembler(c.tokenizer, job.tool_names, job.stop, job.gen.constraint != nullptr) {}

  Json response(const std::string& status, const std::vector<Json>& output, const GenerationOutcome* g) const {
    Json r = request_echo;
    r["id"] = id;
    r["object"] = "response";
    r["created_at"] = created;
    r["status"] = status;
    r["model"] = ctx.options.model_name;
    r["output"] = output;
    r["error"] = nullptr;
    r["incomplete_details"] = nullptr;
    r["usage"] = nullptr;
    if (g) {
      if (g->reason == FinishReason::Length) r["incomplete_details"] = {{"reason", "max_output_tokens"}};
      r["usage"] = {{"input_tokens", g->prompt_tokens},
                    {"input_tokens_details", {{"cached_tokens", g->cached_tokens}}},
                    {"output_tokens", g->completion_tokens},
                    {"output_tokens_details", {{"reasoning_tokens", assembler.reasoning_tokens()}}},
                    {"total_tokens", g->prompt_tokens + g->completion_tokens}};
    }
    return r;
  }

  // Runs the generation, emitting events through `emit` (may be a no-op).
  Json run(const OutputItems::Emit& emit, const std::function<bool()>& ok, const std::function<bool()>& keepalive,
           GenerationOutcome& g) {
    OutputItems items(emit);
    g = run_generation(
        *stream,
        [&](const SampledToken& t) {
          items.add(assembler.push(t.token));
          return ok();
        },
        keepalive, [&] { return assembler.stop_string_hit(); });
    items.add(assembler.finish());
    items.close();
    report_request(ctx, id, "/v1/responses", g);
    const std::string status = g.reason == FinishReason::Length ? "incomplete"
                               : g.reason == FinishReason::Error ? "failed"
                                                                 : "completed";
    return response(status, items.items(), &g);
  }
};

}  // namespace

void handle_responses(ServerContext& ctx, const HttpRequest& req, HttpResponse& res) {
  Json body = parse_body(req.body);
  Json chat = responses_to_chat(body);
  CommonParams common = parse_common(chat, "max_tokens");
  ChatJob job = prepare_chat(ctx, chat, common, "max_output_tokens");
  const std::string id = random_id("resp_");
  auto stream = submit(ctx, job.gen, id);
  auto run = std::make_shared<ResponseRun>(ctx, std::move(job), stream);
  run->id = id;
  for (const char* k : {"instructions", "temperature", "top_p", "max_output_tokens", "tools", "tool_choice", "metadata"})
    run->request_echo[k] = body.contains(k) ? body[k] : Json(nullptr);
  run->request_echo["parallel_tool_calls"] = false;
  run->request_echo["reasoning"] = body.contains("reasoning") ? body["reasoning"] : Json(nullptr);
  if (!common.stream) {
    CancelGuard guard{stream};
    GenerationOutcome g;
    Json r = run->run([](const std::string&, Json) {}, [] { return true; }, {}, g);
    if (g.reason == FinishReason::Error) throw ApiError(500, "generation failed: " + g.error, "", "internal_error", "server_error");
    res.set_content(dump_json(r), "application/json");
    return;
  }
  res.set_header("Cache-Control", "no-cache");
  res.set_chunked_content_provider(
      "text/event-stream",
      [run](size_t, DataSink& sink) {
        bool ok = true;
        int seq = 0;
        auto emit = [&](const std::string& type, Json e) {
          if (!ok) return;
          e["type"] = type;
          e["sequence_number"] = seq++;
          ok = sse_send(sink, e, type);
        };
        Json start = run->response("in_progress", {}, nullptr);
        emit("response.created", {{"response", start}});
        emit("response.in_progress", {{"response", start}});
        GenerationOutcome g;
        Json final_response = run->run(emit, [&] { return ok; }, [&] { return ok = sse_comment(sink); }, g);
        if (!g.client_gone) {
          if (g.reason == FinishReason::Error) {
            final_response["error"] = {{"code", "server_error"}, {"message", g.error}};
            emit("response.failed", {{"response", final_response}});
          } else if (g.reason == FinishReason::Length) {
            emit("response.incomplete", {{"response", final_response}});
          } else {
            emit("response.completed", {{"response", final_response}});
          }
        }
        if (ok && !g.client_gone) sink.done();
        return ok && !g.client_gone;
      },
      [run](bool) { run->stream->cancel(); });
}

}  // namespace gptoss::server
