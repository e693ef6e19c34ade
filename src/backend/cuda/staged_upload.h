#pragma once
// Host-to-device copies through two pinned buffers.
//
// Why not cudaMemcpy from the mapped checkpoint: once a runner in the process
// has page-locked host experts (registered rounded out to whole pages), a
// copy whose source starts in those pages and runs past them fails with
// "invalid argument", so a second runner could not load. Staging never hands
// CUDA the checkpoint's pages, and the CPU's copy of one chunk overlaps the
// transfer of the previous one.
#include <cuda_runtime.h>

#include <cstddef>

namespace gptoss::cuda {

class StagedUpload {
 public:
  explicit StagedUpload(cudaStream_t stream, size_t chunk_bytes = size_t(16) << 20);
  ~StagedUpload();  // waits for the copies in flight
  StagedUpload(const StagedUpload&) = delete;
  StagedUpload& operator=(const StagedUpload&) = delete;

  // The source may be reused as soon as this returns; the destination is
  // written in stream order.
  void copy(void* dst, const void* src, size_t bytes);
  // Waits until every copy has reached the device.
  void finish();

 private:
  cudaStream_t stream_;
  size_t chunk_;
  void* buf_[2] = {nullptr, nullptr};
  cudaEvent_t done_[2] = {nullptr, nullptr};
  bool pending_[2] = {false, false};
  int next_ = 0;
};

}  // namespace gptoss::cuda
