#include "server/connection_queue.h"

namespace gptoss::server {

namespace {
thread_local bool t_overloaded = false;
}

ConnectionQueue::ConnectionQueue(size_t threads, size_t max_waiting)
    // Refusals are quick, but a client that connects and says nothing holds
    // an overflow thread until the read timeout: keep a few.
    : workers_(threads), overflow_(16), max_waiting_(max_waiting) {}

void ConnectionQueue::enqueue(std::function<void()> fn) {
  if (waiting_.load() >= max_waiting_) {
    overflow_.enqueue([fn = std::move(fn)] {
      t_overloaded = true;
      fn();
      t_overloaded = false;
    });
    return;
  }
  waiting_++;
  workers_.enqueue([this, fn = std::move(fn)] {
    waiting_--;
    fn();
  });
}

void ConnectionQueue::shutdown() {
  workers_.shutdown();
  overflow_.shutdown();
}

bool ConnectionQueue::overloaded() { return t_overloaded; }

}  // namespace gptoss::server
