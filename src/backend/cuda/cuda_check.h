#pragma once
// CUDA and cuBLAS failures become gptoss::Error with the call and location.
#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <string>

#include "core/error.h"

#define GPTOSS_CUDA_CHECK(call)                                                                        \
  do {                                                                                                 \
    cudaError_t err_ = (call);                                                                         \
    if (err_ != cudaSuccess)                                                                           \
      throw ::gptoss::Error(std::string("CUDA error: ") + cudaGetErrorString(err_) + " in " #call " (" + \
                            __FILE__ + ":" + std::to_string(__LINE__) + ")");                         \
  } while (0)

#define GPTOSS_CUBLAS_CHECK(call)                                                                          \
  do {                                                                                                     \
    cublasStatus_t st_ = (call);                                                                           \
    if (st_ != CUBLAS_STATUS_SUCCESS)                                                                      \
      throw ::gptoss::Error(std::string("cuBLAS error ") + std::to_string(int(st_)) + " in " #call " (" + \
                            __FILE__ + ":" + std::to_string(__LINE__) + ")");                             \
  } while (0)
