#include "runtime/block_pool.h"

#include "core/error.h"

namespace gptoss {

BlockPool::BlockPool(int n) : ref_(size_t(n), 0), hash_of_(size_t(n)), where_(size_t(n)) {
  for (int32_t b = 0; b < n; ++b) where_[size_t(b)] = free_.insert(free_.end(), b);
}

std::optional<int32_t> BlockPool::allocate() {
  if (free_.empty()) return std::nullopt;
  const int32_t b = free_.front();
  free_.pop_front();
  if (auto& h = hash_of_[size_t(b)]) {
    by_hash_.erase(*h);
    h.reset();
  }
  ref_[size_t(b)] = 1;
  return b;
}

std::optional<int32_t> BlockPool::share(uint64_t hash) {
  auto it = by_hash_.find(hash);
  if (it == by_hash_.end()) return std::nullopt;
  const int32_t b = it->second;
  if (ref_[size_t(b)]++ == 0) free_.erase(where_[size_t(b)]);
  return b;
}

void BlockPool::register_hash(int32_t b, uint64_t hash) {
  if (hash_of_[size_t(b)] || by_hash_.count(hash)) return;
  hash_of_[size_t(b)] = hash;
  by_hash_[hash] = b;
}

void BlockPool::release(int32_t b) {
  if (ref_[size_t(b)] <= 0) throw Error("KV block " + std::to_string(b) + " released twice (internal error)");
  if (--ref_[size_t(b)] == 0) where_[size_t(b)] = free_.insert(free_.end(), b);
}

}  // namespace gptoss
