#pragma once
// Which tokens may come next: a bit per vocabulary entry, set when the
// token's bytes keep the grammar alive. Built by one preorder pass over the
// vocabulary trie that feeds each trie byte to the matcher once and skips
// every subtree the grammar refuses, so the cost follows the tokens that are
// possible, not all 201K; masks of states seen before come from a cache
// (states repeat: every character of a long free string, every value of an
// array of enums).
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "constrain/matcher.h"
#include "constrain/vocabulary.h"

namespace gptoss::constrain {

using TokenMask = std::vector<uint32_t>;  // Vocabulary::mask_words() words

// The mask for `state`, computed (no cache).
TokenMask compute_token_mask(const Matcher& m, const Vocabulary& v, const MatchState& state);

// Masks of one grammar by state, shared by every sequence that uses it.
class MaskCache {
 public:
  explicit MaskCache(size_t max_entries = 512) : max_(max_entries) {}
  std::shared_ptr<const TokenMask> get(const Matcher& m, const Vocabulary& v, const MatchState& state);
  // The mask cached under `key`, made by `build` the first time.
  std::shared_ptr<const TokenMask> get(const std::string& key, const std::function<TokenMask()>& build);
  size_t hits() const { return hits_; }
  size_t misses() const { return misses_; }

 private:
  std::mutex mu_;
  size_t max_;
  std::unordered_map<std::string, std::shared_ptr<const TokenMask>> masks_;
  size_t hits_ = 0, misses_ = 0;
};

}  // namespace gptoss::constrain
