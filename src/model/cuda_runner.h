#pragma once
// The fast gpt-oss forward pass on one NVIDIA GPU. Dense projections through
// cuBLAS (bf16 in, float32 accumulate), MXFP4 experts kept MXFP4 in GPU memory
// (GEMV kernels for decode-sized steps; dequantise-and-GEMM per expert for
// prefill), paged bf16 KV cache, and decode steps replayed as CUDA graphs.
#include <memory>

#include "format/model_source.h"
#include "model/model_runner.h"
#include "model/tensor_parallel.h"

namespace gptoss::cuda {
class NcclGroup;
}

namespace gptoss {

// Hybrid execution: the first n_cpu_moe layers keep their experts in host
// memory. Steps of fewer than stream_min_tokens tokens compute those experts
// on the CPU (the GPU sends the normed hidden states and the routing, gets
// back the weighted sum); larger steps copy each used expert to the GPU, where
// a prompt chunk's many tokens per expert pay for the copy.
struct CudaRunnerOptions {
  int device = 0;
  int max_step_tokens = 2048;
  int n_cpu_moe = 0;
  int cpu_threads = 0;          // for the host experts; 0 = all cores
  int stream_min_tokens = -1;   // -1: $GPTOSS_HYBRID_STREAM_TOKENS, else 64
  // Of each token's top-k experts in a host layer, how many the GPU computes
  // itself, reading their weights from host memory over PCIe, while the CPU
  // computes the rest (-1: $GPTOSS_HYBRID_GPU_SLOTS, else kDefaultGpuSlots).
  int gpu_slots = -1;
  // Keep an int8 copy of the unembedding (V x H bytes) so that decode steps
  // of 1 or 2 rows that need only their tokens read the bf16 rows that can
  // win instead of all of them (cuda::bounded_choose_tokens). Taken only when
  // every expert is on the GPU and 4 GiB stay free besides.
  bool bounded_unembedding = true;
  // Tensor parallelism: this runner is one rank (its slice of heads and
  // expert columns); `group` sums the residual after attention and experts.
  TpShard shard{0, 1};
  const cuda::NcclGroup* group = nullptr;
  int group_local_rank = 0;  // index of this rank's communicator in `group`
};

// The options of one tensor-parallel rank: its device, shard and communicator.
inline CudaRunnerOptions tp_rank_options(int device, int max_step_tokens, const TpShard& shard,
                                         const cuda::NcclGroup* group, int group_local_rank) {
  CudaRunnerOptions o;
  o.device = device;
  o.max_step_tokens = max_step_tokens;
  o.shard = shard;
  o.group = group;
  o.group_local_rank = group_local_rank;
  return o;
}

std::unique_ptr<ModelRunner> make_cuda_runner(const ModelSource& source, const CudaRunnerOptions& options);
std::unique_ptr<ModelRunner> make_cuda_runner(const ModelSource& source, int device_index, int max_step_tokens);

// Free and total memory of a CUDA device; false when it cannot be queried.
bool cuda_memory_info(int device_index, size_t* free_bytes, size_t* total_bytes);

// Number of CUDA devices usable here (0 when no driver or GPU).
int cuda_device_count();

}  // namespace gptoss

namespace gptoss {
// Device-to-device copy bandwidth in bytes/s (bytes read + written), and the
// datasheet memory bandwidth of known GPUs (0 if unknown).
double measure_copy_bandwidth(int device_index);
double datasheet_bandwidth(int device_index);
}  // namespace gptoss
