#include "server/http_server.h"

#include <sstream>

#include "core/error.h"
#include "core/log.h"
#include "server/api_error.h"
#include "server/endpoints.h"
#include "server/http_util.h"
#include "server/transport/http_transport.h"
#include "server/web_assets.h"

namespace gptoss::server {

bool same_secret(const std::string& a, const std::string& b) {
  unsigned char diff = a.size() == b.size() ? 0 : 1;
  const size_t n = std::max(a.size(), b.size());
  for (size_t i = 0; i < n; ++i)
    diff |= (unsigned char)((i < a.size() ? a[i] : 0) ^ (i < b.size() ? b[i] : 0));
  return diff == 0;
}

using Handler = void (*)(ServerContext&, const HttpRequest&, HttpResponse&);

// A route's handler runs on a handler thread when it may block (it waits
// for the engine); the others answer on the socket thread at once.
// A path ending in '/' takes one more segment or more (a model id may hold '/').
struct Route {
  const char* method;
  const char* path;
  Handler fn;
  bool blocking;
  bool matches(const std::string& p) const {
    const std::string_view r(path);
    if (r.back() != '/') return p == r;
    return p.size() > r.size() && p.compare(0, r.size(), r) == 0;
  }
};

namespace {

void health(ServerContext&, const HttpRequest&, HttpResponse& res) { res.set_content("{\"status\":\"ok\"}", "application/json"); }

const Route kRoutes[] = {
    {"POST", "/v1/chat/completions", handle_chat_completions, true},
    {"POST", "/v1/completions", handle_completions, true},
    {"POST", "/v1/responses", handle_responses, true},
    {"GET", "/v1/models", handle_models, false},
    {"GET", "/v1/models/", handle_model, false},
    {"POST", "/tokenize", handle_tokenize, true},  // a long text takes a while: not on the socket thread
    {"POST", "/detokenize", handle_detokenize, true},
    {"GET", "/metrics", handle_metrics, false},
    {"GET", "/v1/status", handle_status, false},
    {"GET", "/health", health, false},
};
const Route kWebAsset{"GET", "", handle_web_asset, false};

// The route for a request; nullptr with `path_known` telling 404 from 405.
// HEAD is answered as GET (the transport leaves the body out).
const Route* find_route(const HttpRequest& req, bool& path_known) {
  path_known = false;
  const std::string& method = req.method == "HEAD" ? std::string("GET") : req.method;
  for (const Route& r : kRoutes)
    if (r.matches(req.path)) {
      path_known = true;
      if (method == r.method) return &r;
    }
  if (req.path == "/" || find_web_asset(req.path)) {
    path_known = true;
    if (method == "GET") return &kWebAsset;
  }
  return nullptr;
}

// The path label of the request counters: a route's pattern, never the
// client's own text (every scanned URL would be a new series kept forever,
// and a quote or newline in it would break the exposition format).
std::string metrics_path(const std::string& path) {
  for (const Route& r : kRoutes)
    if (r.matches(path)) return std::string(r.path).back() == '/' ? std::string(r.path) + "{id}" : std::string(r.path);
  if (path == "/" || find_web_asset(path)) return "(web ui)";
  return "(no route)";
}

void send_error(HttpResponse& res, const ApiError& e) {
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

TransportOptions transport_options(const ServerOptions& o) {
  TransportOptions t;
  t.max_connections = size_t(o.max_connections);
  t.handler_threads = size_t(o.http_threads);
  t.max_waiting_requests = size_t(o.max_waiting_requests);
  t.header_timeout_s = o.header_timeout_seconds;
  t.keep_alive_timeout_s = o.keep_alive_timeout_seconds;
  t.write_timeout_s = o.write_timeout_seconds;
  t.max_request_bytes = o.max_request_bytes;
  return t;
}

}  // namespace

HttpServer::HttpServer(ServerContext& ctx)
    : ctx_(ctx), transport_(std::make_unique<HttpTransport>(transport_options(ctx.options), *this)) {
  ctx_.open_connections = [t = transport_.get()] { return t->open_connections(); };
  ctx_.busy_handlers = [t = transport_.get()] { return t->handlers().busy(); };
  ctx_.waiting_requests = [t = transport_.get()] { return t->handlers().waiting(); };
}

HttpServer::~HttpServer() {
  transport_->stop();
  ctx_.open_connections = [] { return size_t(0); };
  ctx_.busy_handlers = [] { return size_t(0); };
  ctx_.waiting_requests = [] { return size_t(0); };
}

bool HttpServer::answered_by_checks(const HttpRequest& req, HttpResponse& res) {
  const std::string origin = allowed_origin(ctx_.options.cors_origins, req.get_header_value("Origin"));
  if (!origin.empty()) {
    res.set_header("Access-Control-Allow-Origin", origin);
    res.set_header("Access-Control-Allow-Headers", "Authorization, Content-Type, OpenAI-Organization, OpenAI-Project, X-Stainless-*");
    res.set_header("Access-Control-Allow-Methods", "GET, POST, OPTIONS");
    if (origin != "*") res.set_header("Vary", "Origin");
  }
  if (req.method == "OPTIONS") {
    res.status = origin.empty() ? 403 : 204;
    return true;
  }
  if (ctx_.draining && req.method == "POST") {
    ApiError e(503, "the server is shutting down: retry on another instance", "", "unavailable", "server_error");
    e.retry_after_s = 1;
    send_error(res, e);
    ctx_.count_http(metrics_path(req.path), 503);
    return true;
  }
  // The UI's files are public (the page asks for the key); the API is not.
  const bool is_public = req.path == "/health" ||
                         ((req.method == "GET" || req.method == "HEAD") && (req.path == "/" || find_web_asset(req.path)));
  if (!ctx_.options.api_key.empty() && !is_public) {
    const std::string auth = req.get_header_value("Authorization");
    const std::string prefix = "Bearer ";
    const bool ok = auth.rfind(prefix, 0) == 0 && same_secret(auth.substr(prefix.size()), ctx_.options.api_key);
    if (!ok) {
      send_error(res, ApiError(401, "Invalid or missing API key: send 'Authorization: Bearer <key>'", "", "invalid_api_key"));
      ctx_.count_http(metrics_path(req.path), 401);
      return true;
    }
  }
  return false;
}

bool HttpServer::answer_at_once(const HttpRequest& req, HttpResponse& res) {
  if (answered_by_checks(req, res)) return true;
  bool path_known = false;
  const Route* r = find_route(req, path_known);
  if (!r) {
    if (path_known)
      send_error(res, ApiError(405, req.method + " is not allowed on " + req.path, "", "method_not_allowed"));
    else
      send_error(res, ApiError(404, "no route for " + req.method + " " + req.path +
                                        " (try /v1/chat/completions, /v1/completions, /v1/responses, /v1/models)",
                               "", "not_found"));
    ctx_.count_http(metrics_path(req.path), res.status);
    return true;
  }
  if (r->blocking) return false;
  run_route(*r, req, res);
  return true;
}

void HttpServer::handle(const HttpRequest& req, HttpResponse& res) {
  bool path_known = false;
  const Route* r = find_route(req, path_known);
  if (!r) throw std::logic_error("handle() without a route for " + req.path);
  run_route(*r, req, res);
}

void HttpServer::run_route(const Route& r, const HttpRequest& req, HttpResponse& res) {
  try {
    r.fn(ctx_, req, res);
  } catch (const ApiError& e) {
    send_error(res, e);
  } catch (const Error& e) {
    send_error(res, bad_request(e.what()));
  } catch (const std::exception& e) {
    log_error(std::string("internal error on ") + req.path + ": " + e.what());
    send_error(res, ApiError(500, std::string("internal error: ") + e.what(), "", "internal_error", "server_error"));
  }
  ctx_.count_http(metrics_path(req.path), res.status);
}

void HttpServer::refuse_overloaded(const std::string& limit, HttpResponse& res) {
  const std::string what = limit == "connection"
                               ? std::to_string(ctx_.options.max_connections) + " connections open (--max-connections)"
                               : std::to_string(ctx_.options.http_threads) + " requests running and " +
                                     std::to_string(ctx_.options.max_waiting_requests) +
                                     " waiting (--http-threads, --max-waiting-requests)";
  ApiError e(503, "the server has " + what + ": retry shortly", "", "overloaded", "server_error");
  e.retry_after_s = 1;
  send_error(res, e);
  res.set_header("Connection", "close");
  ctx_.count_http(limit == "connection" ? "(connection)" : "(request)", 503);
}

void HttpServer::refuse_request(int status, HttpResponse& res) {
  if (status == 413)
    send_error(res, ApiError(413, "the request body is larger than the server's limit of " +
                                      std::to_string(ctx_.options.max_request_bytes) + " bytes (--max-request-bytes)",
                             "", "payload_too_large"));
  else if (status == 431)
    send_error(res, ApiError(431, "the request's headers are too large", "", "headers_too_large"));
  else
    send_error(res, ApiError(status, "malformed HTTP request", "", "bad_request"));
  res.set_header("Connection", "close");
  ctx_.count_http("(malformed)", status);
}

int HttpServer::bind() { return bind(ListenSocket(ctx_.options.host, ctx_.options.port, ctx_.options.socket_send_buffer_bytes)); }

int HttpServer::bind(ListenSocket socket) {
  const int port = socket.port();
  transport_->adopt(std::move(socket));
  return port;
}

void HttpServer::serve() { transport_->serve(); }

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
  transport_->stop();
}

}  // namespace gptoss::server
