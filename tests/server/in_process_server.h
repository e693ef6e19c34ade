#pragma once
// The real HttpServer over a given engine, on a free port of 127.0.0.1,
// serving from a thread of its own until destroyed (then it drains and
// stops as on SIGTERM).
#include <memory>
#include <thread>

#include "runtime/engine.h"
#include "server/http_server.h"

namespace gptoss::test {

struct InProcessServer {
  std::unique_ptr<server::ServerContext> ctx;
  std::unique_ptr<server::HttpServer> http;
  std::thread thread;
  int port = 0;

  InProcessServer(Engine& engine, std::shared_ptr<const Tokenizer> tok, server::ServerOptions o) {
    o.port = 0;
    ctx = std::make_unique<server::ServerContext>(engine, std::move(tok), o);
    http = std::make_unique<server::HttpServer>(*ctx);
    port = http->bind();
    thread = std::thread([this] { http->serve(); });
  }
  ~InProcessServer() {
    http->stop();
    thread.join();
  }
};

}  // namespace gptoss::test
