#include "model/tp_command.h"

#include <cstring>

#include "core/error.h"

namespace gptoss {

namespace {

class Writer {
 public:
  explicit Writer(TpCommandKind kind) { u8(uint8_t(kind)); }
  void u8(uint8_t v) { out_.push_back(v); }
  void u32(uint32_t v) {
    for (int i = 0; i < 4; ++i) out_.push_back(uint8_t(v >> (8 * i)));
  }
  void i32(int32_t v) { u32(uint32_t(v)); }
  void i32s(std::span<const int32_t> v) {
    u32(uint32_t(v.size()));
    for (int32_t x : v) i32(x);
  }
  std::vector<uint8_t> take() { return std::move(out_); }

 private:
  std::vector<uint8_t> out_;
};

// Reads with a bounds check on every field: the bytes came over the network.
class Reader {
 public:
  explicit Reader(std::span<const uint8_t> b) : b_(b) {}
  uint8_t u8() {
    need(1);
    return b_[pos_++];
  }
  uint32_t u32() {
    need(4);
    uint32_t v = 0;
    for (int i = 0; i < 4; ++i) v |= uint32_t(b_[pos_ + size_t(i)]) << (8 * i);
    pos_ += 4;
    return v;
  }
  int32_t i32() { return int32_t(u32()); }
  // A count of 4-byte items that must still fit in the bytes left, so a
  // corrupt count cannot ask for gigabytes.
  size_t count() {
    const size_t n = u32();
    if (n > (b_.size() - pos_) / 4) fail("a count of " + std::to_string(n) + " exceeds the bytes left");
    return n;
  }
  void i32s(std::vector<int32_t>& out, size_t n) {
    for (size_t i = 0; i < n; ++i) out.push_back(i32());
  }
  void done() const {
    if (pos_ != b_.size()) fail(std::to_string(b_.size() - pos_) + " bytes left over");
  }
  std::string text() {
    const size_t n = u32();
    need(n);
    std::string s(reinterpret_cast<const char*>(b_.data() + pos_), n);
    pos_ += n;
    return s;
  }
  [[noreturn]] static void fail(const std::string& why) {
    throw Error("a tensor-parallel command from the leader is corrupt (" + why +
                "): leader and tp-worker must be the same gptoss build");
  }

