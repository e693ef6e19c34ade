#include "model/l2_prefetcher.h"

#include <cstdlib>

#include "backend/cuda/cuda_check.h"
#include "backend/cuda/cuda_kernels.h"

namespace gptoss {

namespace {
constexpr size_t kForkEvents = 128;  // > fetches per step (two per layer, 36 layers)
}

L2Prefetcher::L2Prefetcher() {
  GPTOSS_CUDA_CHECK(cudaStreamCreateWithFlags(&side_, cudaStreamNonBlocking));
  forks_.resize(kForkEvents);
  for (auto& e : forks_) GPTOSS_CUDA_CHECK(cudaEventCreateWithFlags(&e, cudaEventDisableTiming));
  GPTOSS_CUDA_CHECK(cudaEventCreateWithFlags(&done_, cudaEventDisableTiming));
}

L2Prefetcher::~L2Prefetcher() {
  for (auto e : forks_) cudaEventDestroy(e);
  if (done_) cudaEventDestroy(done_);
  if (side_) cudaStreamDestroy(side_);
}

void L2Prefetcher::fetch(cudaStream_t main, const void* p, size_t bytes) {
  cudaEvent_t fork = forks_[next_++ % forks_.size()];
  GPTOSS_CUDA_CHECK(cudaEventRecord(fork, main));
  GPTOSS_CUDA_CHECK(cudaStreamWaitEvent(side_, fork, 0));
  cuda::prefetch_l2(p, bytes, side_);
  pending_ = true;
}

void L2Prefetcher::join(cudaStream_t main) {
  if (!pending_) return;
  GPTOSS_CUDA_CHECK(cudaEventRecord(done_, side_));
  GPTOSS_CUDA_CHECK(cudaStreamWaitEvent(main, done_, 0));
  pending_ = false;
}

int l2_prefetch_level() {
  static const int v = [] {
    const char* e = std::getenv("GPTOSS_L2_PREFETCH");
    return e ? std::atoi(e) : 0;
  }();
  return v;
}

}  // namespace gptoss
