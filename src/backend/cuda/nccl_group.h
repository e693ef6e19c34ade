#pragma once
// The NCCL communicators of a tensor-parallel group: one per GPU. In one
// process (a thread per GPU) they come from ncclCommInitAll; across processes
// or nodes each rank joins with the group's unique id, which rank 0 makes and
// hands to the others as text (NCCL's own bootstrap does the rest).
#include <cuda_runtime.h>
#include <nccl.h>

#include <string>
#include <vector>

namespace gptoss::cuda {

// A new unique id as 256 hex digits, and back; from_hex throws Error on bad text.
std::string nccl_unique_id_hex();
ncclUniqueId nccl_unique_id_from_hex(const std::string& hex);

class NcclGroup {
 public:
  // All ranks in this process, rank i on devices[i].
  explicit NcclGroup(const std::vector<int>& devices);
  // This process's one rank of `size`, on `device`, joining the group `id`.
  NcclGroup(const ncclUniqueId& id, int rank, int size, int device);
  ~NcclGroup();
  NcclGroup(const NcclGroup&) = delete;
  NcclGroup& operator=(const NcclGroup&) = delete;

  int size() const { return size_; }
  // Local communicators: all of them (first constructor) or the one rank.
  int local_ranks() const { return int(comms_.size()); }
  int rank_of_local(int i) const { return first_rank_ + i; }
  // In-place sum over the group of n floats on local rank i's device, on stream s.
  void all_reduce_sum(int i, float* buf, size_t n, cudaStream_t s) const;
  // In-place broadcast of n bytes on local rank i's device from group rank `root`.
  void broadcast_bytes(int i, void* dev_buf, size_t n, int root, cudaStream_t s) const;
  // Throws Error when NCCL has seen local rank i's communicator fail (a peer
  // over the network went away); waits on the GPU cannot tell.
  void check_async_error(int i) const;
  // Gives up every communicator without waiting for peers: after an error,
  // ncclCommDestroy could wait forever on operations that never finish.
  void abort();

 private:
  std::vector<ncclComm_t> comms_;
  int size_ = 1, first_rank_ = 0;
  bool aborted_ = false;
};

}  // namespace gptoss::cuda
