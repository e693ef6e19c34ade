#include "runtime/kv_sizing.h"

#include <algorithm>

#include "core/error.h"
#include "core/mem_size.h"

namespace gptoss {

int window_pool_blocks(const ModelConfig& c, const KvSizingInput& in) {
  bool any_sliding = false;
  for (int l = 0; l < c.num_layers; ++l) any_sliding = any_sliding || c.is_sliding(l);
  if (!any_sliding) return 0;
  const int B = in.block_size;
  // Each sequence reads at most window + its step tokens: W/B + 2 blocks
  // beyond its share of the step budget; half as much again is cache room.
  const int ring = window_ring_blocks(c.sliding_window, in.max_step_tokens, B);
  const int per_seq = (c.sliding_window + B - 1) / B + 2;
  const int need = in.max_num_seqs * per_seq + (in.max_num_batched_tokens + B - 1) / B + in.max_num_seqs;
  return std::max(ring, need + need / 2);
}

KvCacheConfig plan_kv_cache(const ModelRunner& runner, const KvSizingInput& in) {
  const ModelConfig& c = runner.config();
  const int B = in.block_size;
  const size_t fb = runner.full_block_bytes(B), wb = runner.window_block_bytes(B);
  KvCacheConfig kv;
  kv.block_size = B;
  if (wb > 0) kv.num_window_blocks = window_pool_blocks(c, in);
  const uint64_t window_bytes = uint64_t(kv.num_window_blocks) * wb;
  if (in.budget_bytes <= window_bytes + fb * 4)
    throw Error("--kv-cache-size " + format_mem_size(in.budget_bytes) + " is too small: the sliding-window layers of " +
                std::to_string(in.max_num_seqs) + " sequences alone take " + format_mem_size(window_bytes) +
                " (raise --kv-cache-size or lower --max-num-seqs)");
  kv.num_full_blocks = fb > 0 ? int(std::min<uint64_t>((in.budget_bytes - window_bytes) / fb, 1u << 30)) : 1;
  return kv;
}

std::string describe_kv_cache(const ModelRunner& runner, const KvCacheConfig& kv) {
  const uint64_t bytes = uint64_t(kv.num_full_blocks) * runner.full_block_bytes(kv.block_size) +
                         uint64_t(kv.num_window_blocks) * runner.window_block_bytes(kv.block_size);
  return std::to_string(kv.num_full_blocks) + " full blocks (" + std::to_string(int64_t(kv.num_full_blocks) * kv.block_size) +
         " tokens), " + std::to_string(kv.num_window_blocks) + " window blocks, " + format_mem_size(bytes);
}

}  // namespace gptoss