 private:
  void need(size_t n) const {
    if (n > b_.size() - pos_) fail("truncated at byte " + std::to_string(pos_) + " of " + std::to_string(b_.size()));
  }
  std::span<const uint8_t> b_;
  size_t pos_ = 0;
};

}  // namespace

std::vector<uint8_t> encode_tp_hello(int max_step_tokens, const std::string& model_summary) {
  Writer w(TpCommandKind::hello);
  w.i32(max_step_tokens);
  w.u32(uint32_t(model_summary.size()));
  for (char c : model_summary) w.u8(uint8_t(c));
  return w.take();
}

std::vector<uint8_t> encode_tp_allocate_kv(const KvCacheConfig& kv) {
  Writer w(TpCommandKind::allocate_kv);
  w.i32(kv.block_size);
  w.i32(kv.num_full_blocks);
  w.i32(kv.num_window_blocks);
  return w.take();
}

std::vector<uint8_t> encode_tp_forward(const ForwardBatch& batch, bool sample) {
  Writer w(sample ? TpCommandKind::forward_sample : TpCommandKind::forward);
  w.i32s(batch.tokens);
  w.u32(uint32_t(batch.seqs.size()));
  for (const BatchSeq& s : batch.seqs) {
    w.i32(s.pos0);
    w.i32(s.n_tokens);
    w.u8(uint8_t((s.all_logits ? 1 : 0) | (s.want_logits ? 2 : 0)));
    w.i32s(s.kv.full_blocks);
    w.i32s(s.kv.window_blocks);
  }
  return w.take();
}

std::vector<uint8_t> encode_tp_simple(TpCommandKind kind) {
  if (kind != TpCommandKind::ping && kind != TpCommandKind::shutdown)
    throw Error("encode_tp_simple is for ping and shutdown");
  return Writer(kind).take();
}

TpCommand decode_tp_command(std::span<const uint8_t> bytes) {
  Reader r(bytes);
  TpCommand c;
  const uint8_t kind = r.u8();
  switch (kind) {
    case uint8_t(TpCommandKind::hello):
      c.max_step_tokens = r.i32();
      c.model_summary = r.text();
      if (c.max_step_tokens < 1) Reader::fail("max_step_tokens " + std::to_string(c.max_step_tokens));
      break;
    case uint8_t(TpCommandKind::allocate_kv):
      c.kv.block_size = r.i32();
      c.kv.num_full_blocks = r.i32();
      c.kv.num_window_blocks = r.i32();
      if (c.kv.block_size < 1 || c.kv.num_full_blocks < 0 || c.kv.num_window_blocks < 0)
        Reader::fail("a KV config with negative sizes");
      break;
    case uint8_t(TpCommandKind::forward):
    case uint8_t(TpCommandKind::forward_sample): {
      r.i32s(c.batch.tokens, r.count());
      // Sequences are read in two passes: the block tables go into one vector
      // first, then the spans are pointed into it once it stops growing.
      struct Ranges {
        size_t full0, nfull, win0, nwin;
      };
      std::vector<Ranges> ranges;
      const size_t n_seqs = r.count();  // each sequence takes at least 4 bytes
      size_t tokens = 0;
      for (size_t s = 0; s < n_seqs; ++s) {
        BatchSeq q;
        q.pos0 = r.i32();
        q.n_tokens = r.i32();
        const uint8_t flags = r.u8();
        if (q.pos0 < 0 || q.n_tokens < 0 || flags > 3) Reader::fail("sequence " + std::to_string(s) + " is malformed");
        q.all_logits = flags & 1;
        q.want_logits = flags & 2;
        tokens += size_t(q.n_tokens);
        Ranges g;
        g.full0 = c.blocks.size();
        g.nfull = r.count();
        r.i32s(c.blocks, g.nfull);
        g.win0 = c.blocks.size();
        g.nwin = r.count();
        r.i32s(c.blocks, g.nwin);
        ranges.push_back(g);
        c.batch.seqs.push_back(q);
      }
      if (tokens != c.batch.tokens.size())
        Reader::fail("the sequences hold " + std::to_string(tokens) + " tokens but the batch " +
                     std::to_string(c.batch.tokens.size()));
      for (size_t s = 0; s < n_seqs; ++s) {
        const std::span<const int32_t> all(c.blocks);
        c.batch.seqs[s].kv.full_blocks = all.subspan(ranges[s].full0, ranges[s].nfull);
        c.batch.seqs[s].kv.window_blocks = all.subspan(ranges[s].win0, ranges[s].nwin);
      }
      break;
    }
    case uint8_t(TpCommandKind::ping):
    case uint8_t(TpCommandKind::shutdown):
      break;
    default:
      Reader::fail("unknown kind " + std::to_string(kind));
  }
  c.kind = TpCommandKind(kind);
  r.done();
  return c;
}

std::string tp_model_summary(const ModelConfig& c, uint64_t weight_bytes) {
  return std::to_string(c.num_layers) + " layers, " + std::to_string(c.num_experts) + " experts (top-" +
         std::to_string(c.experts_per_token) + "), hidden " + std::to_string(c.hidden_size) + ", intermediate " +
         std::to_string(c.intermediate_size) + ", " + std::to_string(c.num_heads) + "/" + std::to_string(c.num_kv_heads) +
         " heads, vocab " + std::to_string(c.vocab_size) + ", window " + std::to_string(c.sliding_window) + ", " +
         std::to_string(weight_bytes) + " bytes of weights";
}

}  // namespace gptoss
