#include "model/host_moe_worker.h"

#include <atomic>
#include <chrono>
#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include "backend/cuda/cuda_check.h"
#include "core/error.h"
#include "core/log.h"

namespace gptoss {

namespace {
size_t align_up(size_t n) { return (n + 255) / 256 * 256; }
inline void cpu_relax() {
#if defined(__x86_64__)
  _mm_pause();
#endif
}
}  // namespace

HostMoeWorker::HostMoeWorker(std::vector<cpu::MoeExperts> experts, int max_tokens, int hidden, int k, int cpu_threads)
    : experts_(std::move(experts)), pool_(cpu_threads) {
  const size_t T = size_t(max_tokens), H = size_t(hidden), K = size_t(k);
  const size_t mb = align_up(sizeof(cuda::HostMailbox)), rows = align_up(T * H * 4), slots = align_up(T * K * 4);
  GPTOSS_CUDA_CHECK(cudaHostAlloc(&host_, mb + 2 * rows + 2 * slots, cudaHostAllocMapped));
  void* dev = nullptr;
  GPTOSS_CUDA_CHECK(cudaHostGetDevicePointer(&dev, host_, 0));
  auto at = [](void* base, size_t off) { return static_cast<char*>(base) + off; };
  mailbox_ = reinterpret_cast<cuda::HostMailbox*>(host_);
  in_ = reinterpret_cast<float*>(at(host_, mb));
  out_ = reinterpret_cast<float*>(at(host_, mb + rows));
  ids_ = reinterpret_cast<int32_t*>(at(host_, mb + 2 * rows));
  w_ = reinterpret_cast<float*>(at(host_, mb + 2 * rows + slots));
  mailbox_dev_ = reinterpret_cast<cuda::HostMailbox*>(dev);
  in_dev_ = reinterpret_cast<float*>(at(dev, mb));
  out_dev_ = reinterpret_cast<float*>(at(dev, mb + rows));
  ids_dev_ = reinterpret_cast<int32_t*>(at(dev, mb + 2 * rows));
  w_dev_ = reinterpret_cast<float*>(at(dev, mb + 2 * rows + slots));
  mailbox_->ready = 0;
  mailbox_->done = 0;
  mailbox_->timed_out = 0;
  thread_ = std::thread([this] { loop(); });
}

HostMoeWorker::~HostMoeWorker() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
  cudaFreeHost(host_);
}

void HostMoeWorker::expect(int requests) {
  if (requests <= 0) return;
  {
    std::lock_guard<std::mutex> lock(mu_);
    expected_ += requests;
  }
  cv_.notify_one();
}

void HostMoeWorker::check() {
  std::lock_guard<std::mutex> lock(mu_);
  if (mailbox_->timed_out) {
    mailbox_->timed_out = 0;
    throw Error("the GPU waited 20 s for the CPU's experts and gave up: " +
                (error_.empty() ? std::string("the CPU thread did not answer") : error_));
  }
  if (!error_.empty()) {
    const std::string e = "experts on the CPU failed: " + error_;
    error_.clear();
    throw Error(e);
  }
}

void HostMoeWorker::loop() {
  using clock = std::chrono::steady_clock;
  uint32_t seen = mailbox_->ready;
  for (;;) {
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [&] { return stop_ || served_ < expected_; });
      if (stop_) return;
    }
    // A request comes within microseconds of the last once a step runs; a
    // step that never posts (it failed before its host layers) must not keep
    // this thread spinning, so it gives up after a while.
    const auto start = clock::now();
    int polls = 0;
    while (mailbox_->ready == seen) {
      cpu_relax();
      if (++polls % 4096 == 0 && clock::now() - start > std::chrono::seconds(5)) break;
    }
    if (mailbox_->ready == seen) {
      std::lock_guard<std::mutex> lock(mu_);
      log_warn("hybrid: a step announced " + std::to_string(expected_ - served_) +
               " CPU expert requests that never came; going idle");
      served_ = expected_;
      continue;
    }
    const uint32_t ticket = mailbox_->ready;
    std::atomic_thread_fence(std::memory_order_acquire);
    const int layer = mailbox_->layer, T = mailbox_->T, k = mailbox_->k;
    try {
      if (layer < 0 || layer >= int(experts_.size())) throw Error("request for layer " + std::to_string(layer) + ", which is not hosted");
      cpu::moe_forward(experts_[size_t(layer)], in_, T, ids_, w_, k, out_, pool_);
    } catch (const std::exception& e) {
      std::lock_guard<std::mutex> lock(mu_);
      if (error_.empty()) error_ = e.what();
    }
    std::atomic_thread_fence(std::memory_order_release);
    mailbox_->done = ticket;
    seen = ticket;
    std::lock_guard<std::mutex> lock(mu_);
    ++served_;
  }
}

}  // namespace gptoss
