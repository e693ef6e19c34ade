#pragma once
// Tensor parallelism in one process: a CUDA runner per GPU, each holding its
// rank's heads and expert columns (model/tensor_parallel.h), a thread per GPU
// driving it, and NCCL summing the residual stream twice a layer. The engine,
// scheduler, tokenizer and API see one ModelRunner.
#include <memory>
#include <vector>

#include "format/model_source.h"
#include "model/model_runner.h"

namespace gptoss {

// devices: one per rank (e.g. {0, 1}); throws Error when the model does not
// split that many ways or a device is missing. expert_parallel: each GPU keeps
// whole experts (model/tensor_parallel.h) instead of a slice of every one.
std::unique_ptr<ModelRunner> make_tensor_parallel_runner(const ModelSource& source, const std::vector<int>& devices,
                                                         int max_step_tokens, bool expert_parallel = false);

}  // namespace gptoss
