// The NCCL group: unique ids as text (what a second node is given), and a sum
// over every GPU here (one GPU: the identity; two or more: a real all-reduce).
#include <gtest/gtest.h>

#include <numeric>
#include <vector>

#include "backend/cuda/cuda_check.h"
#include "backend/cuda/nccl_group.h"
#include "core/error.h"
#include "model/cuda_runner.h"

using namespace gptoss;

TEST(NcclGroup, UniqueIdTextRoundTrip) {
  std::string hex;
  for (int i = 0; i < 128; ++i) hex += "0123456789abcdef"[(i * 7) % 16], hex += "fedcba9876543210"[i % 16];
  const ncclUniqueId id = cuda::nccl_unique_id_from_hex(hex);
  EXPECT_EQ(static_cast<unsigned char>(id.internal[0]), 0x0f);
  EXPECT_EQ(static_cast<unsigned char>(id.internal[1]), 0x7e);
  EXPECT_THROW(cuda::nccl_unique_id_from_hex(hex.substr(2)), Error);
  hex[10] = 'g';
  EXPECT_THROW(cuda::nccl_unique_id_from_hex(hex), Error);
}

TEST(NcclGroup, AllReduceSumsOverEveryGpu) {
  const int n = cuda_device_count();
  if (n == 0) GTEST_SKIP() << "no CUDA GPU";
  std::vector<int> devices(static_cast<size_t>(n));
  std::iota(devices.begin(), devices.end(), 0);
  cuda::NcclGroup group(devices);
  const size_t len = 1000;
  std::vector<float*> bufs(static_cast<size_t>(n));
  std::vector<cudaStream_t> streams(static_cast<size_t>(n));
  for (int r = 0; r < n; ++r) {
    GPTOSS_CUDA_CHECK(cudaSetDevice(r));
    GPTOSS_CUDA_CHECK(cudaStreamCreate(&streams[size_t(r)]));
    GPTOSS_CUDA_CHECK(cudaMalloc(&bufs[size_t(r)], len * 4));
    std::vector<float> v(len);
    for (size_t i = 0; i < len; ++i) v[i] = float(r + 1) * float(i);
    GPTOSS_CUDA_CHECK(cudaMemcpy(bufs[size_t(r)], v.data(), len * 4, cudaMemcpyHostToDevice));
  }
  // One thread drives every rank: the calls must be grouped.
  ncclGroupStart();
  for (int r = 0; r < n; ++r) group.all_reduce_sum(r, bufs[size_t(r)], len, streams[size_t(r)]);
  ncclGroupEnd();
  const float ranks_sum = float(n * (n + 1) / 2);
  for (int r = 0; r < n; ++r) {
    GPTOSS_CUDA_CHECK(cudaSetDevice(r));
    GPTOSS_CUDA_CHECK(cudaStreamSynchronize(streams[size_t(r)]));
    std::vector<float> v(len);
    GPTOSS_CUDA_CHECK(cudaMemcpy(v.data(), bufs[size_t(r)], len * 4, cudaMemcpyDeviceToHost));
    for (size_t i = 0; i < len; i += 97) EXPECT_EQ(v[i], ranks_sum * float(i)) << "rank " << r << " index " << i;
    cudaFree(bufs[size_t(r)]);
    cudaStreamDestroy(streams[size_t(r)]);
  }
}
