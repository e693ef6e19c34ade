#pragma once
// Flat open-addressing hash tables for the two lookups BPE does millions of
// times: bytes -> token id, and (left id, right id) -> (merge rank, merged id).
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace gptoss {

inline size_t table_capacity(size_t n) {
  size_t cap = 16;
  while (cap < n * 2) cap <<= 1;
  return cap;
}

// Maps the bytes of a token to its id. The bytes themselves live in the
// caller's id -> bytes vector; the table holds only ids.
class TokenIndex {
 public:
  void build(const std::vector<std::string>& bytes, const std::vector<uint8_t>& include) {
    size_t n = 0;
    for (auto b : include) n += b;
    slots_.assign(table_capacity(n), -1);
    mask_ = slots_.size() - 1;
    bytes_ = &bytes;
    for (size_t id = 0; id < bytes.size(); ++id)
      if (include[id]) insert(static_cast<int32_t>(id));
  }
  // -1 when absent.
  int32_t find(std::string_view s) const {
    for (size_t i = hash(s) & mask_;; i = (i + 1) & mask_) {
      int32_t id = slots_[i];
      if (id < 0) return -1;
      if ((*bytes_)[id] == s) return id;
    }
  }

 private:
  static size_t hash(std::string_view s) { return std::hash<std::string_view>{}(s); }
  void insert(int32_t id) {
    const std::string& s = (*bytes_)[id];
    size_t i = hash(s) & mask_;
    while (slots_[i] >= 0) {
      if ((*bytes_)[slots_[i]] == s) return;  // duplicate bytes: the first id wins
      i = (i + 1) & mask_;
    }
    slots_[i] = id;
  }
  std::vector<int32_t> slots_;
  size_t mask_ = 0;
  const std::vector<std::string>* bytes_ = nullptr;
};

struct Merge {
  int32_t rank;
  int32_t id;
};

class MergeTable {
 public:
  static constexpr Merge kNone{INT32_MAX, -1};
  void reserve(size_t n) {
    keys_.assign(table_capacity(n), kEmpty);
    vals_.assign(keys_.size(), kNone);
    shift_ = 64 - __builtin_ctzll(keys_.size());
  }
  // A pair listed twice keeps its later rank, as Hugging Face tokenizers does.
  void insert(int32_t left, int32_t right, Merge m) {
    uint64_t k = key(left, right);
    size_t i = slot(k);
    while (keys_[i] != kEmpty && keys_[i] != k) i = (i + 1) & (keys_.size() - 1);
    keys_[i] = k;
    vals_[i] = m;
  }
  Merge find(int32_t left, int32_t right) const {
    uint64_t k = key(left, right);
    for (size_t i = slot(k);; i = (i + 1) & (keys_.size() - 1)) {
      if (keys_[i] == k) return vals_[i];
      if (keys_[i] == kEmpty) return kNone;
    }
  }

 private:
  static constexpr uint64_t kEmpty = ~uint64_t(0);
  static uint64_t key(int32_t l, int32_t r) { return (uint64_t(uint32_t(l)) << 32) | uint32_t(r); }
  size_t slot(uint64_t k) const { return (k * 0x9E3779B97F4A7C15ull) >> shift_; }
  std::vector<uint64_t> keys_;
  std::vector<Merge> vals_;
  int shift_ = 60;
};

}  // namespace gptoss
