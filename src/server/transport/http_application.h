#pragma once
// What the transport asks of the server above it (routes, checks, errors),
// and the transport's limits.
#include <cstdint>
#include <string>

#include "server/http_message.h"

namespace gptoss::server {

struct TransportOptions {
  size_t max_connections = 8192;    // open sockets; past it a new one gets 503 and is closed
  size_t handler_threads = 1024;    // requests handled at once (a stream holds one thread)
  size_t max_waiting_requests = 4096;  // waiting for a handler thread; past it 503
  int header_timeout_s = 10;        // from a request's first byte to its last header
  int body_timeout_s = 30;          // the body's bytes must keep coming: none for this long ends it
  int keep_alive_timeout_s = 65;    // an idle connection is closed after this
  int write_timeout_s = 30;         // a client that takes no bytes for this long is gone
  uint64_t max_request_bytes = 8u << 20;  // larger bodies: 413
  int io_threads = 2;               // threads running the sockets (none of them blocks)
};

class HttpApplication {
 public:
  virtual ~HttpApplication() = default;
  // On a socket thread, so it must not block: answers what needs no handler
  // thread (errors, health, files, metrics) and returns true; false sends
  // the request to handle() on a handler thread.
  virtual bool answer_at_once(const HttpRequest& req, HttpResponse& res) = 0;
  // On a handler thread; may block (generation).
  virtual void handle(const HttpRequest& req, HttpResponse& res) = 0;
  // The answer when a limit is reached (`limit` says which): 503 + Retry-After.
  virtual void refuse_overloaded(const std::string& limit, HttpResponse& res) = 0;
  // A request the transport could not take: 400, 408, 413, 431.
  virtual void refuse_request(int status, HttpResponse& res) = 0;
  // Shutting down: every response says Connection: close.
  virtual bool closing() const = 0;
};

}  // namespace gptoss::server
