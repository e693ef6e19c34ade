#pragma once
// One client connection, event-driven: it waits for a request (costing only
// its socket, however slow or idle the client), reads it within deadlines,
// has it answered (inline, or on a handler thread), writes the answer and
// waits for the next one. Nothing of it blocks a thread except a handler
// that streams to a client who is behind (backpressure, see send()).
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/optional.hpp>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>

#include "server/transport/connection_registry.h"
#include "server/transport/handler_pool.h"
#include "server/transport/http_application.h"

namespace gptoss::server {

// What every connection of one transport shares.
struct TransportShared {
  TransportOptions options;
  HttpApplication& app;
  HandlerPool& pool;
  ConnectionRegistry& registry;
};

class HttpConnection : public std::enable_shared_from_this<HttpConnection> {
 public:
  HttpConnection(boost::asio::ip::tcp::socket socket, TransportShared& shared);
  ~HttpConnection();

  void start();                               // serve requests until the client leaves
  void refuse(const std::string& limit);      // answer 503 at once and close
  void close();                               // from any thread: end it now
  bool writing();                             // has an answer not yet all sent

 private:
  enum class After { Nothing, NextRequest, Close };

  void wait_for_request();
  void read_header();
  void on_header(boost::beast::error_code ec);
  void read_body();
  void on_body(boost::beast::error_code ec);
  void dispatch(HttpRequest req);
  void respond(const HttpRequest& req, HttpResponse& res);  // on whichever thread has the response
  void answer_and_close(HttpResponse& res);
  std::string head(const HttpResponse& res, bool chunked) const;

  // The outgoing bytes: appended by any thread, written on the strand.
  bool send(std::string bytes);
  bool send_and_wait(std::string bytes);  // blocks while the client is behind
  void finish(After after);
  void write_more();
  void lingering_close();
  void close_now();

  boost::beast::tcp_stream stream_;
  boost::asio::steady_timer idle_timer_;
  boost::beast::flat_buffer buffer_;
  boost::optional<boost::beast::http::request_parser<boost::beast::http::string_body>> parser_;
  TransportShared& shared_;
  bool keep_alive_ = false;
  bool http10_ = false;

  std::mutex out_mu_;
  std::condition_variable out_cv_;
  std::string out_pending_, out_writing_;
  bool writing_ = false, broken_ = false;
  After after_ = After::Nothing;
};

}  // namespace gptoss::server
