#pragma once
// A fixed pool of worker threads for data-parallel loops. parallel_for splits
// [0, n) into contiguous chunks, one per worker, and blocks until all finish;
// the calling thread takes a chunk too.
#include <condition_variable>
#include <cstddef>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace gptoss {

class ThreadPool {
 public:
  explicit ThreadPool(int threads = 0);  // 0: all hardware threads
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int size() const { return int(workers_.size()) + 1; }
  // fn(begin, end) over chunks of [0, n). Nested calls run serially.
  void parallel_for(size_t n, const std::function<void(size_t, size_t)>& fn);

  static ThreadPool& global();

 private:
  void worker_loop(int index);
  std::vector<std::thread> workers_;
  std::mutex mu_;
  std::condition_variable start_cv_, done_cv_;
  const std::function<void(size_t, size_t)>* job_ = nullptr;
  size_t job_n_ = 0;
  uint64_t generation_ = 0;
  int pending_ = 0;
  bool stop_ = false;
};

}  // namespace gptoss
