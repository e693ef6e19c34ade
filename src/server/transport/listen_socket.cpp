#include "server/transport/listen_socket.h"

#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "core/error.h"

namespace gptoss::server {

ListenSocket::ListenSocket(const std::string& host, int port, int send_buffer_bytes) {
  const std::string where = host + ":" + std::to_string(port);
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* found = nullptr;
  if (int rc = getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &found); rc != 0)
    throw Error("cannot listen on " + where + ": " + gai_strerror(rc) + " (give --host an address of this machine)");
  std::string failure;
  for (addrinfo* a = found; a && fd_ < 0; a = a->ai_next) {
    const int fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
    if (fd < 0) continue;
    // SO_REUSEADDR only lets a restart bind past connections in TIME_WAIT;
    // unlike SO_REUSEPORT it never lets two servers listen on one port.
    const int yes = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
    if (send_buffer_bytes > 0) setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &send_buffer_bytes, sizeof send_buffer_bytes);
    if (::bind(fd, a->ai_addr, a->ai_addrlen) != 0 || ::listen(fd, kListenBacklog) != 0) {
      const int err = errno;
      failure = err == EADDRINUSE ? "address already in use (another server is listening on port " +
                                        std::to_string(port) + "): stop it or pick another --port"
                                  : std::string(std::strerror(err)) + " (pick another --port or --host)";
      close(fd);
      continue;
    }
    fd_ = fd;
    ipv6_ = a->ai_family == AF_INET6;
  }
  freeaddrinfo(found);
  if (fd_ < 0) throw Error("cannot listen on " + where + ": " + (failure.empty() ? "no usable address" : failure));
  sockaddr_storage bound{};
  socklen_t len = sizeof bound;
  getsockname(fd_, reinterpret_cast<sockaddr*>(&bound), &len);
  port_ = ntohs(bound.ss_family == AF_INET6 ? reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port
                                            : reinterpret_cast<sockaddr_in*>(&bound)->sin_port);
}

ListenSocket::~ListenSocket() {
  if (fd_ >= 0) close(fd_);
}

ListenSocket& ListenSocket::operator=(ListenSocket&& o) noexcept {
  if (this != &o) {
    if (fd_ >= 0) close(fd_);
    fd_ = o.release();
    port_ = o.port_;
    ipv6_ = o.ipv6_;
  }
  return *this;
}

int ListenSocket::release() { return std::exchange(fd_, -1); }

}  // namespace gptoss::server
