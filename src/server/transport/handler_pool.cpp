#include "server/transport/handler_pool.h"

#include <thread>

namespace gptoss::server {

HandlerPool::HandlerPool(size_t max_threads, size_t max_waiting, std::chrono::milliseconds retire_after)
    : max_threads_(max_threads < 1 ? 1 : max_threads), max_waiting_(max_waiting), retire_after_(retire_after) {}

HandlerPool::~HandlerPool() { shutdown(); }

bool HandlerPool::try_submit(std::function<void()> job) {
  std::lock_guard lock(mu_);
  if (stopping_) return false;
  // Jobs already queued are each owed an idle thread before this one.
  const bool thread_free = idle_ > queue_.size();
  if (!thread_free && live_ < max_threads_) {
    // Detached: shutdown() waits for live_ to reach 0 instead of joining,
    // so that a thread may end on its own when it has been idle long.
    std::thread([this] { work(); }).detach();
    live_++;
    idle_++;
  } else if (!thread_free && queue_.size() - idle_ >= max_waiting_) {
    return false;
  }
  queue_.push_back(std::move(job));
  cv_.notify_one();
  return true;
}

void HandlerPool::work() {
  std::unique_lock lock(mu_);
  for (;;) {
    const bool woken = cv_.wait_for(lock, retire_after_, [&] { return stopping_ || !queue_.empty(); });
    if (queue_.empty()) {
      if (!woken || stopping_) break;  // idle too long, or the pool is closing
      continue;
    }
    auto job = std::move(queue_.front());
    queue_.pop_front();
    idle_--;
    busy_++;
    lock.unlock();
    job();
    job = nullptr;  // what the job captured goes before the thread counts as idle
    lock.lock();
    busy_--;
    idle_++;
  }
  idle_--;
  if (--live_ == 0) ended_.notify_all();
}

void HandlerPool::shutdown() {
  std::unique_lock lock(mu_);
  stopping_ = true;
  cv_.notify_all();
  ended_.wait(lock, [&] { return live_ == 0; });
}

size_t HandlerPool::threads() const {
  std::lock_guard lock(mu_);
  return live_;
}
size_t HandlerPool::busy() const {
  std::lock_guard lock(mu_);
  return busy_;
}
size_t HandlerPool::waiting() const {
  std::lock_guard lock(mu_);
  return queue_.size() > idle_ ? queue_.size() - idle_ : 0;
}

}  // namespace gptoss::server
