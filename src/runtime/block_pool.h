#pragma once
// A pool of KV block ids with reference counts and a content-addressed cache.
//
// A block whose tokens are complete can be registered under a hash of its
// token prefix; while it stays registered another sequence with the same
// prefix may share it (ref count > 1). Freed blocks join the back of the free
// list but keep their registration, so they can still be revived by a prefix
// hit until allocation reaches them at the front (least recently freed first):
// an LRU cache made of otherwise idle memory.
#include <cstdint>
#include <list>
#include <optional>
#include <unordered_map>
#include <vector>

namespace gptoss {

class BlockPool {
 public:
  explicit BlockPool(int num_blocks);

  int total() const { return int(ref_.size()); }
  int free_count() const { return int(free_.size()); }
  int used_count() const { return total() - free_count(); }
  int cached_count() const { return int(by_hash_.size()); }

  // A fresh block with ref count 1 (its old registration, if any, is dropped).
  std::optional<int32_t> allocate();
  // Takes one more reference to the block registered under `hash`, reviving it
  // from the free list if needed.
  std::optional<int32_t> share(uint64_t hash);
  bool contains(uint64_t hash) const { return by_hash_.count(hash) != 0; }
  // Registers a complete block; a hash already registered keeps its block.
  void register_hash(int32_t block, uint64_t hash);
  void release(int32_t block);
  int ref_count(int32_t block) const { return ref_[size_t(block)]; }

 private:
  std::vector<int> ref_;
  std::vector<std::optional<uint64_t>> hash_of_;
  std::vector<std::list<int32_t>::iterator> where_;
  std::list<int32_t> free_;
  std::unordered_map<uint64_t, int32_t> by_hash_;
};

}  // namespace gptoss
