#include "backend/cuda/nccl_channel.h"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <string>
#include <thread>

#include "backend/cuda/cuda_check.h"

namespace gptoss::cuda {

namespace {
constexpr size_t kFrame = 4096;
constexpr size_t kHeader = 8;  // u32 magic, u32 payload bytes
constexpr size_t kInline = kFrame - kHeader;
constexpr uint32_t kMagic = 0x43505447;      // "GTPC"
constexpr size_t kMaxMessage = size_t(1) << 30;  // far above any batch; guards a garbled size
}  // namespace

NcclChannel::NcclChannel(NcclGroup& group, int local, int device) : group_(group), local_(local), device_(device) {
  GPTOSS_CUDA_CHECK(cudaSetDevice(device_));
  GPTOSS_CUDA_CHECK(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking));
  reserve(kFrame);
}

NcclChannel::~NcclChannel() {
  cudaSetDevice(device_);
  if (dev_) cudaFree(dev_);
  if (host_) cudaFreeHost(host_);
  if (stream_) cudaStreamDestroy(stream_);
}

void NcclChannel::reserve(size_t n) {
  if (n <= capacity_) return;
  const size_t cap = std::max(n, 2 * capacity_);
  if (dev_) GPTOSS_CUDA_CHECK(cudaFree(dev_));
  if (host_) GPTOSS_CUDA_CHECK(cudaFreeHost(host_));
  dev_ = nullptr, host_ = nullptr, capacity_ = 0;
  GPTOSS_CUDA_CHECK(cudaMalloc(&dev_, cap));
  GPTOSS_CUDA_CHECK(cudaMallocHost(&host_, cap));
  capacity_ = cap;
}

// Polls instead of cudaStreamSynchronize so that NCCL's asynchronous errors
// (a peer node gone) surface as an Error. Spins at first: during decoding the
// next command follows within microseconds and a sleeping worker would delay
// every step; an idle worker backs off to millisecond naps.
void NcclChannel::wait() {
  const auto t0 = std::chrono::steady_clock::now();
  for (;;) {
    const cudaError_t e = cudaStreamQuery(stream_);
    if (e == cudaSuccess) return;
    if (e != cudaErrorNotReady) GPTOSS_CUDA_CHECK(e);
    group_.check_async_error(local_);
    const auto idle = std::chrono::steady_clock::now() - t0;
    if (idle < std::chrono::milliseconds(50))
      std::this_thread::yield();
    else if (idle < std::chrono::seconds(1))
      std::this_thread::sleep_for(std::chrono::microseconds(50));
    else
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
}

void NcclChannel::broadcast(std::vector<uint8_t>& bytes, int root) {
  GPTOSS_CUDA_CHECK(cudaSetDevice(device_));
  const bool sender = group_.rank_of_local(local_) == root;
  if (sender) {
    if (bytes.size() > kMaxMessage) throw Error("a tensor-parallel command of " + std::to_string(bytes.size()) + " bytes is too large");
    const uint32_t size = uint32_t(bytes.size());
    std::memcpy(host_, &kMagic, 4);
    std::memcpy(host_ + 4, &size, 4);
    std::memcpy(host_ + kHeader, bytes.data(), std::min(bytes.size(), kInline));
    GPTOSS_CUDA_CHECK(cudaMemcpyAsync(dev_, host_, kFrame, cudaMemcpyHostToDevice, stream_));
  }
  group_.broadcast_bytes(local_, dev_, kFrame, root, stream_);
  if (!sender) GPTOSS_CUDA_CHECK(cudaMemcpyAsync(host_, dev_, kFrame, cudaMemcpyDeviceToHost, stream_));
  wait();
  size_t size = bytes.size();
  if (!sender) {
    uint32_t magic = 0, n = 0;
    std::memcpy(&magic, host_, 4);
    std::memcpy(&n, host_ + 4, 4);
    if (magic != kMagic || n > kMaxMessage)
      throw Error("the tensor-parallel leader sent a garbled frame: leader and tp-workers must run the same gptoss build");
    size = n;
    bytes.assign(host_ + kHeader, host_ + kHeader + std::min(size, kInline));
  }
  if (size <= kInline) return;
  const size_t rest = size - kInline;
  reserve(rest);
  if (sender) {
    std::memcpy(host_, bytes.data() + kInline, rest);
    GPTOSS_CUDA_CHECK(cudaMemcpyAsync(dev_, host_, rest, cudaMemcpyHostToDevice, stream_));
  }
  group_.broadcast_bytes(local_, dev_, rest, root, stream_);
  if (!sender) GPTOSS_CUDA_CHECK(cudaMemcpyAsync(host_, dev_, rest, cudaMemcpyDeviceToHost, stream_));
  wait();
  if (!sender) bytes.insert(bytes.end(), host_, host_ + rest);
}

int NcclChannel::count_failures(bool failed) {
  GPTOSS_CUDA_CHECK(cudaSetDevice(device_));
  const float flag = failed ? 1.0f : 0.0f;
  std::memcpy(host_, &flag, sizeof flag);
  GPTOSS_CUDA_CHECK(cudaMemcpyAsync(dev_, host_, sizeof flag, cudaMemcpyHostToDevice, stream_));
  group_.all_reduce_sum(local_, reinterpret_cast<float*>(dev_), 1, stream_);
  GPTOSS_CUDA_CHECK(cudaMemcpyAsync(host_, dev_, sizeof flag, cudaMemcpyDeviceToHost, stream_));
  wait();
  float sum = 0;
  std::memcpy(&sum, host_, sizeof sum);
  return int(sum + 0.5f);
}

}  // namespace gptoss::cuda
