#pragma once
// The OpenAI endpoints. Each handler throws ApiError for a bad request; the
// server turns it into the error object and status.
#include "server/http_message.h"

#include "server/server_context.h"

namespace gptoss::server {

void handle_chat_completions(ServerContext& ctx, const HttpRequest& req, HttpResponse& res);
void handle_completions(ServerContext& ctx, const HttpRequest& req, HttpResponse& res);
void handle_responses(ServerContext& ctx, const HttpRequest& req, HttpResponse& res);
void handle_models(ServerContext& ctx, const HttpRequest& req, HttpResponse& res);
// GET /v1/models/{id}: the served model, or 404 for another id.
void handle_model(ServerContext& ctx, const HttpRequest& req, HttpResponse& res);
// POST /tokenize, /detokenize (vLLM's and llama.cpp's shapes; tokenize_endpoint.cpp).
void handle_tokenize(ServerContext& ctx, const HttpRequest& req, HttpResponse& res);
void handle_detokenize(ServerContext& ctx, const HttpRequest& req, HttpResponse& res);
void handle_metrics(ServerContext& ctx, const HttpRequest& req, HttpResponse& res);
void handle_status(ServerContext& ctx, const HttpRequest& req, HttpResponse& res);
// The embedded web UI (no API key needed: the page asks for it).
void handle_web_asset(ServerContext& ctx, const HttpRequest& req, HttpResponse& res);

}  // namespace gptoss::server
