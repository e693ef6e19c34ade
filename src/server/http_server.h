#pragma once
// The HTTP front: routes, API-key check, CORS, error objects, and a stop()
// that lets in-flight requests finish (up to drain_seconds) before closing.
// The sockets are the transport's (server/transport/); this is the
// application it serves.
#include <memory>
#include <string>

#include "server/server_context.h"
#include "server/transport/http_application.h"
#include "server/transport/listen_socket.h"

namespace gptoss::server {

class HttpTransport;
struct Route;

class HttpServer : public HttpApplication {
 public:
  explicit HttpServer(ServerContext& ctx);
  ~HttpServer() override;
  // Binds (throws Error saying why not) and serves until stop(); blocks.
  void listen();
  // Binds only; returns the port (useful with port 0). Then call serve().
  int bind();
  // Serves on a socket opened earlier (gptoss serve opens it before loading
  // the model, so a port in use is reported at once).
  int bind(ListenSocket socket);
  void serve();
  void stop();  // from any thread or a signal-watching thread

  bool answer_at_once(const HttpRequest& req, HttpResponse& res) override;
  void handle(const HttpRequest& req, HttpResponse& res) override;
  void refuse_overloaded(const std::string& limit, HttpResponse& res) override;
  void refuse_request(int status, HttpResponse& res) override;
  bool closing() const override { return ctx_.draining; }

 private:
  // The checks every request passes first (CORS, API key, draining); true
  // when they answered it.
  bool answered_by_checks(const HttpRequest& req, HttpResponse& res);
  void run_route(const Route& r, const HttpRequest& req, HttpResponse& res);

  ServerContext& ctx_;
  std::unique_ptr<HttpTransport> transport_;
};

// Constant-time comparison (for API keys).
bool same_secret(const std::string& a, const std::string& b);

}  // namespace gptoss::server
