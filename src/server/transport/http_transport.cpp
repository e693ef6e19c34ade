#include "server/transport/http_transport.h"

#include <sys/resource.h>

#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>

#include "core/log.h"
#include "server/transport/http_connection.h"

namespace gptoss::server {

namespace net = boost::asio;
using tcp = net::ip::tcp;

namespace {
// Every connection is a descriptor: let the process have as many as the
// system allows it (the soft limit is often 1024, fewer than the
// connections a server is asked to hold).
void raise_descriptor_limit(size_t wanted) {
  rlimit r{};
  if (getrlimit(RLIMIT_NOFILE, &r) != 0) return;
  if (r.rlim_cur < r.rlim_max) {
    r.rlim_cur = r.rlim_max;
    setrlimit(RLIMIT_NOFILE, &r);
  }
  if (r.rlim_cur != RLIM_INFINITY && r.rlim_cur < wanted + 64)
    log_warn("only " + std::to_string(r.rlim_cur) + " file descriptors allowed (ulimit -n) for --max-connections " +
             std::to_string(wanted) + ": raise the limit or lower --max-connections");
}
}  // namespace

HttpTransport::HttpTransport(TransportOptions options, HttpApplication& app)
    : options_(options),
      pool_(options.handler_threads, options.max_waiting_requests),
      shared_(std::make_unique<TransportShared>(TransportShared{options, app, pool_, registry_})),
      acceptor_(net::make_strand(ioc_)) {
  raise_descriptor_limit(options.max_connections);
}

HttpTransport::~HttpTransport() { stop(); }

void HttpTransport::adopt(ListenSocket socket) {
  const bool v6 = socket.is_ipv6();
  acceptor_.assign(v6 ? tcp::v6() : tcp::v4(), socket.release());
}

void HttpTransport::accept() {
  acceptor_.async_accept(net::make_strand(ioc_), [this](boost::system::error_code ec, tcp::socket socket) {
    if (ec == net::error::operation_aborted || !acceptor_.is_open()) return;
    if (ec) {
      // Out of descriptors (EMFILE) or memory: the connection waits in the
      // backlog; try again shortly rather than spin.
      log_warn("accepting a connection failed: " + ec.message() + " (ulimit -n, --max-connections)");
      auto timer = std::make_shared<net::steady_timer>(acceptor_.get_executor(), std::chrono::milliseconds(100));
      timer->async_wait([this, timer](boost::system::error_code) { accept(); });
      return;
    }
    auto c = std::make_shared<HttpConnection>(std::move(socket), *shared_);
    if (registry_.size() >= options_.max_connections) c->refuse("connection");
    else c->start();
    accept();
  });
}

void HttpTransport::serve() {
  accept();
  std::vector<std::thread> others;
  for (int i = 1; i < options_.io_threads; ++i) others.emplace_back([this] { ioc_.run(); });
  ioc_.run();
  for (auto& t : others) t.join();
}

void HttpTransport::stop() {
  if (stopped_.exchange(true)) return;
  net::post(acceptor_.get_executor(), [this] {
    boost::system::error_code ec;
    acceptor_.close(ec);
  });
  // Answers being written (the last ones of a drain) go out whole first;
  // a client that takes nothing is not waited for past the write timeout.
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(options_.write_timeout_s);
  auto writing = [this] {
    bool any = pool_.busy() > 0;
    registry_.for_each([&](HttpConnection& c) { any = any || c.writing(); });
    return any;
  };
  while (writing() && std::chrono::steady_clock::now() < give_up)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  registry_.for_each([](HttpConnection& c) { c.close(); });
  pool_.shutdown();  // handlers see their connections closed and return
  ioc_.stop();
}

}  // namespace gptoss::server
