#include "model/runner_factory.h"

#include <algorithm>

#include "core/error.h"
#include "model/cpu_runner.h"
#ifdef GPTOSS_WITH_CUDA
#include "model/cuda_runner.h"
#endif
#ifdef GPTOSS_WITH_NCCL
#include "model/remote_tensor_parallel_runner.h"
#include "model/tensor_parallel_runner.h"
#endif

namespace gptoss {

bool cuda_backend_compiled() {
#ifdef GPTOSS_WITH_CUDA
  return true;
#else
  return false;
#endif
}

std::string resolve_device(const std::string& device) {
  if (device != "auto") return device;
#ifdef GPTOSS_WITH_CUDA
  if (cuda_device_count() > 0) return "cuda";
#endif
  return "cpu";
}

int cuda_device_index(const std::string& device) {
  if (device == "cuda") return 0;
  if (device == "cpu" || device == "auto") return -1;
  const std::string n = device.rfind("cuda:", 0) == 0 ? device.substr(5) : "";
  if (n.empty() || n.size() > 4 || n.find_first_not_of("0123456789") != std::string::npos)
    throw Error("--device '" + device + "': use auto, cpu, cuda or cuda:N, N being the GPU's number as nvidia-smi lists it");
  return std::stoi(n);
}

bool gpu_memory_info(const std::string& device, size_t* free_bytes, size_t* total_bytes) {
  const int index = cuda_device_index(resolve_device(device));
  if (index < 0) return false;
#ifdef GPTOSS_WITH_CUDA
  return cuda_memory_info(index, free_bytes, total_bytes);
#else
  (void)free_bytes, (void)total_bytes;
  return false;
#endif
}

std::unique_ptr<ModelRunner> make_runner(const ModelSource& source, const RunnerOptions& options) {
  RunnerOptions o = options;
  o.device = resolve_device(o.device);
  if (o.tensor_parallel_size < 1) throw Error("--tensor-parallel-size must be at least 1");
  if (!o.nccl_id_file.empty()) {
    // Across processes only rank 0's GPU is ours to pick: --devices D or D,...
    if (o.tensor_parallel_size < 2) throw Error("--nccl-id-file needs --tp 2 or more: the tp-workers are ranks 1..N-1");
    if (o.device == "cpu") throw Error("--nccl-id-file needs GPUs (none found here, or --device cpu was given)");
    if (o.n_cpu_moe > 0) throw Error("--tensor-parallel-size > 1 keeps every expert on the GPUs: drop --cpu-moe/--n-cpu-moe");
    if (o.expert_parallel) throw Error("--expert-parallel runs in one process for now: drop --nccl-id-file");
#ifdef GPTOSS_WITH_NCCL
    RemoteTpOptions r;
    r.device = !o.devices.empty() ? o.devices[0] : std::max(0, cuda_device_index(o.device));
    r.size = o.tensor_parallel_size;
    r.max_step_tokens = o.max_step_tokens;
    r.id_file = o.nccl_id_file;
    return make_remote_tensor_parallel_runner(source, r);
#else
    throw Error("this gptoss was built without NCCL: tensor parallelism needs it (libnccl-dev, or the CUDA toolkit's copy)");
#endif
  }
  if (!o.devices.empty() && int(o.devices.size()) != o.tensor_parallel_size) {
    if (o.tensor_parallel_size != 1)
      throw Error("--devices lists " + std::to_string(o.devices.size()) + " GPUs but --tensor-parallel-size is " +
                  std::to_string(o.tensor_parallel_size));
    o.tensor_parallel_size = int(o.devices.size());
  }
  if (o.tensor_parallel_size == 1 && o.devices.size() == 1 && o.device != "cpu")
    o.device = "cuda:" + std::to_string(o.devices[0]);
  if (o.tensor_parallel_size > 1) {
    if (o.device == "cpu") throw Error("--tensor-parallel-size needs GPUs; the CPU runner uses every core already");
    if (o.n_cpu_moe > 0) throw Error("--tensor-parallel-size > 1 keeps every expert on the GPUs: drop --cpu-moe/--n-cpu-moe");
    if (o.devices.empty())
      for (int i = 0; i < o.tensor_parallel_size; ++i) o.devices.push_back(i);
#ifdef GPTOSS_WITH_NCCL
    return make_tensor_parallel_runner(source, o.devices, o.max_step_tokens, o.expert_parallel);
#else
    throw Error("this gptoss was built without NCCL: tensor parallelism needs it (libnccl-dev, or the CUDA toolkit's copy)");
#endif
  }
  if (o.device == "cpu") {
    ThreadPool* pool = &ThreadPool::global();
    if (o.threads > 0) {
      static std::unique_ptr<ThreadPool> own;
      own = std::make_unique<ThreadPool>(o.threads);
      pool = own.get();
    }
    return std::make_unique<CpuRunner>(source, *pool, o.max_step_tokens);
  }
  const int index = cuda_device_index(o.device);  // "cpu" and "auto" are gone by now; others throw
#ifdef GPTOSS_WITH_CUDA
  CudaRunnerOptions c;
  c.device = index;
  c.max_step_tokens = o.max_step_tokens;
  c.n_cpu_moe = o.n_cpu_moe;
  c.cpu_threads = o.threads;
  c.bounded_unembedding = o.bounded_unembedding;
  return make_cuda_runner(source, c);
#else
  (void)index;
  throw Error("this gptoss was built without the CUDA backend: rebuild on a machine with nvcc, or use --device cpu");
#endif
}

}  // namespace gptoss
