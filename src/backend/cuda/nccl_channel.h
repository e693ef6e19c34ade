#pragma once
// Bytes from one rank to all, through NCCL: the command channel of a
// multi-process tensor-parallel group (model/tp_command.h says what travels).
// NCCL is the one link every node already has to every other, so no sockets
// of our own. Each message is a fixed 4 KiB frame (a header with the size,
// then the first bytes inline: a decode step fits whole) and, for larger
// messages, one more broadcast of the rest; a device buffer grows as needed.
#include <cuda_runtime.h>

#include <cstdint>
#include <vector>

#include "backend/cuda/nccl_group.h"

namespace gptoss::cuda {

class NcclChannel {
 public:
  // local: this process's communicator in `group`; device: its GPU.
  NcclChannel(NcclGroup& group, int local, int device);
  ~NcclChannel();
  NcclChannel(const NcclChannel&) = delete;
  NcclChannel& operator=(const NcclChannel&) = delete;

  // Every rank calls it: the root sends `bytes`, the others receive into it.
  // Throws Error when NCCL reports a failed peer (across nodes) or the frame
  // is garbled; on one node a dead peer makes it wait (see core/watchdog.h).
  void broadcast(std::vector<uint8_t>& bytes, int root);
  // Every rank says whether it failed; all learn how many did.
  int count_failures(bool failed);

 private:
  void reserve(size_t n);
  void wait();
  NcclGroup& group_;
  int local_, device_;
  cudaStream_t stream_ = nullptr;
  uint8_t* dev_ = nullptr;   // device buffer NCCL sends from / receives into
  uint8_t* host_ = nullptr;  // pinned staging buffer of the same size
  size_t capacity_ = 0;
};

}  // namespace gptoss::cuda
