// POST /tokenize and /detokenize, answered in the shapes of vLLM's and
// llama.cpp's servers so that their clients can count tokens here too:
//   /tokenize   {"prompt" | "content": text}  the ids /v1/completions feeds the
//               model for that text (control tokens written as text count);
//               {"messages": [...], "tools", ...} the ids /v1/chat/completions
//               feeds it (the Harmony rendering, instructions included);
//               -> {"tokens": [ids], "count", "max_model_len"}, or with
//               "with_pieces": true (llama.cpp) tokens [{"id", "piece"}].
//   /detokenize {"tokens": [ids]} -> {"prompt": text, "content": text}.
#include "server/api_error.h"
#include "server/chat_request.h"
#include "server/endpoints.h"
#include "server/http_util.h"

namespace gptoss::server {

void handle_tokenize(ServerContext& ctx, const HttpRequest& req, HttpResponse& res) {
  const Json body = parse_body(req.body);
  if (!body.is_object()) throw bad_request("the body must be a JSON object", "prompt");
  std::vector<int32_t> ids;
  if (body.contains("messages")) {
    ids = chat_prompt_ids(ctx, body);
  } else {
    const char* key = body.contains("prompt") ? "prompt" : "content";
    auto it = body.find(key);
    if (it == body.end() || !it->is_string())
      throw bad_request("send 'prompt' (or 'content') as a string, or 'messages' as in /v1/chat/completions", "prompt");
    ids = ctx.tokenizer->encode(it->get<std::string>(), /*allow_special=*/true);
  }
  Json tokens = Json::array();
  if (opt_bool(body, "with_pieces").value_or(false)) {
    for (int32_t id : ids) tokens.push_back({{"id", id}, {"piece", to_valid_utf8(ctx.tokenizer->token_bytes(id))}});
  } else {
    tokens = ids;
  }
  res.set_content(dump_json({{"tokens", std::move(tokens)},
                             {"count", ids.size()},
                             {"max_model_len", ctx.engine.options().max_model_len}}),
                  "application/json");
}

void handle_detokenize(ServerContext& ctx, const HttpRequest& req, HttpResponse& res) {
  const Json body = parse_body(req.body);
  auto it = body.is_object() ? body.find("tokens") : body.end();
  if (it == body.end() || !it->is_array()) throw bad_request("'tokens' must be an array of token ids", "tokens");
  const int vocab = ctx.engine.model_config().vocab_size;
  std::vector<int32_t> ids;
  for (auto& v : *it) {
    if (!v.is_number_integer()) throw bad_request("'tokens' must be an array of token ids", "tokens");
    const int64_t id = v.get<int64_t>();
    if (id < 0 || id >= vocab)
      throw bad_request("token id " + std::to_string(id) + " is outside the vocabulary (0.." + std::to_string(vocab - 1) +
                            ")",
                        "tokens");
    ids.push_back(int32_t(id));
  }
  const std::string text = to_valid_utf8(ctx.tokenizer->decode(ids));
  res.set_content(dump_json({{"prompt", text}, {"content", text}}), "application/json");
}

}  // namespace gptoss::server
