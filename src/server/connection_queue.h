#pragma once
// cpp-httplib's task queue, bounded: connections beyond the worker threads
// wait in a queue of at most `max_waiting`; past that a connection is not
// left waiting without end but handed to a small overflow pool, which answers
// it at once with 503 and Retry-After (see overloaded()). Each streaming
// client holds a worker for its whole stream, so without this a crowd of slow
// clients would make new ones wait with no answer.
#include <httplib.h>

#include <atomic>
#include <memory>

namespace gptoss::server {

class ConnectionQueue : public httplib::TaskQueue {
 public:
  ConnectionQueue(size_t threads, size_t max_waiting);
  void enqueue(std::function<void()> fn) override;
  void shutdown() override;

  // True on a thread that is serving a connection only to refuse it.
  static bool overloaded();
  size_t waiting() const { return waiting_.load(); }

 private:
  httplib::ThreadPool workers_, overflow_;
  size_t max_waiting_;
  std::atomic<size_t> waiting_{0};
};

}  // namespace gptoss::server
