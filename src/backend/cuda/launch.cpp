#include <array>
#include <atomic>

#include "backend/cuda/launch.cuh"
#include "core/env.h"

namespace gptoss::cuda {

bool pdl_enabled() {
  // On an H100 (synthetic:20b, 2026-11-23) PDL measured tg128 375 -> 399 t/s
  // and 64-sequence decode 6636 -> 6716 t/s; GPTOSS_PDL=0 turns it off.
  static const bool allowed = env_int("GPTOSS_PDL", 1) != 0;
  if (!allowed) return false;
  // 0: not asked yet, 1: no, 2: yes. Asked once per device: launches are hot.
  static std::array<std::atomic<int>, 64> known{};
  int dev = 0;
  if (cudaGetDevice(&dev) != cudaSuccess || dev < 0 || dev >= int(known.size())) return false;
  int v = known[size_t(dev)].load(std::memory_order_relaxed);
  if (v == 0) {
    int major = 0;
    cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, dev);
    v = major >= 9 ? 2 : 1;
    known[size_t(dev)].store(v, std::memory_order_relaxed);
  }
  return v == 2;
}

}  // namespace gptoss::cuda
