#include "server/http_server.h"

#include <httplib.h>

#include <regex>
#include <sstream>

#include "core/error.h"
#include "core/log.h"
#include "server/api_error.h"
#include "server/connection_queue.h"
#include "server/endpoints.h"
#include "server/http_util.h"
#include "server/web_assets.h"

namespace gptoss::server {

bool same_secret(const std::string& a, const std::string& b) {
  unsigned char diff = a.size() == b.size() ? 0 : 1;
  const size_t n = std::max(a.size(), b.size());
  for (size_t i = 0; i < n; ++i)
    diff |= (unsigned char)((i < a.size() ? a[i] : 0) ^ (i < b.size() ? b[i] : 0));
  return diff == 0;
}

namespace {

void send_error(httplib::Response& res, const ApiError& e) {
  res.status = e.status;
  if (e.retry_after_s > 0) res.set_header("Retry-After", std::to_string(e.retry_after_s));
  res.set_content(dump_json(e.to_json()), "application/json");
}

std::string allowed_origin(const std::string& config, const std::string& origin) {
  if (config.empty() || origin.empty()) return {};
  if (config == "*") return "*";
  std::stringstream ss(config);
  for (std::string o; std::getline(ss, o, ',');)
    if (o == origin) return origin;
  return {};
}

}  // namespace

HttpServer::HttpServer(ServerContext& ctx) : ctx_(ctx), http_(std::make_unique<httplib::Server>()) {
  auto& s = *http_;
  const int threads = ctx.options.http_threads, waiting = ctx.options.max_waiting_connections;
  s.new_task_queue = [threads, waiting] { return new ConnectionQueue(size_t(threads), size_t(waiting)); };
  s.set_read_timeout(30, 0);
  s.set_write_timeout(ctx.options.write_timeout_seconds, 0);
  s.set_keep_alive_timeout(30);
  // Before bind(): connections inherit the listening socket's buffer sizes
  // (tcp(7)). With the send buffer bounded, a client that stops reading
  // soon blocks its handler's write, its tokens pile up unread and the
  // engine pauses its sequence (--max-unread-tokens): the server's memory
  // for it stays small whatever the answer's length.
  s.set_socket_options([sndbuf = ctx.options.socket_send_buffer_bytes](socket_t sock) {
    httplib::default_socket_options(sock);
    if (sndbuf > 0) setsockopt(sock, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);
  });
  // Bodies past the limit are refused with 413 before they are read whole.
  s.set_payload_max_length(size_t(ctx.options.max_request_bytes));

  s.set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
    const std::string origin = allowed_origin(ctx_.options.cors_origins, req.get_header_value("Origin"));
    if (!origin.empty()) {
      res.set_header("Access-Control-Allow-Origin", origin);
      res.set_header("Access-Control-Allow-Headers", "Authorization, Content-Type, OpenAI-Organization, OpenAI-Project, X-Stainless-*");
      res.set_header("Access-Control-Allow-Methods", "GET, POST, OPTIONS");
      if (origin != "*") res.set_header("Vary", "Origin");
    }
    if (req.method == "OPTIONS") {
      res.status = origin.empty() ? 403 : 204;
      return httplib::Server::HandlerResponse::Handled;
    }
    if (ConnectionQueue::overloaded()) {
      ApiError e(503, "the server has " + std::to_string(ctx_.options.http_threads) +
                          " connections open and more waiting: retry shortly (--http-threads, --max-waiting-connections)",
                 "", "overloaded", "server_error");
      e.retry_after_s = 1;
      send_error(res, e);
      res.set_header("Connection", "close");
      ctx_.count_http(req.path, 503);
      return httplib::Server::HandlerResponse::Handled;
    }
    if (ctx_.draining && req.method == "POST") {
      ApiError e(503, "the server is shutting down: retry on another instance", "", "unavailable", "server_error");
      e.retry_after_s = 1;
      send_error(res, e);
      ctx_.count_http(req.path, 503);
      return httplib::Server::HandlerResponse::Handled;
    }
    // The UI's files are public (the page asks for the key); the API is not.
    const bool is_public = req.path == "/health" || (req.method == "GET" && find_web_asset(req.path));
    if (!ctx_.options.api_key.empty() && !is_public) {
      const std::string auth = req.get_header_value("Authorization");
      const std::string prefix = "Bearer ";
      const bool ok = auth.rfind(prefix, 0) == 0 && same_secret(auth.substr(prefix.size()), ctx_.options.api_key);
      if (!ok) {
        send_error(res, ApiError(401, "Invalid or missing API key: send 'Authorization: Bearer <key>'", "", "invalid_api_key"));
        ctx_.count_http(req.path, 401);
        return httplib::Server::HandlerResponse::Handled;
      }
    }
    return httplib::Server::HandlerResponse::Unhandled;
  });

  auto route = [this](void (*fn)(ServerContext&, const httplib::Request&, httplib::Response&)) {
    return [this, fn](const httplib::Request& req, httplib::Response& res) {
      try {
        fn(ctx_, req, res);
      } catch (const ApiError& e) {
        send_error(res, e);
      } catch (const Error& e) {
        send_error(res, bad_request(e.what()));
      } catch (const std::exception& e) {
        log_error(std::string("internal error on ") + req.path + ": " + e.what());
        send_error(res, ApiError(500, std::string("internal error: ") + e.what(), "", "internal_error", "server_error"));
      }
      ctx_.count_http(req.path, res.status == -1 ? 200 : res.status);
    };
  };
  s.Post("/v1/chat/completions", route(handle_chat_completions));
  s.Post("/v1/completions", route(handle_completions));
  s.Post("/v1/responses", route(handle_responses));
  s.Get("/v1/models", route(handle_models));
  s.Get("/metrics", route(handle_metrics));
  s.Get("/v1/status", route(handle_status));
  // One exact route per embedded file (httplib patterns are regexes: escape).
  s.Get("/", route(handle_web_asset));
  for (const WebAsset& a : web_assets()) {
    std::string path = "/";
    path += a.name;
    s.Get(std::regex_replace(path, std::regex(R"([.^$|()\[\]{}*+?])"), R"(\$&)"), route(handle_web_asset));
  }
  s.Get("/health", [](const httplib::Request&, httplib::Response& res) {
    res.set_content("{\"status\":\"ok\"}", "application/json");
  });
  s.set_error_handler([this](const httplib::Request& req, httplib::Response& res) {
    if (!res.body.empty()) return;  // an endpoint already wrote its error
    if (res.status == 404)
      send_error(res, ApiError(404, "no route for " + req.method + " " + req.path +
                                        " (try /v1/chat/completions, /v1/completions, /v1/responses, /v1/models)",
                               "", "not_found"));
    else if (res.status == 405)
      send_error(res, ApiError(405, req.method + " is not allowed on " + req.path, "", "method_not_allowed"));
    else if (res.status == 413)
      send_error(res, ApiError(413, "the request body is larger than the server's limit of " +
                                        std::to_string(ctx_.options.max_request_bytes) + " bytes (--max-request-bytes)",
                               "", "payload_too_large"));
    else if (res.status >= 400)
      send_error(res, ApiError(res.status, "bad request", "", "bad_request"));
  });
}

HttpServer::~HttpServer() = default;

int HttpServer::bind() {
  const int port = ctx_.options.port;
  int bound;
  if (port == 0) bound = http_->bind_to_any_port(ctx_.options.host);
  else bound = http_->bind_to_port(ctx_.options.host, port) ? port : -1;
  if (bound < 0)
    throw Error("cannot listen on " + ctx_.options.host + ":" + std::to_string(port) +
                " (in use, or not an address of this machine): pick another --port or --host");
  return bound;
}

void HttpServer::serve() { http_->listen_after_bind(); }

void HttpServer::listen() {
  bind();
  serve();
}

void HttpServer::stop() {
  // Refuse new requests first, let the engine finish what it has, then close.
  ctx_.draining = true;
  log_info("shutting down: finishing in-flight requests (up to " + std::to_string(ctx_.options.drain_seconds) + " s)");
  if (!ctx_.engine.drain(std::chrono::seconds(ctx_.options.drain_seconds)))
    log_warn("requests still running after the drain period: cancelling them");
  ctx_.engine.stop();
  http_->stop();
}

}  // namespace gptoss::server
