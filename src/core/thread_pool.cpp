#include "core/thread_pool.h"
#include "core/env.h"

#include <chrono>
#include <cstdlib>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define GPTOSS_CPU_RELAX() _mm_pause()
#else
#define GPTOSS_CPU_RELAX() ((void)0)
#endif

namespace gptoss {

namespace {
thread_local bool t_in_pool_job = false;

void run_chunk(const std::function<void(size_t, size_t)>& fn, size_t n, int index, int parts) {
  size_t begin = n * size_t(index) / size_t(parts);
  size_t end = n * size_t(index + 1) / size_t(parts);
  if (begin < end) fn(begin, end);
}
// One step of a bounded spin; false once the deadline has passed. Every 64th
// step yields, so on a machine with more runnable threads than cores (CI,
// tests in parallel) the spinner gives its core away instead of holding it.
bool spin_step(int i, std::chrono::steady_clock::time_point deadline) {
  GPTOSS_CPU_RELAX();
  if (i % 64 != 0) return true;
  std::this_thread::yield();
  return std::chrono::steady_clock::now() < deadline;
}
}  // namespace

ThreadPool::ThreadPool(int threads) {
  if (threads <= 0) {
    threads = env_int("GPTOSS_THREADS", int(std::thread::hardware_concurrency()));
    if (threads <= 0) threads = 1;
  }
  spin_us_ = std::max(0, env_int("GPTOSS_POOL_SPIN_US", 1000));
  for (int i = 1; i < threads; ++i) workers_.emplace_back([this, i] { worker_loop(i); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  start_cv_.notify_all();
  for (auto& t : workers_) t.join();
}

ThreadPool& ThreadPool::global() {
  static ThreadPool pool;
  return pool;
}

void ThreadPool::parallel_for(size_t n, const std::function<void(size_t, size_t)>& fn) {
  if (n == 0) return;
  if (workers_.empty() || n == 1 || t_in_pool_job) {
    fn(0, n);
    return;
  }
  // One caller at a time: concurrent callers (several server threads) queue here.
  static std::mutex caller_mu;
  std::lock_guard<std::mutex> caller_lock(caller_mu);
  {
    std::lock_guard<std::mutex> lock(mu_);
    job_.store(&fn, std::memory_order_relaxed);
    job_n_.store(n, std::memory_order_relaxed);
    pending_.store(int(workers_.size()), std::memory_order_relaxed);
    generation_.fetch_add(1, std::memory_order_release);
  }
  start_cv_.notify_all();
  t_in_pool_job = true;
  run_chunk(fn, n, 0, size());
  t_in_pool_job = false;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::microseconds(spin_us_);
  for (int i = 1; pending_.load(std::memory_order_acquire) != 0; ++i)
    if (!spin_step(i, deadline)) break;
  std::unique_lock<std::mutex> lock(mu_);
  done_cv_.wait(lock, [this] { return pending_.load(std::memory_order_acquire) == 0; });
  job_.store(nullptr, std::memory_order_relaxed);
}

void ThreadPool::worker_loop(int index) {
  uint64_t seen = 0;
  t_in_pool_job = true;
  for (;;) {
    // Spin for the next job a while, then sleep on the condition variable.
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::microseconds(spin_us_);
    for (int i = 1; generation_.load(std::memory_order_acquire) == seen; ++i)
      if (!spin_step(i, deadline)) break;
    {
      std::unique_lock<std::mutex> lock(mu_);
      start_cv_.wait(lock, [&] { return stop_ || generation_.load(std::memory_order_acquire) != seen; });
      if (stop_) return;
    }
    seen = generation_.load(std::memory_order_acquire);
    run_chunk(*job_.load(std::memory_order_relaxed), job_n_.load(std::memory_order_relaxed), index, size());
    if (pending_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
      // Under the mutex, so a caller between its predicate check and its wait cannot miss it.
      std::lock_guard<std::mutex> lock(mu_);
      done_cv_.notify_one();
    }
  }
}

}  // namespace gptoss
