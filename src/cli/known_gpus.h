#pragma once
// GPUs `gptoss plan --gpu NAME` knows by name, so a placement and a speed can
// be planned for a card that is not in this machine: its memory, its memory
// bandwidth and the PCIe link it reads host memory over (nominal peaks, from
// the vendors' specifications: the plan is a speed-of-light bound).
#include <cstdint>
#include <string>
#include <vector>

namespace gptoss::cli {

struct KnownGpu {
  std::string name;          // what --gpu takes: lower case, no spaces
  std::string description;   // e.g. "NVIDIA GeForce RTX 3060 12 GB"
  uint64_t memory_bytes = 0;
  double bandwidth = 0;       // bytes/s, GPU memory
  double pcie_bandwidth = 0;  // bytes/s, one direction of its PCIe link
};

const std::vector<KnownGpu>& known_gpus();
// The card called `name` (case and '-'/'_'/' ' ignored); throws Error naming
// the known cards and --gpu-memory/--gpu-bandwidth for the others.
const KnownGpu& find_known_gpu(const std::string& name);

}  // namespace gptoss::cli
