#include "constrain/vocabulary.h"

#include <algorithm>

#include "constrain/grammar.h"
#include "harmony/special_tokens.h"

namespace gptoss::constrain {

Vocabulary::Vocabulary(const Tokenizer& tok, int model_vocab)
    : size_(model_vocab), bytes_(size_t(model_vocab)), usable_(size_t(model_vocab), false),
      text_mask_(size_t((model_vocab + 31) / 32), 0) {
  std::vector<int32_t> order;
  for (int32_t id = 0; id < model_vocab; ++id) {
    if (!tok.has_token(id)) continue;
    if (harmony::special_from_id(id)) {
      bytes_[size_t(id)] = marker_of(id);
    } else if (tok.is_special(id) || (id >= harmony::kFirstSpecialId && id <= harmony::kLastSpecialId)) {
      continue;  // reserved: never part of an answer
    } else {
      std::string b = tok.token_bytes(id);
      if (b.empty() || b.size() > 255) continue;
      if (std::any_of(b.begin(), b.end(), [](char c) { return uint8_t(c) >= 0xF5; })) continue;
      bytes_[size_t(id)] = std::move(b);
      mask_allow(text_mask_, id);
    }
    usable_[size_t(id)] = true;
    order.push_back(id);
  }
  std::sort(order.begin(), order.end(), [&](int32_t a, int32_t b) {
    return bytes_[size_t(a)] != bytes_[size_t(b)] ? bytes_[size_t(a)] < bytes_[size_t(b)] : a < b;
  });
  // Preorder: a string adds the nodes of its bytes past the prefix it shares
  // with the string before it.
  const std::string* prev = nullptr;
  std::vector<uint32_t> path;  // node index per depth - 1 on the current path
  for (int32_t id : order) {
    const std::string& s = bytes_[size_t(id)];
    size_t common = 0;
    if (prev) {
      while (common < s.size() && common < prev->size() && (*prev)[common] == s[common]) ++common;
      if (common == s.size() && prev->size() == s.size()) {  // the same bytes as the one before
        const int32_t first = trie_[path.back()].token;
        auto it = std::find_if(twins_.begin(), twins_.end(), [&](auto& p) { return p.first == first; });
        if (it == twins_.end()) twins_.push_back({first, {id}});
        else it->second.push_back(id);
        continue;
      }
    }
    path.resize(common);
    for (size_t k = common; k < s.size(); ++k) {
      path.push_back(uint32_t(trie_.size()));
      trie_.push_back(TrieNode{uint8_t(s[k]), uint8_t(k + 1), -1, 0});
    }
    trie_.back().token = id;
    prev = &s;
  }
  // skip: the next node no deeper than this one.
  std::vector<uint32_t> open;
  for (uint32_t k = 0; k < trie_.size(); ++k) {
    while (!open.empty() && trie_[open.back()].depth >= trie_[k].depth) trie_[open.back()].skip = k, open.pop_back();
    open.push_back(k);
  }
  for (uint32_t k : open) trie_[k].skip = uint32_t(trie_.size());
}

const std::vector<int32_t>& Vocabulary::twins(int32_t id) const {
  static const std::vector<int32_t> none;
  for (auto& [first, rest] : twins_)
    if (first == id) return rest;
  return none;
}

}  // namespace gptoss::constrain
