// Block pools, per-sequence tables, the sliding-window ring and prefix reuse.
#include <gtest/gtest.h>

#include <numeric>
#include <set>

#include "runtime/kv_block_manager.h"

using namespace gptoss;

namespace {

KvCacheConfig cfg(int full, int window, int bs = 4) { return KvCacheConfig{bs, full, window}; }

std::vector<int32_t> iota_tokens(int n, int start = 1) {
  std::vector<int32_t> t(static_cast<size_t>(n));
  std::iota(t.begin(), t.end(), start);
  return t;
}

// Simulates what the engine does: prepare + commit in chunks of `chunk`.
bool run_prefill(KvBlockManager& m, SeqBlockTable& t, const std::vector<int32_t>& toks, int from, int chunk) {
  for (int p = from; p < int(toks.size());) {
    int n = std::min(chunk, int(toks.size()) - p);
    if (!m.prepare_step(t, p, n)) return false;
    p += n;
    m.commit(t, toks, p);
  }
  return true;
}

}  // namespace

TEST(BlockPool, AllocateReleaseAndRevive) {
  BlockPool p(3);
  auto a = p.allocate(), b = p.allocate(), c = p.allocate();
  ASSERT_TRUE(a && b && c);
  EXPECT_FALSE(p.allocate());
  p.register_hash(*a, 42);
  p.release(*a);
  EXPECT_EQ(p.free_count(), 1);
  auto again = p.share(42);  // revived from the free list
  ASSERT_TRUE(again);
  EXPECT_EQ(*again, *a);
  EXPECT_EQ(p.free_count(), 0);
  p.release(*a);
  auto fresh = p.allocate();  // reallocation drops the registration
  EXPECT_EQ(*fresh, *a);
  EXPECT_FALSE(p.contains(42));
  EXPECT_THROW({ p.release(*b); p.release(*b); }, std::exception);
}

TEST(KvBlockManager, FullBlocksGrowAndFree) {
  KvBlockManager m(cfg(8, 0), 8, 4);  // no sliding layers
  SeqBlockTable t;
  auto toks = iota_tokens(10);
  ASSERT_TRUE(run_prefill(m, t, toks, 0, 4));
  EXPECT_EQ(t.full.size(), 3u);
  EXPECT_EQ(m.usage().full_used, 3);
  m.release(t);
  EXPECT_EQ(m.usage().full_used, 0);
  EXPECT_TRUE(t.full.empty());
}

TEST(KvBlockManager, RefusesWhenFullWithoutSideEffects) {
  KvBlockManager m(cfg(2, 0), 8, 4);
  SeqBlockTable t;
  EXPECT_FALSE(m.prepare_step(t, 0, 12));  // 3 blocks needed, 2 exist
  EXPECT_TRUE(t.full.empty());
  EXPECT_EQ(m.usage().full_used, 0);
  EXPECT_FALSE(m.fits(9));
  EXPECT_TRUE(m.fits(8));
}

TEST(KvBlockManager, WindowRingKeepsOnlyReachableBlocks) {
  // window 8, block 4, steps of up to 4 tokens: ring of (8+4)/4+1 = 4 slots.
  KvBlockManager m(cfg(64, 16), 8, 4);
  ASSERT_EQ(m.ring_slots(), 4);
  SeqBlockTable t;
  auto toks = iota_tokens(100);
  for (int p = 0; p < 100; ++p) {
    ASSERT_TRUE(m.prepare_step(t, p, 1));
    // Every position the new token attends to is mapped to a held block whose
    // logical index matches.
    for (int q = std::max(0, p - 7); q <= p; ++q) {
      size_t slot = size_t((q / 4) % 4);
      EXPECT_EQ(t.window_logical[slot], q / 4) << "p=" << p << " q=" << q;
    }
    m.commit(t, toks, p + 1);
    EXPECT_LE(m.usage().window_used, 4);
  }
  // Slot ids held are distinct.
  std::set<int32_t> held;
  for (size_t s = 0; s < 4; ++s)
    if (t.window_logical[s] >= 0) EXPECT_TRUE(held.insert(t.window[s]).second);
  m.release(t);
  EXPECT_EQ(m.usage().window_used, 0);
}

TEST(KvBlockManager, PrefixReuseSharesFullAndWindowBlocks) {
  KvBlockManager m(cfg(64, 32), 8, 4);
  auto a = iota_tokens(20);
  SeqBlockTable ta;
  ASSERT_TRUE(run_prefill(m, ta, a, 0, 4));

  // Same first 16 tokens, then different: 4 complete shared blocks.
  auto b = iota_tokens(16);
  for (int i = 0; i < 6; ++i) b.push_back(1000 + i);
  SeqBlockTable tb;
  int hit = m.match_prefix(b, tb);
  EXPECT_EQ(hit, 16);
  for (int i = 0; i < 4; ++i) EXPECT_EQ(tb.full[size_t(i)], ta.full[size_t(i)]);
  // The window blocks for positions 9..15 (logical 2 and 3) are shared too.
  EXPECT_EQ(tb.window_logical[2], 2);
  EXPECT_EQ(tb.window_logical[3], 3);
  EXPECT_EQ(tb.window[2], ta.window[2]);
  ASSERT_TRUE(run_prefill(m, tb, b, hit, 4));
  EXPECT_NE(tb.full[4], ta.full[4]);  // diverged: private

  // A whole-prompt match still leaves the last token to compute.
  auto c = iota_tokens(16);
  SeqBlockTable tc;
  EXPECT_EQ(m.match_prefix(c, tc), 12);
  m.release(tc);
  m.release(ta);
  m.release(tb);
  EXPECT_EQ(m.usage().full_used, 0);
  EXPECT_GT(m.usage().full_cached, 0);

  // Freed but cached blocks are revived.
  SeqBlockTable td;
  EXPECT_EQ(m.match_prefix(a, td), 16);
  m.release(td);
}

TEST(KvBlockManager, NoReuseWithoutTheWindow) {
  KvBlockManager m(cfg(64, 32), 8, 4);
  auto a = iota_tokens(40);
  SeqBlockTable ta;
  ASSERT_TRUE(run_prefill(m, ta, a, 0, 4));
  m.release(ta);
  // Evict the window blocks by allocating every window block.
  std::vector<SeqBlockTable> hogs(8);
  for (int i = 0; i < 8; ++i) ASSERT_TRUE(m.prepare_step(hogs[size_t(i)], 0, 16)) << i;
  SeqBlockTable tb;
  EXPECT_EQ(m.match_prefix(a, tb), 0);  // full blocks cached, window ones gone
  for (auto& h : hogs) m.release(h);
}

TEST(KvBlockManager, PrefixCachingOff) {
  KvBlockManager m(cfg(64, 32), 8, 4, /*prefix_caching=*/false);
  auto a = iota_tokens(20);
  SeqBlockTable ta, tb;
  ASSERT_TRUE(run_prefill(m, ta, a, 0, 4));
  EXPECT_EQ(m.match_prefix(a, tb), 0);
  m.release(ta);
}
