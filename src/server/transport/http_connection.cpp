#include "server/transport/http_connection.h"

#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/status.hpp>
#include <cstdio>

#include "core/log.h"

namespace gptoss::server {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using namespace std::chrono_literals;

namespace {
// A streaming handler may run this far ahead of its client before write()
// blocks; past it the tokens stay unread in the engine, which pauses the
// sequence (--max-unread-tokens). The socket's send buffer comes on top.
constexpr size_t kStreamHighWater = 16 << 10;
constexpr size_t kMaxHeaderBytes = 64 << 10;

std::string percent_decoded(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  auto hex = [](char c) { return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1; };
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() && hex(s[i + 1]) >= 0 && hex(s[i + 2]) >= 0) {
      out += char(hex(s[i + 1]) * 16 + hex(s[i + 2]));
      i += 2;
    } else {
      out += s[i];
    }
  }
  return out;
}
}  // namespace

HttpConnection::HttpConnection(net::ip::tcp::socket socket, TransportShared& shared)
    : stream_(std::move(socket)), idle_timer_(stream_.get_executor()), shared_(shared) {
  beast::error_code ec;
  stream_.socket().set_option(net::ip::tcp::no_delay(true), ec);  // tokens go out as they come
}

HttpConnection::~HttpConnection() { shared_.registry.remove(this); }

void HttpConnection::start() {
  shared_.registry.add(shared_from_this());
  net::post(stream_.get_executor(), [self = shared_from_this()] { self->wait_for_request(); });
}

void HttpConnection::refuse(const std::string& limit) {
  shared_.registry.add(shared_from_this());
  keep_alive_ = false;
  HttpResponse res;
  shared_.app.refuse_overloaded(limit, res);
  answer_and_close(res);
}

void HttpConnection::close() {
  {
    std::lock_guard lock(out_mu_);
    broken_ = true;
  }
  out_cv_.notify_all();
  net::post(stream_.get_executor(), [self = shared_from_this()] { self->close_now(); });
}

bool HttpConnection::writing() {
  std::lock_guard lock(out_mu_);
  return !broken_ && (writing_ || !out_pending_.empty());
}

void HttpConnection::close_now() {
  idle_timer_.cancel();
  beast::error_code ec;
  stream_.socket().shutdown(net::ip::tcp::socket::shutdown_both, ec);
  stream_.close();
}

// Idle between requests: no deadline runs but the keep-alive one, and the
// header deadline starts only with the next request's first byte, so an
// idle client costs a socket and a timer, nothing more.
void HttpConnection::wait_for_request() {
  if (buffer_.size() > 0) return read_header();  // the client sent its next request already
  idle_timer_.expires_after(std::chrono::seconds(shared_.options.keep_alive_timeout_s));
  idle_timer_.async_wait([self = shared_from_this()](beast::error_code ec) {
    if (!ec) self->close_now();  // idle too long (Keep-Alive: timeout told the client)
  });
  stream_.socket().async_wait(net::socket_base::wait_read, [self = shared_from_this()](beast::error_code ec) {
    self->idle_timer_.cancel();
    if (ec) return self->close_now();
    self->read_header();
  });
}

void HttpConnection::read_header() {
  parser_.emplace();
  parser_->header_limit(kMaxHeaderBytes);
  parser_->body_limit(shared_.options.max_request_bytes);
  stream_.expires_after(std::chrono::seconds(shared_.options.header_timeout_s));
  http::async_read_header(stream_, buffer_, *parser_,
                          [self = shared_from_this()](beast::error_code ec, size_t) { self->on_header(ec); });
}

void HttpConnection::on_header(beast::error_code ec) {
  if (ec == http::error::end_of_stream || ec == net::error::connection_reset || ec == net::error::operation_aborted)
    return close_now();  // the client left between requests (or the server is stopping)
  HttpResponse res;
  keep_alive_ = false;
  // Too slow to send its headers (slowloris): the deadline closed the socket.
  if (ec == beast::error::timeout) return close_now();
  if (ec == http::error::body_limit) {  // its Content-Length says too large: refused before reading it
    shared_.app.refuse_request(413, res);
    return answer_and_close(res);
  }
  if (ec == http::error::header_limit) {
    shared_.app.refuse_request(431, res);
    return answer_and_close(res);
  }
  if (ec) {
    shared_.app.refuse_request(400, res);
    return answer_and_close(res);
  }
  const auto& msg = parser_->get();
  if (beast::iequals(msg[http::field::expect], "100-continue") && !parser_->is_done()) {
    stream_.expires_after(std::chrono::seconds(shared_.options.write_timeout_s));
    static const std::string kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
    return net::async_write(stream_, net::buffer(kContinue), [self = shared_from_this()](beast::error_code ec, size_t) {
      if (ec) return self->close_now();
      self->read_body();
    });
  }
  read_body();
}

