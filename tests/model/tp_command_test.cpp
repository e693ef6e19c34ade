// The bytes a tensor-parallel leader broadcasts to its workers: every batch
// shape the engine makes comes back exactly, and damaged bytes are refused
// with an Error (a worker must never run a garbled step, nor crash on one).
#include <gtest/gtest.h>

#include <cstdio>
#include <random>
#include <string>
#include <unistd.h>

#include "core/error.h"
#include "model/nccl_id_file.h"
#include "model/tp_command.h"

namespace gptoss {
namespace {

// A batch like the scheduler's: prompt chunks (all_logits on some), decodes,
// sequences without window blocks, and one with no tokens.
struct Batch {
  std::vector<std::vector<int32_t>> full, window;
  ForwardBatch b;
};

Batch make_batch(uint32_t seed, int n_seqs) {
  std::mt19937 rng(seed);
  Batch x;
  x.full.resize(size_t(n_seqs));
  x.window.resize(size_t(n_seqs));
  for (int s = 0; s < n_seqs; ++s) {
    const int n = s == 1 ? 0 : (s % 3 == 0 ? int(rng() % 300) + 1 : 1);
    for (int i = 0; i < n; ++i) x.b.tokens.push_back(int32_t(rng() % 201088));
    for (int i = 0, m = int(rng() % 40); i < m; ++i) x.full[size_t(s)].push_back(int32_t(rng() % 100000));
    if (s % 4 != 2)
      for (int i = 0, m = int(rng() % 12) + 1; i < m; ++i) x.window[size_t(s)].push_back(int32_t(rng() % 5000));
    BatchSeq q;
    q.kv = SeqKv{x.full[size_t(s)], x.window[size_t(s)]};
    q.pos0 = int(rng() % 100000);
    q.n_tokens = n;
    q.all_logits = s % 5 == 0;
    q.want_logits = s % 2 == 0;
    x.b.seqs.push_back(q);
  }
  return x;
}

void expect_same(const ForwardBatch& a, const ForwardBatch& b) {
  EXPECT_EQ(a.tokens, b.tokens);
  ASSERT_EQ(a.seqs.size(), b.seqs.size());
  for (size_t s = 0; s < a.seqs.size(); ++s) {
    const BatchSeq &x = a.seqs[s], &y = b.seqs[s];
    EXPECT_EQ(x.pos0, y.pos0);
    EXPECT_EQ(x.n_tokens, y.n_tokens);
    EXPECT_EQ(x.all_logits, y.all_logits);
    EXPECT_EQ(x.want_logits, y.want_logits);
    EXPECT_EQ(std::vector<int32_t>(x.kv.full_blocks.begin(), x.kv.full_blocks.end()),
              std::vector<int32_t>(y.kv.full_blocks.begin(), y.kv.full_blocks.end()));
    EXPECT_EQ(std::vector<int32_t>(x.kv.window_blocks.begin(), x.kv.window_blocks.end()),
              std::vector<int32_t>(y.kv.window_blocks.begin(), y.kv.window_blocks.end()));
  }
  EXPECT_EQ(a.logits_rows(), b.logits_rows());
}

TEST(TpCommand, ForwardBatchesRoundTrip) {
  for (int n : {0, 1, 7, 64, 300}) {
    for (bool greedy : {false, true}) {
      Batch x = make_batch(uint32_t(n * 2 + greedy), n);
      TpCommand c = decode_tp_command(encode_tp_forward(x.b, greedy));
      EXPECT_EQ(c.kind, greedy ? TpCommandKind::forward_sample : TpCommandKind::forward);
      expect_same(x.b, c.batch);
      // The spans point into the command's own storage, which survives a move.
      TpCommand moved = std::move(c);
      expect_same(x.b, moved.batch);
    }
  }
}

TEST(TpCommand, OtherKindsRoundTrip) {
  TpCommand h = decode_tp_command(encode_tp_hello(512, "24 layers, 32 experts"));
  EXPECT_EQ(h.kind, TpCommandKind::hello);
  EXPECT_EQ(h.max_step_tokens, 512);
  EXPECT_EQ(h.model_summary, "24 layers, 32 experts");
  TpCommand k = decode_tp_command(encode_tp_allocate_kv(KvCacheConfig{16, 1234, 567}));
  EXPECT_EQ(k.kind, TpCommandKind::allocate_kv);
  EXPECT_EQ(k.kv.block_size, 16);
  EXPECT_EQ(k.kv.num_full_blocks, 1234);
  EXPECT_EQ(k.kv.num_window_blocks, 567);
  EXPECT_EQ(decode_tp_command(encode_tp_simple(TpCommandKind::ping)).kind, TpCommandKind::ping);
  EXPECT_EQ(decode_tp_command(encode_tp_simple(TpCommandKind::shutdown)).kind, TpCommandKind::shutdown);
  EXPECT_THROW(encode_tp_simple(TpCommandKind::forward), Error);
}

TEST(TpCommand, TruncatedBytesThrow) {
  Batch x = make_batch(7, 9);
  const std::vector<std::vector<uint8_t>> all = {encode_tp_forward(x.b, true), encode_tp_hello(64, "model"),
                                                 encode_tp_allocate_kv(KvCacheConfig{16, 10, 20})};
  for (const auto& bytes : all) {
    for (size_t n = 0; n < bytes.size(); ++n)
      EXPECT_THROW(decode_tp_command(std::span<const uint8_t>(bytes.data(), n)), Error) << "kept " << n;
    std::vector<uint8_t> longer = bytes;
    longer.push_back(0);
    EXPECT_THROW(decode_tp_command(longer), Error);
  }
}

TEST(TpCommand, CorruptBytesThrowOrDecodeConsistently) {
  Batch x = make_batch(11, 13);
  const std::vector<uint8_t> good = encode_tp_forward(x.b, false);
  std::mt19937 rng(5);
  int refused = 0;
  for (int trial = 0; trial < 20000; ++trial) {
    std::vector<uint8_t> bad = good;
    for (int k = 0, flips = 1 + int(rng() % 4); k < flips; ++k) bad[rng() % bad.size()] ^= uint8_t(1u << (rng() % 8));
    try {
      TpCommand c = decode_tp_command(bad);
      // What survives must still be self-consistent: tokens match the sequences.
      if (c.kind == TpCommandKind::forward || c.kind == TpCommandKind::forward_sample) {
        int tokens = 0;
        for (auto& s : c.batch.seqs) tokens += s.n_tokens;
        EXPECT_EQ(tokens, c.batch.total_tokens());
      }
    } catch (const Error&) {
      ++refused;
    }
  }
  EXPECT_GT(refused, 0);  // most flips land in token and block ids, which decode fine
  // Kinds and counts that cannot be.
  EXPECT_THROW(decode_tp_command(std::vector<uint8_t>{0}), Error);
  EXPECT_THROW(decode_tp_command(std::vector<uint8_t>{99}), Error);
  EXPECT_THROW(decode_tp_command(std::vector<uint8_t>{3, 0xff, 0xff, 0xff, 0xff}), Error);
  EXPECT_THROW(decode_tp_command(std::vector<uint8_t>{}), Error);
}

TEST(NcclIdFile, WrittenWholeAndWaitedFor) {
  const std::string path = ::testing::TempDir() + "/nccl_id_" + std::to_string(getpid());
  std::remove(path.c_str());
  EXPECT_THROW(wait_for_nccl_id_file(path, 0.2), Error);
  write_nccl_id_file(path, "00ff");
  EXPECT_EQ(wait_for_nccl_id_file(path, 1), "00ff");
  write_nccl_id_file(path, "abcd");  // a new leader replaces the id
  EXPECT_EQ(wait_for_nccl_id_file(path, 1), "abcd");
  std::remove(path.c_str());
  EXPECT_THROW(write_nccl_id_file("/nonexistent-dir/x/id", "00"), Error);
}

}  // namespace
}  // namespace gptoss
