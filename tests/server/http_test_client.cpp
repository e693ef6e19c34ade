#include "http_test_client.h"

#include <utility>  // before Asio 1.74, whose awaitable.hpp uses std::exchange without it

#include <boost/asio.hpp>
#include <functional>
#include <memory>
#include <utility>
#include <stdexcept>

namespace gptoss::test {

namespace net = boost::asio;
using tcp = net::ip::tcp;

namespace {

class Connection : public std::enable_shared_from_this<Connection> {
 public:
  Connection(net::io_context& io, HttpExchange& x, std::function<void()> on_closed)
      : socket_(io), timer_(io), x_(x), on_closed_(std::move(on_closed)) {}
  void start(const tcp::endpoint& to) {
    socket_.async_connect(to, [self = shared_from_this()](boost::system::error_code ec) {
      if (ec) return self->fail(ec);
      self->read();
      if (self->x_.drip.count() > 0) self->drip();
      else net::async_write(self->socket_, net::buffer(self->x_.request), [self](boost::system::error_code ec, size_t) {
        if (ec) self->fail(ec);
      });
    });
  }
  void close() {
    boost::system::error_code ec;
    timer_.cancel();
    socket_.close(ec);
    if (auto f = std::exchange(on_closed_, nullptr)) f();
  }

 private:
  void drip() {
    if (sent_ >= x_.request.size()) return;
    net::async_write(socket_, net::buffer(x_.request.data() + sent_, 1), [self = shared_from_this()](boost::system::error_code ec, size_t) {
      if (ec) return;  // the server closed it; read() records how
      self->sent_++;
      self->timer_.expires_after(self->x_.drip);
      self->timer_.async_wait([self](boost::system::error_code ec) {
        if (!ec) self->drip();
      });
    });
  }
  void read() {
    socket_.async_read_some(net::buffer(buf_), [self = shared_from_this()](boost::system::error_code ec, size_t n) {
      self->x_.response.append(self->buf_.data(), n);
      if (ec == net::error::eof) {
        self->x_.closed_by_server = true;
        return self->close();
      }
      if (ec) return self->fail(ec);
      self->read();
    });
  }
  void fail(boost::system::error_code ec) {
    // A write still going when the server's answer ended (its EOF closed
    // the socket here) is no error of the exchange.
    if (ec != net::error::operation_aborted && !x_.closed_by_server && x_.error.empty()) x_.error = ec.message();
    close();
  }

  tcp::socket socket_;
  net::steady_timer timer_;
  HttpExchange& x_;
  std::function<void()> on_closed_;
  size_t sent_ = 0;
  std::array<char, 16384> buf_{};
};

}  // namespace

void run_exchanges(int port, std::vector<HttpExchange>& xs, std::chrono::milliseconds limit) {
  net::io_context io;
  const tcp::endpoint to(net::ip::address_v4::loopback(), uint16_t(port));
  net::steady_timer deadline(io, limit);
  size_t open = xs.size();
  std::vector<std::shared_ptr<Connection>> all;
  for (auto& x : xs) {
    all.push_back(std::make_shared<Connection>(io, x, [&] {
      if (--open == 0) deadline.cancel();
    }));
    all.back()->start(to);
  }
  deadline.async_wait([&](boost::system::error_code ec) {
    if (ec) return;
    for (auto& c : all) c->close();
  });
  io.run();
}

size_t whole_response_length(const std::string& raw) {
  const size_t head_end = raw.find("\r\n\r\n");
  if (head_end == std::string::npos) return 0;
  const size_t body = head_end + 4;
  std::string head = raw.substr(0, head_end);
  for (auto& c : head) c = char(std::tolower(static_cast<unsigned char>(c)));
  if (head.find("\r\ntransfer-encoding: chunked") != std::string::npos) {
    size_t at = body;
    for (;;) {
      const size_t eol = raw.find("\r\n", at);
      if (eol == std::string::npos) return 0;
      const size_t n = std::stoul(raw.substr(at, eol - at), nullptr, 16);
      at = eol + 2 + n + 2;
      if (at > raw.size()) return 0;
      if (n == 0) return at;
    }
  }
  const size_t cl = head.find("\r\ncontent-length: ");
  if (cl == std::string::npos) return raw.size();  // the body runs to the close
  const size_t n = std::stoul(head.substr(cl + 18));
  return raw.size() >= body + n ? body + n : 0;
}

HttpReply parse_response(const std::string& raw) {
  const size_t len = whole_response_length(raw);
  if (len == 0) throw std::runtime_error("not a whole response: " + raw.substr(0, 300));
  HttpReply r;
  if (raw.rfind("HTTP/1.", 0) != 0) throw std::runtime_error("no status line: " + raw.substr(0, 100));
  r.status = std::stoi(raw.substr(9, 3));
  const size_t head_end = raw.find("\r\n\r\n");
  for (size_t at = raw.find("\r\n") + 2; at < head_end;) {
    const size_t eol = raw.find("\r\n", at);
    const std::string line = raw.substr(at, eol - at);
    const size_t colon = line.find(':');
    std::string name = line.substr(0, colon);
    for (auto& c : name) c = char(std::tolower(static_cast<unsigned char>(c)));
    r.headers[name] = line.substr(line.find_first_not_of(' ', colon + 1));
    at = eol + 2;
  }
  const std::string body = raw.substr(head_end + 4, len - head_end - 4);
  if (r.headers["transfer-encoding"] == "chunked") {
    for (size_t at = 0;;) {
      const size_t eol = body.find("\r\n", at);
      const size_t n = std::stoul(body.substr(at, eol - at), nullptr, 16);
      if (n == 0) break;
      r.body += body.substr(eol + 2, n);
      at = eol + 2 + n + 2;
    }
  } else {
    r.body = body;
  }
  return r;
}

}  // namespace gptoss::test
