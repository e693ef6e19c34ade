#pragma once
// What an endpoint sees of HTTP: a parsed request and the response it fills
// in, either whole (set_content) or as a stream of chunks written to a
// DataSink (set_chunked_content_provider). Plain data: the transport
// (server/transport/) parses into these and writes them out, so the
// endpoints know nothing about sockets.
#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace gptoss::server {

using HttpHeaders = std::vector<std::pair<std::string, std::string>>;

// Case-insensitive (as HTTP header names are); "" when absent.
std::string header_value(const HttpHeaders& headers, std::string_view name);

struct HttpRequest {
  std::string method;  // "GET", "POST", ...
  std::string target;  // as sent: path and query
  std::string path;    // the target's path, percent-decoded
  HttpHeaders headers;
  std::string body;
  std::string get_header_value(std::string_view name) const { return header_value(headers, name); }
};

// Where a streaming response writes. write() blocks while the client is
// behind (backpressure) and returns false once it is gone; done() ends the
// response. Both are called from the one thread running the provider.
struct DataSink {
  std::function<bool(const char* data, size_t n)> write;
  std::function<void()> done;
};

// Called once with the sink; returns false when it gave up (client gone).
using ChunkedContentProvider = std::function<bool(size_t offset, DataSink& sink)>;
// Called once when the response is over (true: the provider finished), also
// when the provider never ran: where a stream frees what it holds.
using ContentReleaser = std::function<void(bool success)>;

class HttpResponse {
 public:
  int status = 200;
  HttpHeaders headers;
  std::string body;

  HttpResponse() = default;
  HttpResponse(const HttpResponse&) = delete;
  HttpResponse& operator=(const HttpResponse&) = delete;
  ~HttpResponse() { release(false); }

  void set_header(std::string name, std::string value);
  std::string get_header_value(std::string_view name) const { return header_value(headers, name); }
  void set_content(std::string body, const std::string& content_type);
  void set_content(const char* data, size_t n, const std::string& content_type) {
    set_content(std::string(data, n), content_type);
  }
  void set_chunked_content_provider(const std::string& content_type, ChunkedContentProvider provider,
                                    ContentReleaser releaser = nullptr);

  bool streaming() const { return bool(provider_); }
  // Transport side: runs the provider once, then the releaser.
  bool provide(DataSink& sink);
  void release(bool success) {
    if (auto r = std::exchange(releaser_, nullptr)) r(success);
  }

 private:
  ChunkedContentProvider provider_;
  ContentReleaser releaser_;
};

}  // namespace gptoss::server
