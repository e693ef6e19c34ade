#include "server/transport/handler_pool.h"

namespace gptoss::server {

HandlerPool::HandlerPool(size_t max_threads, size_t max_waiting)
    : max_threads_(max_threads < 1 ? 1 : max_threads), max_waiting_(max_waiting) {}

HandlerPool::~HandlerPool() { shutdown(); }

bool HandlerPool::try_submit(std::function<void()> job) {
  std::lock_guard lock(mu_);
  if (stopping_) return false;
  // Jobs already queued are each owed an idle thread before this one.
  const bool thread_free = idle_ > queue_.size();
  if (!thread_free && threads_.size() < max_threads_) {
    threads_.emplace_back([this] { work(); });
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
    cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
    if (queue_.empty()) return;  // stopping, nothing left
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
}

void HandlerPool::shutdown() {
  std::vector<std::thread> threads;
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
    threads.swap(threads_);
  }
  cv_.notify_all();
  for (auto& t : threads) t.join();
}

size_t HandlerPool::threads() const {
  std::lock_guard lock(mu_);
  return threads_.size();
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
