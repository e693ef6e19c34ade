#include "model/runner_factory.h"

#include "core/error.h"
#include "model/cpu_runner.h"
#ifdef GPTOSS_WITH_CUDA
#include "model/cuda_runner.h"
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

bool gpu_memory_info(const std::string& device, size_t* free_bytes, size_t* total_bytes) {
  const std::string d = resolve_device(device);
  if (d != "cuda" && d.rfind("cuda:", 0) != 0) return false;
#ifdef GPTOSS_WITH_CUDA
  return cuda_memory_info(d == "cuda" ? 0 : std::stoi(d.substr(5)), free_bytes, total_bytes);
#else
  (void)free_bytes, (void)total_bytes;
  return false;
#endif
}

std::unique_ptr<ModelRunner> make_runner(const ModelSource& source, const RunnerOptions& options) {
  RunnerOptions o = options;
  o.device = resolve_device(o.device);
  if (o.device == "cpu") {
    ThreadPool* pool = &ThreadPool::global();
    if (o.threads > 0) {
      static std::unique_ptr<ThreadPool> own;
      own = std::make_unique<ThreadPool>(o.threads);
      pool = own.get();
    }
    return std::make_unique<CpuRunner>(source, *pool, o.max_step_tokens);
  }
  if (o.device == "cuda" || o.device.rfind("cuda:", 0) == 0) {
#ifdef GPTOSS_WITH_CUDA
    CudaRunnerOptions c;
    c.device = o.device == "cuda" ? 0 : std::stoi(o.device.substr(5));
    c.max_step_tokens = o.max_step_tokens;
    c.n_cpu_moe = o.n_cpu_moe;
    c.cpu_threads = o.threads;
    return make_cuda_runner(source, c);
#else
    throw Error("this gptoss was built without the CUDA backend: rebuild on a machine with nvcc, or use --device cpu");
#endif
  }
  throw Error("unknown device '" + o.device + "': use auto, cpu, cuda or cuda:N");
}

}  // namespace gptoss
