#pragma once
// The wgmma kernel of the grouped MoE GEMMs (moe_gemm_sm90.cu), for
// moe_gemm.cu's dispatch.
#include <cuda_runtime.h>

#include "backend/cuda/cuda_kernels.h"

namespace gptoss::cuda {

// This device is Hopper and this build holds its sm_90a code.
bool moe_grouped_sm90_available();

// The 64- and 128-slot tiles find their place by a scan of the offsets (moe_gemm.cu).
bool grouped_tile_scan();

// Tiles of the wgmma kernel: 128 slots x 128 weight rows, two blocks an SM;
// the same with the next chunk's weights dequantised while this one's
// products run (one block an SM); 64 slots x 128 rows (steps whose experts
// have few slots each: half the tensor-core work on empty slots). The narrow
// ones are moe_gemm_sm90_narrow.cu's: 128 weight rows as M x up to 32, 48 or
// 64 slots as N.
enum class Sm90Tile { k128, k128Pipelined, k64, kNarrow32, kNarrow48, kNarrow64 };

// moe_gemm.cu's launch_gemm on wgmma (same arguments).
template <bool kGateUp>
void moe_gemm_sm90(const bf16_raw* xq, int T, const uint8_t* blocks, const uint8_t* scales, const bf16_raw* bias,
                   int rows, int K, int k, int E, const int32_t* offsets, const int32_t* slots, float alpha,
                   float limit, bf16_raw* act_out, float* y_out, cudaStream_t s, Sm90Tile tile);

// The narrow kernels' shared memory, allowed for this device (at load time: not inside a graph capture).
void moe_gemm_sm90_narrow_allow();

// The narrow tiles (moe_gemm_sm90_narrow.cu): tiles of at most max_slots (32, 48, 64) slots.
template <bool kGateUp>
void moe_gemm_sm90_narrow(const bf16_raw* xq, int T, const uint8_t* blocks, const uint8_t* scales,
                          const bf16_raw* bias, int rows, int K, int k, int E, const int32_t* offsets,
                          const int32_t* slots, float alpha, float limit, bf16_raw* act_out, float* y_out,
                          cudaStream_t s, int max_slots);

}  // namespace gptoss::cuda
