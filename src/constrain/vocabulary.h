#pragma once
// The model's vocabulary as the grammar sees it: each token's bytes (Harmony
// control tokens as their grammar markers, see grammar.h), in a trie laid
// out in preorder so that a mask is one pass that skips every subtree whose
// prefix the grammar already refuses (token_mask.h).
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "tokenizer/tokenizer.h"

namespace gptoss::constrain {

class Vocabulary {
 public:
  struct TrieNode {
    uint8_t byte;
    uint8_t depth;      // 1 for a first byte
    int32_t token;      // a token ending here, or -1
    uint32_t skip;      // the index after this node's subtree
  };

  // model_vocab: ids the model can produce (masks have this many bits);
  // ids the tokenizer lacks, reserved specials and tokens with bytes that
  // valid UTF-8 never has (0xF5..0xFF) are never allowed.
  Vocabulary(const Tokenizer& tokenizer, int model_vocab);

  int size() const { return size_; }
  int mask_words() const { return (size_ + 31) / 32; }
  const std::string& bytes(int32_t id) const { return bytes_[size_t(id)]; }
  bool usable(int32_t id) const { return usable_[size_t(id)]; }
  const std::vector<TrieNode>& trie() const { return trie_; }
  // Tokens with the same bytes as `id` (other than id), usually none.
  const std::vector<int32_t>& twins(int32_t id) const;
  // Every usable token that is plain text (no marker): the free-text mask
  // without its end token.
  const std::vector<uint32_t>& text_mask() const { return text_mask_; }

 private:
  int size_;
  std::vector<std::string> bytes_;
  std::vector<bool> usable_;
  std::vector<TrieNode> trie_;
  std::vector<std::pair<int32_t, std::vector<int32_t>>> twins_;
  std::vector<uint32_t> text_mask_;
};

inline void mask_allow(std::vector<uint32_t>& m, int32_t t) { m[size_t(t) >> 5] |= 1u << (t & 31); }

}  // namespace gptoss::constrain
