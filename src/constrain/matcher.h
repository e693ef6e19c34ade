#pragma once
// Runs a Grammar over bytes as a pushdown automaton. A MatchState is the set
// of stacks still alive (more than one only while an anyOf, an enum or an
// optional property has not been decided by the bytes yet); feeding a byte
// advances each and keeps the survivors. The Matcher is immutable and
// shared; states are values, cheap to copy and to compare, so a state's
// bytes can key a mask cache.
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "constrain/grammar.h"

namespace gptoss::constrain {

// One grammar node being matched: 24 bytes, no padding, so that states
// compare and hash as bytes.
struct Frame {
  int32_t node = 0;
  uint8_t st = 0;    // where in the node (per kind)
  uint8_t aux = 0;   // String: UTF-8 continuation bytes due; Number: negative
  uint16_t pad = 0;
  int32_t i = 0;     // Seq: next kid; Object: next property; Array: items; String: characters; Number: fraction digits' value
  int32_t j = 0;     // Object: property being written; String: DFA state; Number: fraction digits
  int64_t v = 0;     // Object: position in the key; Number: integer part
};
static_assert(sizeof(Frame) == 24);
inline bool operator==(const Frame& a, const Frame& b) {
  return a.node == b.node && a.st == b.st && a.aux == b.aux && a.i == b.i && a.j == b.j && a.v == b.v;
}

struct MatchState {
  std::vector<Frame> frames;  // the stacks one after another, bottom first
  std::vector<uint32_t> ends; // stack k is frames[ends[k - 1], ends[k])
  bool dead() const { return ends.empty(); }
  // Some stack is empty: the grammar's text is complete.
  bool complete() const;
  std::string key() const;  // the state as bytes
  bool operator==(const MatchState& o) const { return frames == o.frames && ends == o.ends; }
};

class Matcher {
 public:
  explicit Matcher(std::shared_ptr<const Grammar> g);
  const Grammar& grammar() const { return *g_; }

  MatchState start() const;
  // `out` = `in` after byte b (out.dead() when no stack survives).
  void feed(const MatchState& in, uint8_t b, MatchState& out) const;
  // Advances `s` by `bytes`; false (and s dead) when they do not fit.
  bool feed(MatchState& s, std::string_view bytes) const;
  // The state's bytes for a mask cache, with what cannot change the mask
  // left out: inside a long string, how many characters came before (once
  // minLength is met and maxLength is more than a token away), so that
  // every step of a long string finds the same mask.
  std::string mask_key(const MatchState& s) const;
  // One stack, inside a string whose mask (mask_key) stays the same for at
  // least another token, whatever it is, unless the token closes the string.
  bool in_long_string(const MatchState& s) const;
  // When every stack waits inside free text: the marker code that ends it.
  std::optional<uint8_t> free_text_end(const MatchState& s) const;

  // One byte of a String node's frame f: taken (f advanced), closing the
  // string, or refused. Shared with the masks' fast path inside strings.
  enum class ByteStep { Reject, Take, Close };
  static ByteStep string_byte(const Node& n, const Dfa* dfa, Frame& f, uint8_t b);

  static constexpr int kMaxStacks = 64;     // alternatives alive at once
  static constexpr int kMaxDepth = 256;     // nesting of one stack
  static constexpr int kMaxPushes = 64;     // nodes entered by one byte (left recursion ends here)

 private:
  using Stack = std::vector<Frame>;
  void step(Stack& w, uint8_t b, MatchState& out, int pushes) const;
  void push(Stack& w, int node, uint8_t b, MatchState& out, int pushes) const;
  void child_done(Stack& w) const;
  bool number_feasible(const Node& n, const Frame& f) const;
  bool number_can_end(const Node& n, const Frame& f) const;
  static void emit(const Stack& w, MatchState& out);
  // The top frame is done: popped, its parent told, the stack kept.
  void close(Stack& w, MatchState& out) const;
  // Byte b must be `want`; then the top frame moves to next_st.
  static void expect(Stack& w, MatchState& out, uint8_t b, char want, uint8_t next_st);
  // A string frame past minLength with more than `margin` characters left.
  bool in_long_string(const Frame& f, int64_t margin) const;

  std::shared_ptr<const Grammar> g_;
};

}  // namespace gptoss::constrain
