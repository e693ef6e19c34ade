#pragma once
// GPTOSS_HD marks small functions that both the host compiler and the CUDA
// kernels use (headers shared by tests on the host and by .cu files).
#if defined(__CUDACC__)
#define GPTOSS_HD __host__ __device__ __forceinline__
#else
#define GPTOSS_HD inline
#endif
