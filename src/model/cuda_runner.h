#pragma once
// The fast gpt-oss forward pass on one NVIDIA GPU. Dense projections through
// cuBLAS (bf16 in, float32 accumulate), MXFP4 experts kept MXFP4 in GPU memory
// (GEMV kernels for decode-sized steps; dequantise-and-GEMM per expert for
// prefill), paged bf16 KV cache, and decode steps replayed as CUDA graphs.
#include <memory>

#include "format/model_source.h"
#include "model/model_runner.h"

namespace gptoss {

std::unique_ptr<ModelRunner> make_cuda_runner(const ModelSource& source, int device_index, int max_step_tokens);

// Number of CUDA devices usable here (0 when no driver or GPU).
int cuda_device_count();

}  // namespace gptoss

namespace gptoss {
// Device-to-device copy bandwidth in bytes/s (bytes read + written), and the
// datasheet memory bandwidth of known GPUs (0 if unknown).
double measure_copy_bandwidth(int device_index);
double datasheet_bandwidth(int device_index);
}  // namespace gptoss
