#pragma once
// The OpenAI endpoints. Each handler throws ApiError for a bad request; the
// server turns it into the error object and status.
#include <httplib.h>

#include "server/server_context.h"

namespace gptoss::server {

void handle_chat_completions(ServerContext& ctx, const httplib::Request& req, httplib::Response& res);
void handle_completions(ServerContext& ctx, const httplib::Request& req, httplib::Response& res);
void handle_responses(ServerContext& ctx, const httplib::Request& req, httplib::Response& res);
void handle_models(ServerContext& ctx, const httplib::Request& req, httplib::Response& res);
void handle_metrics(ServerContext& ctx, const httplib::Request& req, httplib::Response& res);
void handle_status(ServerContext& ctx, const httplib::Request& req, httplib::Response& res);
// The embedded web UI (no API key needed: the page asks for it).
void handle_web_asset(ServerContext& ctx, const httplib::Request& req, httplib::Response& res);

}  // namespace gptoss::server
