#include "constrain/token_mask.h"

namespace gptoss::constrain {

namespace {

// states[d]: the state after the first d bytes of the current trie path.
std::vector<MatchState>& path_states() {
  thread_local std::vector<MatchState> states(257);
  return states;
}

void allow(TokenMask& mask, const Vocabulary& v, int32_t token) {
  mask_allow(mask, token);
  for (int32_t twin : v.twins(token)) mask_allow(mask, twin);
}

// Trie nodes [from, to), all below a node whose state is in states[]: each
// node's byte is fed to its parent's state; a refused subtree is skipped.
void walk(const Matcher& m, const Vocabulary& v, uint32_t from, uint32_t to, TokenMask& mask) {
  auto& states = path_states();
  const auto& trie = v.trie();
  for (uint32_t k = from; k < to;) {
    const Vocabulary::TrieNode& t = trie[k];
    MatchState& s = states[t.depth];
    m.feed(states[t.depth - 1], t.byte, s);
    if (s.dead()) {
      k = t.skip;
      continue;
    }
    if (t.token >= 0) allow(mask, v, t.token);
    ++k;
  }
}

// Inside a string without a pattern (the common long case: free text in a
// JSON string), one stack whose top is the string: a byte changes only that
// frame until the closing quote, so the walk steps a copy of the frame
// (Matcher::string_byte) instead of whole states, and goes back to the
// general walk below each closing quote, from the one state every close
// leads to.
bool walk_inside_string(const Matcher& m, const Vocabulary& v, const MatchState& state, TokenMask& mask) {
  if (state.ends.size() != 1 || state.frames.empty()) return false;
  const Frame& top = state.frames.back();
  if (top.node < 0) return false;
  const Node& n = m.grammar().nodes[size_t(top.node)];
  if (n.kind != NodeKind::String || n.dfa >= 0 || top.st == 0) return false;
  // The state after the closing quote does not depend on the characters
  // before it (the frame is gone): computed once, from a frame that may close.
  MatchState closed;
  {
    MatchState s = state;
    Frame& f = s.frames.back();
    f.i = int32_t(std::max<int64_t>(top.i, n.min_count));
    f.st = 1, f.aux = 0;
    m.feed(s, '"', closed);
  }
  thread_local std::vector<Frame> frames(257);
  frames[0] = top;
  auto& states = path_states();
  const auto& trie = v.trie();
  const uint32_t count = uint32_t(trie.size());
  for (uint32_t k = 0; k < count;) {
    const Vocabulary::TrieNode& t = trie[k];
    Frame f = frames[t.depth - 1];
    const Matcher::ByteStep r = Matcher::string_byte(n, nullptr, f, t.byte);
    if (r == Matcher::ByteStep::Reject || (r == Matcher::ByteStep::Close && closed.dead())) {
      k = t.skip;
      continue;
    }
    if (t.token >= 0) allow(mask, v, t.token);
    if (r == Matcher::ByteStep::Close) {
      states[t.depth] = closed;
      walk(m, v, k + 1, t.skip, mask);
      k = t.skip;
      continue;
    }
    frames[t.depth] = f;
    ++k;
  }
  return true;
}

}  // namespace

TokenMask compute_token_mask(const Matcher& m, const Vocabulary& v, const MatchState& state) {
  TokenMask mask(size_t(v.mask_words()), 0);
  if (walk_inside_string(m, v, state, mask)) return mask;
  path_states()[0] = state;
  walk(m, v, 0, uint32_t(v.trie().size()), mask);
  return mask;
}

std::shared_ptr<const TokenMask> MaskCache::get(const Matcher& m, const Vocabulary& v, const MatchState& state) {
  return get(m.mask_key(state), [&] { return compute_token_mask(m, v, state); });
}

std::shared_ptr<const TokenMask> MaskCache::get(const std::string& key_in, const std::function<TokenMask()>& build) {
  std::string key = key_in;
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
  auto mask = std::make_shared<const TokenMask>(build());
  std::lock_guard lock(mu_);
  if (masks_.size() >= max_) masks_.clear();
  masks_.emplace(std::move(key), mask);
  return mask;
}

}  // namespace gptoss::constrain
