#pragma once
// Raw HTTP/1.1 over loopback for the transport tests: many connections at
// once from one thread (Boost.Asio), each sending its bytes (all at once, or
// one byte at a time like a slowloris client) and reading until the server
// closes; plus a parser for what came back.
#include <chrono>
#include <map>
#include <string>
#include <vector>

namespace gptoss::test {

struct HttpExchange {
  std::string request;                 // the bytes to send
  std::chrono::milliseconds drip{0};   // > 0: one byte per interval (never finishing, in a test's time)
  std::string response;                // all bytes received
  std::string error;                   // a connect or read error ("" if none)
  bool closed_by_server = false;       // the server closed the connection (EOF)
};

// Runs every exchange at once, each on its own connection to
// 127.0.0.1:port; returns when every connection is closed or after `limit`.
void run_exchanges(int port, std::vector<HttpExchange>& xs, std::chrono::milliseconds limit);

struct HttpReply {
  int status = 0;
  std::map<std::string, std::string> headers;  // names lower-cased
  std::string body;                            // de-chunked
};

// Length of the first whole response at the start of `raw` (0: not whole yet).
size_t whole_response_length(const std::string& raw);
// Parses the first response of `raw`; throws std::runtime_error when it is not whole.
HttpReply parse_response(const std::string& raw);

}  // namespace gptoss::test
