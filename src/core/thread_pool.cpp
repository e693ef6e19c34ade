#include "core/thread_pool.h"

#include <cstdlib>

namespace gptoss {

namespace {
thread_local bool t_in_pool_job = false;

void run_chunk(const std::function<void(size_t, size_t)>& fn, size_t n, int index, int parts) {
  size_t begin = n * size_t(index) / size_t(parts);
  size_t end = n * size_t(index + 1) / size_t(parts);
  if (begin < end) fn(begin, end);
}
}  // namespace

ThreadPool::ThreadPool(int threads) {
  if (threads <= 0) {
    const char* env = std::getenv("GPTOSS_THREADS");
    threads = env ? std::atoi(env) : int(std::thread::hardware_concurrency());
    if (threads <= 0) threads = 1;
  }
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
    job_ = &fn;
    job_n_ = n;
    pending_ = int(workers_.size());
    ++generation_;
  }
  start_cv_.notify_all();
  t_in_pool_job = true;
  run_chunk(fn, n, 0, size());
  t_in_pool_job = false;
  std::unique_lock<std::mutex> lock(mu_);
  done_cv_.wait(lock, [this] { return pending_ == 0; });
  job_ = nullptr;
}

void ThreadPool::worker_loop(int index) {
  uint64_t seen = 0;
  t_in_pool_job = true;
  for (;;) {
    const std::function<void(size_t, size_t)>* job;
    size_t n;
    {
      std::unique_lock<std::mutex> lock(mu_);
      start_cv_.wait(lock, [&] { return stop_ || generation_ != seen; });
      if (stop_) return;
      seen = generation_;
      job = job_;
      n = job_n_;
    }
    run_chunk(*job, n, index, size());
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (--pending_ == 0) done_cv_.notify_one();
    }
  }
}

}  // namespace gptoss
