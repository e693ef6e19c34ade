#include "constrain/token_mask.h"

namespace gptoss::constrain {

TokenMask compute_token_mask(const Matcher& m, const Vocabulary& v, const MatchState& state) {
  TokenMask mask(size_t(v.mask_words()), 0);
  const auto& trie = v.trie();
  // states[d]: the state after the first d bytes of the current trie path.
  thread_local std::vector<MatchState> states;
  if (states.size() < 257) states.resize(257);
  states[0] = state;
  const uint32_t n = uint32_t(trie.size());
  for (uint32_t k = 0; k < n;) {
    const Vocabulary::TrieNode& t = trie[k];
    MatchState& s = states[t.depth];
    m.feed(states[t.depth - 1], t.byte, s);
    if (s.dead()) {
      k = t.skip;
      continue;
    }
    if (t.token >= 0) {
      mask_allow(mask, t.token);
      for (int32_t twin : v.twins(t.token)) mask_allow(mask, twin);
    }
    ++k;
  }
  return mask;
}

std::shared_ptr<const TokenMask> MaskCache::get(const Matcher& m, const Vocabulary& v, const MatchState& state) {
  std::string key = state.key();
  {
    std::lock_guard lock(mu_);
    if (auto it = masks_.find(key); it != masks_.end()) {
      hits_++;
      return it->second;
    }
    misses_++;
  }
  // Built outside the lock: sequences of one grammar build theirs in parallel
  // (two may build the same mask once; both are right).
  auto mask = std::make_shared<const TokenMask>(compute_token_mask(m, v, state));
  std::lock_guard lock(mu_);
  if (masks_.size() >= max_) masks_.clear();
  masks_.emplace(std::move(key), mask);
  return mask;
}

}  // namespace gptoss::constrain
