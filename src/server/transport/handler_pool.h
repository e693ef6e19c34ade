#pragma once
// The threads that run endpoint handlers. A handler blocks (it waits for the
// engine's tokens and, when streaming, for its client to take them), so each
// request being handled holds one thread; connections themselves hold none
// (the transport is event-driven). Threads are started as requests need
// them, up to `max_threads`; past that requests wait in a queue of at most
// `max_waiting`, and past that try_submit() says no (the caller answers 503).
// A thread idle for `retire_after` ends, so a burst's threads do not stay.
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>

namespace gptoss::server {

class HandlerPool {
 public:
  HandlerPool(size_t max_threads, size_t max_waiting,
              std::chrono::milliseconds retire_after = std::chrono::seconds(60));
  ~HandlerPool();
  HandlerPool(const HandlerPool&) = delete;
  HandlerPool& operator=(const HandlerPool&) = delete;

  // False when every thread is busy and the queue is full.
  bool try_submit(std::function<void()> job);
  // Runs what is queued, then waits for every thread to end.
  void shutdown();

  size_t threads() const;
  size_t busy() const;
  size_t waiting() const;

 private:
  void work();

  const size_t max_threads_, max_waiting_;
  const std::chrono::milliseconds retire_after_;
  mutable std::mutex mu_;
  std::condition_variable cv_, ended_;
  std::deque<std::function<void()>> queue_;
  size_t live_ = 0, idle_ = 0, busy_ = 0;  // threads: all, waiting for a job, running one
  bool stopping_ = false;
};

}  // namespace gptoss::server
