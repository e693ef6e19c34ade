#include "backend/cuda/nccl_group.h"

#include <cstdio>

#include "backend/cuda/cuda_check.h"

#define GPTOSS_NCCL_CHECK(call)                                                                          \
  do {                                                                                                   \
    ncclResult_t r_ = (call);                                                                            \
    if (r_ != ncclSuccess)                                                                               \
      throw ::gptoss::Error(std::string("NCCL error: ") + ncclGetErrorString(r_) + " in " #call " (" +  \
                            __FILE__ + ":" + std::to_string(__LINE__) + ")");                           \
  } while (0)

namespace gptoss::cuda {

std::string nccl_unique_id_hex() {
  ncclUniqueId id;
  GPTOSS_NCCL_CHECK(ncclGetUniqueId(&id));
  std::string hex;
  char b[3];
  for (char c : id.internal) {
    std::snprintf(b, sizeof b, "%02x", unsigned(static_cast<unsigned char>(c)));
    hex += b;
  }
  return hex;
}

ncclUniqueId nccl_unique_id_from_hex(const std::string& hex) {
  ncclUniqueId id;
  if (hex.size() != 2 * sizeof id.internal)
    throw Error("an NCCL unique id is " + std::to_string(2 * sizeof id.internal) + " hex digits; got " +
                std::to_string(hex.size()) + " (copy it whole from rank 0's log)");
  auto nibble = [&](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    throw Error(std::string("an NCCL unique id is hex digits; found '") + c + "'");
  };
  for (size_t i = 0; i < sizeof id.internal; ++i)
    id.internal[i] = char(nibble(hex[2 * i]) * 16 + nibble(hex[2 * i + 1]));
  return id;
}

NcclGroup::NcclGroup(const std::vector<int>& devices) : size_(int(devices.size())) {
  if (devices.empty()) throw Error("a tensor-parallel group needs at least one GPU");
  comms_.resize(devices.size());
  GPTOSS_NCCL_CHECK(ncclCommInitAll(comms_.data(), int(devices.size()), devices.data()));
}

NcclGroup::NcclGroup(const ncclUniqueId& id, int rank, int size, int device) : size_(size), first_rank_(rank) {
  if (rank < 0 || rank >= size) throw Error("NCCL rank " + std::to_string(rank) + " is outside 0.." + std::to_string(size - 1));
  GPTOSS_CUDA_CHECK(cudaSetDevice(device));
  comms_.resize(1);
  GPTOSS_NCCL_CHECK(ncclCommInitRank(&comms_[0], size, id, rank));
}

NcclGroup::~NcclGroup() {
  if (aborted_) return;
  for (ncclComm_t c : comms_) ncclCommDestroy(c);
}

void NcclGroup::abort() {
  if (aborted_) return;
  aborted_ = true;
  for (ncclComm_t c : comms_) ncclCommAbort(c);
}

void NcclGroup::all_reduce_sum(int i, float* buf, size_t n, cudaStream_t s) const {
  GPTOSS_NCCL_CHECK(ncclAllReduce(buf, buf, n, ncclFloat32, ncclSum, comms_[size_t(i)], s));
}

void NcclGroup::broadcast_bytes(int i, void* dev_buf, size_t n, int root, cudaStream_t s) const {
  GPTOSS_NCCL_CHECK(ncclBroadcast(dev_buf, dev_buf, n, ncclUint8, root, comms_[size_t(i)], s));
}

void NcclGroup::check_async_error(int i) const {
  ncclResult_t state = ncclSuccess;
  GPTOSS_NCCL_CHECK(ncclCommGetAsyncError(comms_[size_t(i)], &state));
  if (state != ncclSuccess && state != ncclInProgress)
    throw Error(std::string("NCCL error: ") + ncclGetErrorString(state) +
                " (a peer of the tensor-parallel group exited or the network between them failed)");
}

}  // namespace gptoss::cuda
