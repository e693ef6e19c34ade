#pragma once
// The HTTP front: routes, API-key check, CORS, error objects, and a stop()
// that lets in-flight requests finish (up to drain_seconds) before closing.
#include <memory>

#include "server/server_context.h"

namespace httplib {
class Server;
}

namespace gptoss::server {

class HttpServer {
 public:
  explicit HttpServer(ServerContext& ctx);
  ~HttpServer();
  // Binds (throws Error saying why not) and serves until stop(); blocks.
  void listen();
  // Binds only; returns the port (useful with port 0). Then call serve().
  int bind();
  void serve();
  void stop();  // from any thread or a signal-watching thread

 private:
  ServerContext& ctx_;
  std::unique_ptr<httplib::Server> http_;
};

// Constant-time comparison (for API keys).
bool same_secret(const std::string& a, const std::string& b);

}  // namespace gptoss::server
