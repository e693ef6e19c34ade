#pragma once
// The listening TCP socket, opened before anything slow (model loading) so
// that a port already in use is reported at once. A deep accept queue
// (kListenBacklog) takes bursts of connections while the accepting thread is
// busy; without SO_REUSEPORT, a second server on a port in use fails to
// bind instead of silently sharing the port's connections.
#include <string>

namespace gptoss::server {

// Linux caps it at net.core.somaxconn (4096 since 5.4).
constexpr int kListenBacklog = 4096;

class ListenSocket {
 public:
  ListenSocket() = default;
  // Binds and listens; throws Error naming the address and what to do.
  // send_buffer_bytes > 0: SO_SNDBUF, inherited by accepted connections.
  ListenSocket(const std::string& host, int port, int send_buffer_bytes);
  ~ListenSocket();
  ListenSocket(ListenSocket&& o) noexcept : fd_(o.release()), port_(o.port_), ipv6_(o.ipv6_) {}
  ListenSocket& operator=(ListenSocket&& o) noexcept;

  bool is_open() const { return fd_ >= 0; }
  int port() const { return port_; }  // the bound one (port 0 picks a free one)
  bool is_ipv6() const { return ipv6_; }
  int release();  // hands the descriptor over

 private:
  int fd_ = -1;
  int port_ = 0;
  bool ipv6_ = false;
};

}  // namespace gptoss::server
