#pragma once
// Addressing of a layer's paged KV cache (cuda_kernels.h TokenKv): blocks of
// block_size positions, each holding the keys then the values of every kv
// head; sliding layers map positions onto a ring of window_len blocks.
#include <cstddef>
#include <cstdint>

#include "backend/cuda/cuda_kernels.h"

namespace gptoss::cuda {

// Offset of kv head g's key row (v = 0) or value row (v = 1) at position j of
// sequence seq; KV = n_kv * head_dim. kL2: the block tables are read through
// L2 only, as a kernel may before its PDL wait (launch.cuh).
template <bool kL2 = false>
__device__ __forceinline__ size_t kv_row_offset(const TokenKv& tk, bool sliding, int seq, int j, int KV, int g,
                                                int head_dim, int v) {
  const int b = j / tk.block_size, r = j % tk.block_size;
  const int32_t* entry = sliding ? tk.window_table + seq * tk.window_pitch +
                                       b % (kL2 ? __ldcg(tk.window_len + seq) : tk.window_len[seq])
                                 : tk.full_table + seq * tk.full_pitch + b;
  const int32_t block = kL2 ? __ldcg(entry) : *entry;
  return ((size_t(block) * 2 + v) * tk.block_size + r) * KV + size_t(g) * head_dim;
}

}  // namespace gptoss::cuda
