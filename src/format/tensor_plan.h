#pragma once
// The tensors a gpt-oss checkpoint holds, with dtypes and shapes from the
// config: what synthetic models are made of, and what `inspect` reports
// without making them.
#include <string>
#include <vector>

#include "format/dtype.h"
#include "format/model_config.h"

namespace gptoss {

enum class TensorRole { Dense, Norm, Sink, Router, ExpertBlocks, ExpertScales, ExpertBias };

struct PlannedTensor {
  std::string name;
  DType dtype;
  std::vector<int64_t> shape;
  TensorRole role;
  size_t bytes() const {
    size_t n = dtype_size(dtype);
    for (auto d : shape) n *= size_t(d);
    return n;
  }
};

std::vector<PlannedTensor> plan_tensors(const ModelConfig& config);

}  // namespace gptoss
