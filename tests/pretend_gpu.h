#pragma once
// A runner dressed up as a GPU with some memory in use: the CPU runner's
// results, plus device_memory(), for what reads GPU memory (KV sizing from
// --gpu-memory-utilization, /metrics, /v1/status) in tests without a GPU.
#include "forwarding_runner.h"

namespace gptoss::test {

class PretendGpu : public ForwardingRunner {
 public:
  PretendGpu(ModelRunner& r, size_t used, size_t total) : ForwardingRunner(r), used_(used), total_(total) {}
  std::string device_name() const override { return "pretend-gpu"; }
  std::vector<DeviceMemory> device_memory() const override { return {{used_, total_}}; }

 private:
  size_t used_, total_;
};

}  // namespace gptoss::test