// A body may take long on a slow link, but it must keep coming: the
// deadline is for each read, not for the whole body.
void HttpConnection::read_body() {
  if (parser_->is_done()) return on_body({});
  stream_.expires_after(std::chrono::seconds(shared_.options.body_timeout_s));
  http::async_read_some(stream_, buffer_, *parser_, [self = shared_from_this()](beast::error_code ec, size_t) {
    if (ec) return self->on_body(ec);
    self->read_body();
  });
}

void HttpConnection::on_body(beast::error_code ec) {
  if (ec == net::error::operation_aborted) return close_now();
  HttpResponse res;
  if (ec == beast::error::timeout) return close_now();  // the deadline closed the socket
  if (ec) {
    keep_alive_ = false;
    shared_.app.refuse_request(ec == http::error::body_limit ? 413 : 400, res);
    return answer_and_close(res);
  }
  stream_.expires_never();
  auto msg = parser_->release();
  keep_alive_ = msg.keep_alive();
  http10_ = msg.version() < 11;
  HttpRequest req;
  req.method = std::string(msg.method_string());
  req.target = std::string(msg.target());
  req.path = percent_decoded(req.target.substr(0, req.target.find('?')));
  for (const auto& f : msg) req.headers.emplace_back(std::string(f.name_string()), std::string(f.value()));
  req.body = std::move(msg.body());
  dispatch(std::move(req));
}

void HttpConnection::dispatch(HttpRequest req) {
  auto res = std::make_shared<HttpResponse>();
  if (shared_.app.answer_at_once(req, *res)) return respond(req, *res);
  auto self = shared_from_this();
  auto shared_req = std::make_shared<HttpRequest>(std::move(req));
  const bool queued = shared_.pool.try_submit([self, shared_req, res] {
    try {
      self->shared_.app.handle(*shared_req, *res);
    } catch (const std::exception& e) {  // handle() turns errors into answers; this is a last resort
      log_error(std::string("handler failed: ") + e.what());
      self->close();
      return;
    }
    self->respond(*shared_req, *res);
  });
  if (!queued) {
    HttpResponse refusal;
    shared_.app.refuse_overloaded("handler", refusal);
    respond(*shared_req, refusal);
  }
}

std::string HttpConnection::head(const HttpResponse& res, bool chunked) const {
  std::string h = "HTTP/1.1 " + std::to_string(res.status) + " ";
  h += std::string(http::obsolete_reason(http::int_to_status(unsigned(res.status))));
  h += "\r\n";
  for (const auto& [k, v] : res.headers) {
    if (beast::iequals(k, "Connection") || beast::iequals(k, "Content-Length") || beast::iequals(k, "Transfer-Encoding"))
      continue;  // the transport's to say
    h += k + ": " + v + "\r\n";
  }
  if (chunked) h += "Transfer-Encoding: chunked\r\n";
  else if (!res.streaming() && res.status != 204 && res.status != 304)
    h += "Content-Length: " + std::to_string(res.body.size()) + "\r\n";
  if (keep_alive_) {
    // Clients that honour the hint (undici, Node's agent) drop an idle
    // connection before the server does, so no request races the close.
    h += "Connection: keep-alive\r\nKeep-Alive: timeout=" +
         std::to_string(std::max(1, shared_.options.keep_alive_timeout_s - 5)) + "\r\n";
  } else {
    h += "Connection: close\r\n";
  }
  return h + "\r\n";
}

