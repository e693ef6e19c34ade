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
    int index = o.device == "cuda" ? 0 : std::stoi(o.device.substr(5));
    return make_cuda_runner(source, index, o.max_step_tokens);
#else
    throw Error("this gptoss was built without the CUDA backend: rebuild on a machine with nvcc, or use --device cpu");
#endif
  }
  throw Error("unknown device '" + o.device + "': use auto, cpu, cuda or cuda:N");
}

}  // namespace gptoss
