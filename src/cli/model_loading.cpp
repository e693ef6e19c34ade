#include "cli/model_loading.h"

#include <chrono>
#include <cstdio>

#include "cli/placement.h"
#include "core/error.h"
#include "core/mem_size.h"
#include "core/progress.h"

namespace gptoss::cli {

void ModelFlags::add_to(CLI::App& cmd, bool with_ctx) {
  cmd.add_option("-m,--model", model,
                 "checkpoint directory, Hugging Face repo id in the local cache, or synthetic:tiny|20b|120b")
      ->capture_default_str();
  cmd.add_option("--device", device, "auto (a GPU when there is one), cpu, cuda or cuda:N")
      ->capture_default_str()
      ->check([](const std::string& d) -> std::string {  // before the model loads, not after
        try {
          cuda_device_index(d);
          return "";
        } catch (const Error& e) {
          return e.what();
        }
      });
  cmd.add_option("-t,--threads", threads, "CPU threads (0 = all cores)")->capture_default_str();
  cmd.add_option("--seed", seed, "seed for synthetic weights")->capture_default_str();
  if (with_ctx) cmd.add_option("-c,--ctx-size", ctx_size, "maximum context length in tokens")->capture_default_str();
  cmd.add_option("--gpu-memory", gpu_memory,
                 "GPU memory to use, e.g. 12GiB: experts that do not fit stay in host memory (see `gptoss plan`)");
  cmd.add_flag("--cpu-moe", cpu_moe, "keep every layer's experts in host memory, computed on the CPU");
  cmd.add_option("--n-cpu-moe", n_cpu_moe, "keep the experts of the first N layers in host memory")
      ->check(CLI::NonNegativeNumber);
  cmd.add_option("--tensor-parallel-size,--tp", tensor_parallel_size,
                 "GPUs to split the model across (attention heads and expert columns; NCCL)")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  cmd.add_option("--devices", devices, "GPU indices for tensor parallelism, e.g. 0,1 (default: the first N)")
      ->delimiter(',');
  cmd.add_flag("--expert-parallel", expert_parallel,
               "with --tp N: each GPU keeps 1/N of the experts whole rather than 1/N of every expert's columns");
  cmd.add_option("--nccl-id-file", nccl_id_file,
                 "tensor parallelism with one process per GPU, on this node or others: this process is rank 0 and "
                 "writes NCCL's id here; start `gptoss tp-worker --rank R --nccl-id-file` for ranks 1..N-1 "
                 "(on other nodes copy the file)");
}

ModelSource load_model(const ModelFlags& f) {
  auto t0 = std::chrono::steady_clock::now();
  Progress progress("loading " + f.model);
  ModelSource src = open_model(f.model, f.seed, [&](size_t done, size_t total) { progress.update(done, total); });
  double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::fprintf(stderr, "model %s: %d layers, %d experts (top-%d), %.2fB params (%.2fB active), %s weights, %.1f s\n",
               src.name.c_str(), src.config.num_layers, src.config.num_experts, src.config.experts_per_token,
               double(src.config.params_total()) / 1e9, double(src.config.params_active()) / 1e9,
               format_mem_size(src.weights->total_bytes()).c_str(), s);
  return src;
}

std::unique_ptr<ModelRunner> load_runner(const ModelFlags& f, const ModelSource& src, int max_step_tokens,
                                         double gpu_memory_utilization, uint64_t* kv_cache_bytes, int max_num_seqs) {
  RunnerOptions o;
  o.device = resolve_device(f.device);
  o.threads = f.threads;
  o.max_step_tokens = max_step_tokens;
  o.tensor_parallel_size = f.tensor_parallel_size;
  o.devices = f.devices;
  o.expert_parallel = f.expert_parallel;
  o.nccl_id_file = f.nccl_id_file;
  if (o.tensor_parallel_size > 1 || o.devices.size() > 1 || !o.nccl_id_file.empty()) {
    if (kv_cache_bytes) *kv_cache_bytes = 0;
    return make_runner(src, o);
  }
  const PlacementChoice p =
      choose_placement(f, src.config, o.device, f.ctx_size > 0 ? f.ctx_size : 4096, max_step_tokens, gpu_memory_utilization,
                       max_num_seqs);
  o.n_cpu_moe = p.n_cpu_moe;
  // A budget is the whole of what may be used: the KV cache gets what weights
  // and activations leave, and nothing goes beyond it.
  o.bounded_unembedding = f.gpu_memory.empty();
  if (kv_cache_bytes) *kv_cache_bytes = p.kv_cache_bytes;
  return make_runner(src, o);
}

}  // namespace gptoss::cli