void HttpConnection::respond(const HttpRequest& req, HttpResponse& res) {
  // A response that asks to close (a refusal), or a server shutting down,
  // says Connection: close, so the client does not send on a closing socket.
  if (beast::iequals(res.get_header_value("Connection"), "close") || shared_.app.closing()) keep_alive_ = false;
  if (req.method == "HEAD") {  // the GET answer's head alone
    res.release(false);
    send(head(res, false));
    return finish(keep_alive_ ? After::NextRequest : After::Close);
  }
  if (!res.streaming()) {
    send(head(res, false) + res.body);
    return finish(keep_alive_ ? After::NextRequest : After::Close);
  }
  // HTTP/1.0 knows no chunks: the stream's end is the connection's.
  if (http10_) keep_alive_ = false;
  const bool chunked = !http10_;
  send(head(res, chunked));
  bool done = false;
  DataSink sink;
  sink.write = [&](const char* data, size_t n) {
    if (n == 0) return true;
    if (!chunked) return send_and_wait(std::string(data, n));
    char size[24];
    std::snprintf(size, sizeof size, "%zx\r\n", n);
    std::string chunk = size;
    chunk.append(data, n);
    chunk += "\r\n";
    return send_and_wait(std::move(chunk));
  };
  sink.done = [&] {
    if (!done && chunked) send("0\r\n\r\n");
    done = true;
  };
  const bool ok = res.provide(sink);
  // A stream that ended without done() is incomplete: closing is how the
  // client learns it (no terminating chunk).
  if (!ok || !done) keep_alive_ = false;
  finish(keep_alive_ ? After::NextRequest : After::Close);
}

void HttpConnection::answer_and_close(HttpResponse& res) {
  keep_alive_ = false;
  send(head(res, false) + res.body);
  finish(After::Close);
}

bool HttpConnection::send(std::string bytes) {
  std::lock_guard lock(out_mu_);
  if (broken_) return false;
  out_pending_ += bytes;
  if (!writing_) {
    writing_ = true;
    net::post(stream_.get_executor(), [self = shared_from_this()] { self->write_more(); });
  }
  return true;
}

bool HttpConnection::send_and_wait(std::string bytes) {
  if (!send(std::move(bytes))) return false;
  std::unique_lock lock(out_mu_);
  // The socket's write deadline (write_timeout_s) ends a wait on a client
  // that takes nothing: the write fails and marks the connection broken.
  out_cv_.wait(lock, [&] { return broken_ || out_pending_.size() + out_writing_.size() <= kStreamHighWater; });
  return !broken_;
}

void HttpConnection::finish(After after) {
  std::lock_guard lock(out_mu_);
  after_ = after;
  if (!writing_) {
    writing_ = true;
    net::post(stream_.get_executor(), [self = shared_from_this()] { self->write_more(); });
  }
}

void HttpConnection::write_more() {
  After after = After::Nothing;
  {
    std::lock_guard lock(out_mu_);
    out_writing_.clear();
    if (out_pending_.empty()) {
      writing_ = false;
      after = std::exchange(after_, After::Nothing);
    } else {
      out_writing_.swap(out_pending_);
    }
  }
  out_cv_.notify_all();
  if (after == After::NextRequest) return wait_for_request();
  if (after == After::Close) return lingering_close();
  if (out_writing_.empty()) return;  // the rest comes with the next send() or finish()
  stream_.expires_after(std::chrono::seconds(shared_.options.write_timeout_s));
  net::async_write(stream_, net::buffer(out_writing_), [self = shared_from_this()](beast::error_code ec, size_t) {
    if (ec) {
      {
        std::lock_guard lock(self->out_mu_);
        self->broken_ = true;
        self->out_writing_.clear();
        self->out_pending_.clear();
        self->writing_ = false;
      }
      self->out_cv_.notify_all();
      return self->close_now();
    }
    self->write_more();
  });
}

// Closing a socket with unread bytes in it sends a reset, which can destroy
// the answer just written before the client reads it. So: stop sending,
// read what the client still sends (for a moment), then close.
void HttpConnection::lingering_close() {
  stream_.expires_never();
  beast::error_code ec;
  stream_.socket().shutdown(net::ip::tcp::socket::shutdown_send, ec);
  if (ec) return close_now();
  idle_timer_.expires_after(2s);
  idle_timer_.async_wait([self = shared_from_this()](beast::error_code ec) {
    if (!ec) self->close_now();
  });
  struct Drain {
    std::shared_ptr<HttpConnection> self;
    std::shared_ptr<std::array<char, 4096>> buf = std::make_shared<std::array<char, 4096>>();
    void operator()(beast::error_code ec = {}, size_t = 0) {
      if (ec) return self->close_now();  // EOF: the client closed too
      self->stream_.socket().async_read_some(net::buffer(*buf), std::move(*this));
    }
  };
  Drain{shared_from_this()}();
}

}  // namespace gptoss::server
