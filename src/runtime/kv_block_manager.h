#pragma once
// Hands out paged KV blocks to sequences (see model/kv_layout.h for how the
// runner reads them) and shares them between sequences with a common prefix.
//
// Full-attention layers: one block per block_size positions, kept for the
// sequence's life. Sliding-window layers: the sequence's table is a ring of
// ring_slots() slots (logical block b in slot b % ring_slots()); a slot holds
// a block only while some position of that block can still be attended to, so
// a decoding sequence holds about window/block_size + 2 window blocks.
//
// Prefix caching. Every complete block (full and window) is registered under
// a hash of all tokens up to its end. A new sequence reuses the longest run
// of leading blocks P = j * block_size for which (a) all j full blocks are
// cached and (b) the window blocks covering positions [P - window + 1, P) are
// cached too, so that position P sees exactly the keys and values it would
// have computed itself. Window blocks are therefore never overwritten in
// place: when a position leaves every window its block is released (and stays
// cached until reused), and a fresh block takes the slot. Recomputing the
// last window of a prefix instead would NOT be exact: a sliding layer's keys
// depend on earlier sliding layers' windows, so the error would reach back
// window x (sliding layers) tokens and into the full-attention keys.
#include <cstdint>
#include <span>
#include <vector>

#include "model/kv_layout.h"
#include "runtime/block_pool.h"

namespace gptoss {

// One sequence's blocks. Owned by the sequence, changed only by the manager.
struct SeqBlockTable {
  std::vector<int32_t> full;            // logical block -> block id
  std::vector<int32_t> window;          // ring slot -> block id (any held id when unused)
  std::vector<int32_t> window_logical;  // ring slot -> logical block it holds, -1: none
  std::vector<uint64_t> hashes;         // hash of each complete logical block, in order

  SeqKv kv() const { return SeqKv{full, window}; }
  bool empty() const { return full.empty() && hashes.empty(); }
};

struct KvUsage {
  int full_used = 0, full_total = 0, full_cached = 0;
  int window_used = 0, window_total = 0, window_cached = 0;
};

class KvBlockManager {
 public:
  // max_step_tokens: the most new tokens one sequence brings to a step.
  KvBlockManager(const KvCacheConfig& cfg, int sliding_window, int max_step_tokens, bool prefix_caching = true);

  int block_size() const { return block_size_; }
  int ring_slots() const { return ring_; }
  int blocks_for(int tokens) const { return (tokens + block_size_ - 1) / block_size_; }
  // Whether a sequence of this many tokens fits when it has the cache to itself.
  bool fits(int tokens) const;

  // For a sequence with an empty table: shares the cached blocks of the
  // longest usable prefix of `tokens` (never all of them: the last token is
  // always computed) and returns how many positions need no computing.
  int match_prefix(std::span<const int32_t> tokens, SeqBlockTable& t);
  // Makes sure positions [pos0, pos0 + n) can be written and their windows
  // read. False (and nothing allocated) when the pools are too empty.
  bool prepare_step(SeqBlockTable& t, int pos0, int n);
  // After a step: positions [0, computed) hold keys and values of `tokens`;
  // newly completed blocks become shareable.
  void commit(SeqBlockTable& t, std::span<const int32_t> tokens, int computed);
  // Gives every block back (cached ones stay revivable).
  void release(SeqBlockTable& t);

  KvUsage usage() const;
  static uint64_t hash_block(uint64_t parent, std::span<const int32_t> tokens);

 private:
  bool has_window() const { return window_.total() > 0; }
  void fill_unused_slots(SeqBlockTable& t) const;

  int block_size_, sliding_window_, ring_;
  bool prefix_caching_;
  BlockPool full_, window_;
};

}  // namespace gptoss
