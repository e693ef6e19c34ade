#pragma once
// How a sequence's keys and values are found in the paged KV cache.
//
// Full-attention layers keep every position: position p lives in block
// full_blocks[p / block_size] at row p % block_size. Sliding-window layers
// keep only recent positions in a ring of blocks owned by the sequence:
// logical block b lives in window_blocks[b % window_blocks.size()]. One block
// id addresses that block in every layer of its kind, so one allocation covers
// all layers. The ring must hold the window plus the tokens of one step
// (window_ring_blocks says how many blocks that takes).
#include <cstdint>
#include <span>

namespace gptoss {

struct KvCacheConfig {
  int block_size = 16;
  int num_full_blocks = 0;    // pool shared by all sequences, full-attention layers
  int num_window_blocks = 0;  // pool for the sliding-window rings
};

struct SeqKv {
  std::span<const int32_t> full_blocks;
  std::span<const int32_t> window_blocks;
};

// Blocks a sequence's ring needs so that a step of up to max_step_tokens new
// tokens never overwrites a key still inside some new token's window.
inline int window_ring_blocks(int sliding_window, int max_step_tokens, int block_size) {
  return (sliding_window + max_step_tokens + block_size - 1) / block_size + 1;
}

inline int32_t kv_block_for(const SeqKv& kv, bool sliding, int pos, int block_size) {
  int b = pos / block_size;
  return sliding ? kv.window_blocks[size_t(b) % kv.window_blocks.size()] : kv.full_blocks[size_t(b)];
}

}  // namespace gptoss
