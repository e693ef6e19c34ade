#include "backend/cuda/staged_upload.h"

#include <cstring>

#include "backend/cuda/cuda_check.h"

namespace gptoss::cuda {

StagedUpload::StagedUpload(cudaStream_t stream, size_t chunk_bytes) : stream_(stream), chunk_(chunk_bytes) {
  for (int i = 0; i < 2; ++i) {
    GPTOSS_CUDA_CHECK(cudaMallocHost(&buf_[i], chunk_));
    GPTOSS_CUDA_CHECK(cudaEventCreateWithFlags(&done_[i], cudaEventDisableTiming));
  }
}

StagedUpload::~StagedUpload() {
  for (int i = 0; i < 2; ++i) {
    if (pending_[i]) cudaEventSynchronize(done_[i]);
    if (done_[i]) cudaEventDestroy(done_[i]);
    if (buf_[i]) cudaFreeHost(buf_[i]);
  }
}

void StagedUpload::copy(void* dst, const void* src, size_t bytes) {
  auto* d = static_cast<char*>(dst);
  const auto* s = static_cast<const char*>(src);
  for (size_t off = 0; off < bytes; off += chunk_) {
    const size_t n = bytes - off < chunk_ ? bytes - off : chunk_;
    const int i = next_;
    next_ ^= 1;
    if (pending_[i]) GPTOSS_CUDA_CHECK(cudaEventSynchronize(done_[i]));  // its last transfer has finished
    std::memcpy(buf_[i], s + off, n);
    GPTOSS_CUDA_CHECK(cudaMemcpyAsync(d + off, buf_[i], n, cudaMemcpyHostToDevice, stream_));
    GPTOSS_CUDA_CHECK(cudaEventRecord(done_[i], stream_));
    pending_[i] = true;
  }
}

void StagedUpload::finish() {
  for (int i = 0; i < 2; ++i) {
    if (pending_[i]) GPTOSS_CUDA_CHECK(cudaEventSynchronize(done_[i]));
    pending_[i] = false;
  }
}

}  // namespace gptoss::cuda
