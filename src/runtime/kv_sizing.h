#pragma once
// From a byte budget to pool sizes. The sliding-window pool gets what every
// admitted sequence can need at once (its window plus its share of a step)
// plus room to keep finished windows for the prefix cache; the full-attention
// pool gets the rest: that is what bounds total context across sequences.
#include <cstdint>
#include <string>

#include "model/model_runner.h"

namespace gptoss {

struct KvSizingInput {
  uint64_t budget_bytes = 0;
  int block_size = 16;
  int max_num_seqs = 64;
  int max_num_batched_tokens = 2048;
  int max_step_tokens = 2048;  // per sequence
};

KvCacheConfig plan_kv_cache(const ModelRunner& runner, const KvSizingInput& in);
// Blocks of the sliding-window pool for these limits (0 without sliding layers);
// the memory planner uses it to size KV before any runner exists.
int window_pool_blocks(const ModelConfig& config, const KvSizingInput& in);
// "1234 full blocks (19744 tokens), 410 window blocks, 12.0 MiB"
std::string describe_kv_cache(const ModelRunner& runner, const KvCacheConfig& kv);

}  // namespace gptoss
