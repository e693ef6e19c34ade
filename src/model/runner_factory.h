#pragma once
// Creates the runner for a device string: "cpu", "cuda", "cuda:N".
#include <memory>
#include <string>
#include <vector>

#include "format/model_source.h"
#include "model/model_runner.h"

namespace gptoss {

struct RunnerOptions {
  std::string device = "cpu";
  int max_step_tokens = 2048;  // largest prompt chunk per step
  int threads = 0;             // CPU threads; 0 = all cores
  int n_cpu_moe = 0;           // GPU only: the first N layers' experts stay in host memory
  // GPU only: an int8 copy of the unembedding for decode steps, if the GPU
  // has room (CudaRunnerOptions::bounded_unembedding); off under a memory budget.
  bool bounded_unembedding = true;
  int tensor_parallel_size = 1;  // GPUs one model is split across (NCCL)
  std::vector<int> devices;      // their indices; default 0..size-1
  bool expert_parallel = false;  // split the experts whole across the GPUs instead of their columns
  // Non-empty: one process per GPU (model/remote_tensor_parallel_runner.h).
  // This process is rank 0 on devices[0] (default 0) and writes NCCL's id
  // here for `gptoss tp-worker` processes, ranks 1..size-1.
  std::string nccl_id_file;
};

std::unique_ptr<ModelRunner> make_runner(const ModelSource& source, const RunnerOptions& options);
// "auto" becomes "cuda" when a GPU is usable and the backend is built, else "cpu".
std::string resolve_device(const std::string& device);
// The GPU a device string names: "cuda" is 0, "cuda:N" is N, "cpu" and
// "auto" are -1. Anything else throws an Error that says what --device takes.
int cuda_device_index(const std::string& device);
bool cuda_backend_compiled();
// Free and total memory of the GPU a device string names; false for "cpu" or
// when no GPU can be queried.
bool gpu_memory_info(const std::string& device, size_t* free_bytes, size_t* total_bytes);

}  // namespace gptoss
