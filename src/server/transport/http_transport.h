#pragma once
// The HTTP/1.1 transport on Boost.Asio/Beast: a few threads run every
// socket (accepting, reading requests under deadlines, writing answers),
// and blocking handlers run on a HandlerPool. Connections past
// max_connections, and requests past the pool's queue, are answered 503
// with Retry-After at once; nothing is reset or left without an answer.
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <memory>
#include <thread>
#include <vector>

#include "server/transport/connection_registry.h"
#include "server/transport/handler_pool.h"
#include "server/transport/http_application.h"
#include "server/transport/listen_socket.h"

namespace gptoss::server {

struct TransportShared;

class HttpTransport {
 public:
  HttpTransport(TransportOptions options, HttpApplication& app);
  ~HttpTransport();

  void adopt(ListenSocket socket);  // takes the listening socket over
  void serve();                     // runs until stop(); blocks
  void stop();                      // from any thread: closes everything, joins the handlers

  size_t open_connections() const { return registry_.size(); }
  const HandlerPool& handlers() const { return pool_; }

 private:
  void accept();

  TransportOptions options_;
  ConnectionRegistry registry_;
  HandlerPool pool_;
  std::unique_ptr<TransportShared> shared_;
  boost::asio::io_context ioc_;
  boost::asio::ip::tcp::acceptor acceptor_;
  std::atomic<bool> stopped_{false};
};

}  // namespace gptoss::server
