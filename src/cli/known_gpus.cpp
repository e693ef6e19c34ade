#include "cli/known_gpus.h"

#include <cctype>

#include "core/error.h"

namespace gptoss::cli {

namespace {

constexpr uint64_t GiB = 1ull << 30;
// PCIe x16, one direction, nominal: 3.0 15.8 GB/s, 4.0 31.5 GB/s, 5.0 63 GB/s.
constexpr double kPcie3 = 15.8e9, kPcie4 = 31.5e9, kPcie5 = 63e9;

std::string normal(const std::string& s) {
  std::string out;
  for (char ch : s)
    if (ch != '-' && ch != '_' && ch != ' ') out += char(std::tolower(static_cast<unsigned char>(ch)));
  return out;
}

}  // namespace

const std::vector<KnownGpu>& known_gpus() {
  static const std::vector<KnownGpu> gpus = {
      {"rtx3060", "NVIDIA GeForce RTX 3060 12 GB", 12 * GiB, 360e9, kPcie4},
      {"rtx3090", "NVIDIA GeForce RTX 3090 24 GB", 24 * GiB, 936e9, kPcie4},
      {"rtx4090", "NVIDIA GeForce RTX 4090 24 GB", 24 * GiB, 1008e9, kPcie4},
      {"v100", "NVIDIA Tesla V100 16 GB", 16 * GiB, 900e9, kPcie3},
      {"v100-32gb", "NVIDIA Tesla V100 32 GB", 32 * GiB, 900e9, kPcie3},
      {"a100-40gb", "NVIDIA A100 40 GB", 40 * GiB, 1555e9, kPcie4},
      {"a100-80gb", "NVIDIA A100 80 GB", 80 * GiB, 2039e9, kPcie4},
      {"h100", "NVIDIA H100 SXM 80 GB", 80 * GiB, 3350e9, kPcie5},
      {"h200", "NVIDIA H200 141 GB", 140 * GiB, 4800e9, kPcie5},  // nvidia-smi: 143771 MiB
  };
  return gpus;
}

const KnownGpu& find_known_gpu(const std::string& name) {
  const std::string want = normal(name);
  for (const KnownGpu& g : known_gpus())
    if (normal(g.name) == want) return g;
  std::string names;
  for (const KnownGpu& g : known_gpus()) names += (names.empty() ? "" : ", ") + g.name;
  throw Error("--gpu " + name + ": not a GPU plan knows (" + names +
              "); for another card give --gpu-memory SIZE and --gpu-bandwidth BYTES_PER_S");
}

}  // namespace gptoss::cli
