#pragma once
// A fixed pool of worker threads for data-parallel loops. parallel_for splits
// [0, n) into contiguous chunks, one per worker, and blocks until all finish;
// the calling thread takes a chunk too. After a job, workers (and the caller,
// waiting for them) spin for GPTOSS_POOL_SPIN_US (default 1000) before
// sleeping: a step's kernels come in bursts a few hundred microseconds apart
// (the hybrid runner's layers), and waking sleeping threads — halted vCPUs on
// a virtual machine — costs tens of microseconds each time.
#include <atomic>
#include <condition_variable>
#include <cstdint>
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
  // Published with a release store of generation_, so a spinning worker reads
  // them without the mutex; the caller rewrites them only once pending_ is 0.
  std::atomic<const std::function<void(size_t, size_t)>*> job_{nullptr};
  std::atomic<size_t> job_n_{0};
  std::atomic<uint64_t> generation_{0};
  std::atomic<int> pending_{0};
  bool stop_ = false;
  int spin_us_ = 0;
};

}  // namespace gptoss
