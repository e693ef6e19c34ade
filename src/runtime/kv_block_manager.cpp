#include "runtime/kv_block_manager.h"

#include <algorithm>

#include "core/error.h"

namespace gptoss {

KvBlockManager::KvBlockManager(const KvCacheConfig& cfg, int sliding_window, int max_step_tokens, bool prefix_caching)
    : block_size_(cfg.block_size),
      sliding_window_(sliding_window),
      ring_(window_ring_blocks(sliding_window, max_step_tokens, cfg.block_size)),
      prefix_caching_(prefix_caching),
      full_(cfg.num_full_blocks),
      window_(cfg.num_window_blocks) {
  if (block_size_ <= 0) throw Error("KV block size must be positive");
  if (cfg.num_full_blocks <= 0) throw Error("the KV cache has no blocks: raise --kv-cache-size");
  if (has_window() && cfg.num_window_blocks < ring_)
    throw Error("the sliding-window KV pool has " + std::to_string(cfg.num_window_blocks) + " blocks but one sequence needs " +
                std::to_string(ring_) + ": raise --kv-cache-size or lower --max-num-batched-tokens");
}

bool KvBlockManager::fits(int tokens) const { return blocks_for(tokens) <= full_.total(); }

uint64_t KvBlockManager::hash_block(uint64_t parent, std::span<const int32_t> tokens) {
  auto mix = [](uint64_t z) {  // splitmix64 finaliser
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  };
  uint64_t h = mix(parent + 0x9e3779b97f4a7c15ULL);
  for (int32_t t : tokens) h = mix(h ^ (uint64_t(uint32_t(t)) + 0x9e3779b97f4a7c15ULL));
  return h;
}

int KvBlockManager::match_prefix(std::span<const int32_t> tokens, SeqBlockTable& t) {
  if (!prefix_caching_ || tokens.empty() || !t.empty()) return 0;
  const int B = block_size_;
  const int max_blocks = int(tokens.size() - 1) / B;
  std::vector<uint64_t> h;
  uint64_t parent = 0;
  for (int b = 0; b < max_blocks; ++b) {
    parent = hash_block(parent, tokens.subspan(size_t(b) * B, size_t(B)));
    if (!full_.contains(parent)) break;
    h.push_back(parent);
  }
  auto first_window_block = [&](int j) { return std::max(0, j * B - sliding_window_ + 1) / B; };
  int j = int(h.size());
  if (has_window()) {
    for (; j > 0; --j) {
      bool ok = true;
      for (int b = first_window_block(j); b < j && ok; ++b) ok = window_.contains(h[size_t(b)]);
      if (ok) break;
    }
  }
  if (j == 0) return 0;
  for (int b = 0; b < j; ++b) t.full.push_back(*full_.share(h[size_t(b)]));
  t.hashes.assign(h.begin(), h.begin() + j);
  if (has_window()) {
    t.window.assign(size_t(ring_), 0);
    t.window_logical.assign(size_t(ring_), -1);
    for (int b = first_window_block(j); b < j; ++b) {
      const size_t slot = size_t(b % ring_);
      t.window[slot] = *window_.share(h[size_t(b)]);
      t.window_logical[slot] = b;
    }
    fill_unused_slots(t);
  }
  return j * B;
}

bool KvBlockManager::prepare_step(SeqBlockTable& t, int pos0, int n) {
  const int end = pos0 + n;
  const int need_full = std::max(0, blocks_for(end) - int(t.full.size()));
  int need_window = 0, lo = 0, hi = -1;
  if (has_window()) {
    if (t.window.empty()) {
      t.window.assign(size_t(ring_), 0);
      t.window_logical.assign(size_t(ring_), -1);
    }
    lo = std::max(0, pos0 - sliding_window_ + 1) / block_size_;
    hi = (end - 1) / block_size_;
    if (hi - lo + 1 > ring_) throw Error("a step of " + std::to_string(n) + " tokens is larger than the KV ring allows");
    for (size_t s = 0; s < t.window.size(); ++s) {  // blocks no window reaches any more
      if (t.window_logical[s] >= 0 && t.window_logical[s] < lo) {
        window_.release(t.window[s]);
        t.window_logical[s] = -1;
      }
    }
    for (int b = lo; b <= hi; ++b) need_window += t.window_logical[size_t(b % ring_)] != b;
  }
  if (full_.free_count() < need_full || window_.free_count() < need_window) {
    if (has_window()) fill_unused_slots(t);
    return false;
  }
  for (int i = 0; i < need_full; ++i) t.full.push_back(*full_.allocate());
  for (int b = lo; b <= hi; ++b) {
    const size_t slot = size_t(b % ring_);
    if (t.window_logical[slot] == b) continue;
    t.window[slot] = *window_.allocate();
    t.window_logical[slot] = b;
  }
  if (has_window()) fill_unused_slots(t);
  return true;
}

void KvBlockManager::commit(SeqBlockTable& t, std::span<const int32_t> tokens, int computed) {
  const int B = block_size_;
  for (int b = int(t.hashes.size()); (b + 1) * B <= computed; ++b) {
    const uint64_t h = hash_block(t.hashes.empty() ? 0 : t.hashes.back(), tokens.subspan(size_t(b) * B, size_t(B)));
    t.hashes.push_back(h);
    if (!prefix_caching_) continue;
    full_.register_hash(t.full[size_t(b)], h);
    if (has_window() && t.window_logical[size_t(b % ring_)] == b) window_.register_hash(t.window[size_t(b % ring_)], h);
  }
}

void KvBlockManager::release(SeqBlockTable& t) {
  for (int32_t b : t.full) full_.release(b);
  for (size_t s = 0; s < t.window_logical.size(); ++s)
    if (t.window_logical[s] >= 0) window_.release(t.window[s]);
  t = SeqBlockTable{};
}

void KvBlockManager::fill_unused_slots(SeqBlockTable& t) const {
  // The runner never touches an unused slot, but every id in the table must be
  // a valid block: use one this sequence holds.
  int32_t any = 0;
  for (size_t s = 0; s < t.window.size(); ++s)
    if (t.window_logical[s] >= 0) any = t.window[s];
  for (size_t s = 0; s < t.window.size(); ++s)
    if (t.window_logical[s] < 0) t.window[s] = any;
}

KvUsage KvBlockManager::usage() const {
  return KvUsage{full_.used_count(), full_.total(), full_.cached_count(),
                 window_.used_count(), window_.total(), window_.cached_count()};
}

}  // namespace gptoss
