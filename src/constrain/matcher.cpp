#include "constrain/matcher.h"

#include <algorithm>
#include <cmath>
#include <iterator>
#include <cstring>

namespace gptoss::constrain {

namespace {

constexpr int kMaxFractionDigits = 9;
constexpr int64_t kMaxIntegerPart = 999999999999999;  // 15 digits
constexpr double kFractionUnit = 1e-9;
// What the escapes a string may use (\" \\ \/ \b \f \n \r \t) stand for.
constexpr uint8_t kEscaped[] = {'"', '\\', '/', 8, 12, 10, 13, 9};

bool required_left(const Node& n, int from) {
  for (size_t k = size_t(from); k < n.props.size(); ++k)
    if (n.props[k].required) return true;
  return false;
}

}  // namespace

bool MatchState::complete() const {
  uint32_t begin = 0;
  for (uint32_t e : ends) {
    if (e == begin) return true;
    begin = e;
  }
  return false;
}

std::string MatchState::key() const {
  std::string k(reinterpret_cast<const char*>(ends.data()), ends.size() * sizeof(uint32_t));
  k.append(reinterpret_cast<const char*>(frames.data()), frames.size() * sizeof(Frame));
  return k;
}

Matcher::Matcher(std::shared_ptr<const Grammar> g) : g_(std::move(g)) {}

namespace {
// No token is longer than 255 bytes, so none writes more characters.
constexpr int64_t kLongestToken = 256;
}  // namespace

bool Matcher::in_long_string(const Frame& f, int64_t margin) const {
  if (f.node < 0) return false;
  const Node& n = g_->nodes[size_t(f.node)];
  return n.kind == NodeKind::String && n.dfa < 0 && f.st == 1 && f.i >= n.min_count &&
         (n.max_count < 0 || n.max_count - f.i > margin);
}

bool Matcher::in_long_string(const MatchState& s) const {
  return s.ends.size() == 1 && !s.frames.empty() && s.frames.back().aux == 0 &&
         in_long_string(s.frames.back(), 2 * kLongestToken);
}

std::string Matcher::mask_key(const MatchState& s) const {
  MatchState k = s;
  uint32_t begin = 0;
  for (uint32_t e : k.ends) {
    const bool empty = e == begin;
    begin = e;
    if (empty || !in_long_string(k.frames[e - 1], kLongestToken)) continue;
    Frame& f = k.frames[e - 1];
    const Node& n = g_->nodes[size_t(f.node)];
    f.i = int32_t(n.max_count < 0 ? n.min_count : n.max_count - kLongestToken - 1);
  }
  return k.key();
}

MatchState Matcher::start() const {
  // The root is entered lazily, by the first byte: a stack holding one Seq
  // frame whose only kid is the root.
  MatchState s;
  Frame f;
  f.node = -1;  // the virtual start frame
  s.frames.push_back(f);
  s.ends.push_back(1);
  return s;
}

void Matcher::emit(const Stack& w, MatchState& out) {
  if (int(out.ends.size()) >= kMaxStacks) return;
  // Identical stacks (two alternatives that came to the same place) count once.
  uint32_t begin = 0;
  for (uint32_t e : out.ends) {
    if (e - begin == w.size() && std::memcmp(out.frames.data() + begin, w.data(), w.size() * sizeof(Frame)) == 0) return;
    begin = e;
  }
  out.frames.insert(out.frames.end(), w.begin(), w.end());
  out.ends.push_back(uint32_t(out.frames.size()));
}

void Matcher::feed(const MatchState& in, uint8_t b, MatchState& out) const {
  out.frames.clear();
  out.ends.clear();
  thread_local Stack w;
  uint32_t begin = 0;
  for (uint32_t e : in.ends) {
    w.assign(in.frames.begin() + begin, in.frames.begin() + e);
    begin = e;
    step(w, b, out, 0);
  }
}

bool Matcher::feed(MatchState& s, std::string_view bytes) const {
  MatchState next;
  for (char c : bytes) {
    feed(s, uint8_t(c), next);
    std::swap(s, next);
    if (s.dead()) return false;
  }
  return true;
}

std::optional<uint8_t> Matcher::free_text_end(const MatchState& s) const {
  std::optional<uint8_t> end;
  uint32_t begin = 0;
  for (uint32_t e : s.ends) {
    if (e == begin) return std::nullopt;
    const Frame& f = s.frames[e - 1];
    begin = e;
    if (f.node < 0) return std::nullopt;
    const Node* n = &g_->nodes[size_t(f.node)];
    // A sequence about to enter free text is in it already (kids are entered
    // by their first byte).
    if (n->kind == NodeKind::Seq && size_t(f.i) < n->kids.size()) n = &g_->nodes[size_t(n->kids[size_t(f.i)])];
    else if (n->kind == NodeKind::Free && f.st != 0) return std::nullopt;
    if (n->kind != NodeKind::Free || (end && *end != n->end_marker)) return std::nullopt;
    end = n->end_marker;
  }
  return end;
}

void Matcher::close(Stack& w, MatchState& out) const {
  w.pop_back();
  child_done(w);
  emit(w, out);
}

void Matcher::expect(Stack& w, MatchState& out, uint8_t b, char want, uint8_t next_st) {
  if (b != uint8_t(want)) return;
  w.back().st = next_st;
  emit(w, out);
}

void Matcher::push(Stack& w, int node, uint8_t b, MatchState& out, int pushes) const {
  if (pushes >= kMaxPushes || int(w.size()) >= kMaxDepth) return;
  const Node& n = g_->nodes[size_t(node)];
  if (n.kind == NodeKind::Alt) {
    if (n.kids.size() == 1) return push(w, n.kids[0], b, out, pushes + 1);
    for (int k : n.kids) {
      Stack copy = w;
      push(copy, k, b, out, pushes + 1);
    }
    return;
  }
  Frame f;
  f.node = node;
  w.push_back(f);
  step(w, b, out, pushes + 1);
}

// The frame on top of w has just finished: the one below takes note, and
// finishes in turn if that was its last part.
void Matcher::child_done(Stack& w) const {
  while (!w.empty()) {
    Frame& p = w.back();
    if (p.node < 0) {  // the start frame: the root is done
      w.pop_back();
      return;
    }
    const Node& n = g_->nodes[size_t(p.node)];
    if (n.kind == NodeKind::Seq) {
      if (size_t(p.i) < n.kids.size()) return;
      w.pop_back();
      continue;
    }
    if (n.kind == NodeKind::Map) p.st = p.st == 2 ? 3 : 5;
    return;
  }
}

bool Matcher::number_feasible(const Node& n, const Frame& f) const {
  auto fits = [&](double lo, double hi) {  // magnitudes [lo, hi] reachable
    double a = lo, b = hi;
    if (f.aux) a = -hi, b = -lo;
    const bool above = !n.has_min || (n.excl_min ? b > n.min : b >= n.min);
    const bool below = !n.has_max || (n.excl_max ? a < n.max : a <= n.max);
    return above && below;
  };
  const double slack = n.integer ? 1.0 : kFractionUnit;
  switch (f.st) {
    case 1:  // "-": any negative magnitude
      return fits(n.integer ? 1.0 : kFractionUnit, double(kMaxIntegerPart));
    case 3:  // "0" (or "-0")
      return n.integer ? fits(0, 0) : fits(0, 1.0 - kFractionUnit);
    case 2: {
      // More digits may follow, and (numbers) a fraction.
      double scale = 1;
      for (int k = 0; k <= 15; ++k, scale *= 10) {
        const double lo = double(f.v) * scale;
        if (lo > double(kMaxIntegerPart)) break;
        const double hi = std::min(double(kMaxIntegerPart), (double(f.v) + 1) * scale - slack);
        if (fits(lo, hi)) return true;
      }
      return false;
    }
    case 4:
    case 5: {
      const double unit = std::pow(10.0, -f.j);
      const double lo = double(f.v) + double(f.i) * unit;
      const double hi = f.j >= kMaxFractionDigits ? lo : lo + unit - kFractionUnit;
      return fits(lo, std::max(lo, hi));
    }
    default:
      return true;
  }
}

bool Matcher::number_can_end(const Node& n, const Frame& f) const {
  if (f.st != 2 && f.st != 3 && f.st != 5) return false;
  double v = double(f.v);
  if (f.st == 5) v += double(f.i) * std::pow(10.0, -f.j);
  if (f.aux) v = -v;
  if (n.has_min && (n.excl_min ? !(v > n.min) : !(v >= n.min))) return false;
  if (n.has_max && (n.excl_max ? !(v < n.max) : !(v <= n.max))) return false;
  return true;
}

Matcher::ByteStep Matcher::string_byte(const Node& n, const Dfa* dfa, Frame& f, uint8_t b) {
  const bool room = n.max_count < 0 || f.i < n.max_count;
  auto take_ascii = [&](uint8_t c) {
    if (!room) return false;
    if (dfa) {
      const int16_t nx = dfa->next[size_t(f.j) * 128 + c];
      if (nx < 0) return false;
      f.j = nx;
    }
    f.i++;
    return true;
  };
  if (f.st == 0) {
    if (b != '"') return ByteStep::Reject;
    f.st = 1;
    return ByteStep::Take;
  }
  if (f.st == 2) {  // after a backslash
    uint8_t c;
    switch (b) {
      case '"': c = '"'; break;
      case '\\': c = '\\'; break;
      case '/': c = '/'; break;
      case 'b': c = 8; break;
      case 'f': c = 12; break;
      case 'n': c = 10; break;
      case 'r': c = 13; break;
      case 't': c = 9; break;
      default: return ByteStep::Reject;
    }
    if (!take_ascii(c)) return ByteStep::Reject;
    f.st = 1;
    return ByteStep::Take;
  }
  if (f.aux > 0) {
    if (b < 0x80 || b > 0xBF) return ByteStep::Reject;
    f.aux--;
    return ByteStep::Take;
  }
  if (b == '"') {
    if (f.i < n.min_count || (dfa && !dfa->accepting[size_t(f.j)])) return ByteStep::Reject;
    return ByteStep::Close;
  }
  if (b == '\\') {
    // Only when some escape leads on (a pattern may allow none).
    if (!room) return ByteStep::Reject;
    if (dfa && std::none_of(std::begin(kEscaped), std::end(kEscaped),
                            [&](uint8_t c) { return dfa->next[size_t(f.j) * 128 + c] >= 0; }))
      return ByteStep::Reject;
    f.st = 2;
    return ByteStep::Take;
  }
  if (b < 0x20) return ByteStep::Reject;
  if (b < 0x80) return take_ascii(b) ? ByteStep::Take : ByteStep::Reject;
  if (dfa || !room) return ByteStep::Reject;  // patterns are ASCII
  if (b >= 0xC2 && b <= 0xDF) f.aux = 1;
  else if (b >= 0xE0 && b <= 0xEF) f.aux = 2;
  else if (b >= 0xF0 && b <= 0xF4) f.aux = 3;
  else return ByteStep::Reject;
  f.i++;
  return ByteStep::Take;
}

void Matcher::step(Stack& w, uint8_t b, MatchState& out, int pushes) const {
  for (;;) {
    if (w.empty()) return;  // the text is complete: nothing may follow
    Frame& f = w.back();
    if (f.node < 0) {  // the start frame
      if (f.i) return;
      f.i = 1;
      return push(w, g_->root, b, out, pushes);
    }
    const Node& n = g_->nodes[size_t(f.node)];
    switch (n.kind) {
      case NodeKind::Literal:
        if (uint8_t(n.text[size_t(f.i)]) != b) return;
        if (size_t(++f.i) == n.text.size()) {
          w.pop_back();
          child_done(w);
        }
        return emit(w, out);
      case NodeKind::Seq: {
        if (size_t(f.i) >= n.kids.size()) return;
        const int kid = n.kids[size_t(f.i++)];
        return push(w, kid, b, out, pushes);
      }
      case NodeKind::Alt:
        return;  // never on a stack: push() expands it
      case NodeKind::Free:
        if (f.st == 0) {
          if (b == kMarker) f.st = 1;
          return emit(w, out);
        }
        if (b != n.end_marker) return;
        return close(w, out);
      case NodeKind::Object:
        switch (f.st) {
          case 0:
            return expect(w, out, b, '{', 1);
          case 1:
          case 3:
            if (b == '"') {
              for (size_t k = size_t(f.i); k < n.props.size(); ++k) {
                Stack copy = w;
                copy.back().st = 4, copy.back().j = int32_t(k), copy.back().v = 1;
                emit(copy, out);
                if (n.props[k].required) break;
              }
              return;
            }
            if (b == '}' && f.st == 1 && !required_left(n, f.i)) {
              return close(w, out);
            }
            return;
          case 2:
            if (b == ',' && size_t(f.i) < n.props.size()) {
              f.st = 3;
              return emit(w, out);
            }
            if (b == '}' && !required_left(n, f.i)) {
              return close(w, out);
            }
            return;
          case 4: {
            const std::string& key = n.props[size_t(f.j)].key_json;
            if (uint8_t(key[size_t(f.v)]) != b) return;
            if (size_t(++f.v) == key.size()) f.st = 5;
            return emit(w, out);
          }
          case 5:
            return expect(w, out, b, ':', 6);
          default: {  // 6: the value starts
            f.st = 2;
            f.i = f.j + 1;
            return push(w, n.props[size_t(f.j)].value, b, out, pushes);
          }
        }
      case NodeKind::Map:
        switch (f.st) {
          case 0:
            return expect(w, out, b, '{', 1);
          case 1:
            if (b == '}') {
              return close(w, out);
            }
            f.st = 2;
            return push(w, n.kids[1], b, out, pushes);
          case 3:
            return expect(w, out, b, ':', 4);
          case 4:
            return push(w, n.kids[0], b, out, pushes);
          case 5:
            if (b == ',') {
              f.st = 6;
              return emit(w, out);
            }
            if (b != '}') return;
            return close(w, out);
          default:  // 6: after ','
            f.st = 2;
            return push(w, n.kids[1], b, out, pushes);
        }
      case NodeKind::Array:
        switch (f.st) {
          case 0:
            return expect(w, out, b, '[', 1);
          case 1:
            if (b == ']') {
              if (n.min_count > 0) return;
              return close(w, out);
            }
            if (n.max_count == 0) return;
            f.st = 2, f.i = 1;
            return push(w, n.kids[0], b, out, pushes);
          case 2:
            if (b == ',' && (n.max_count < 0 || f.i < n.max_count)) {
              f.st = 3;
              return emit(w, out);
            }
            if (b == ']' && f.i >= n.min_count) {
              return close(w, out);
            }
            return;
          default:  // 3: after ','
            f.st = 2, f.i++;
            return push(w, n.kids[0], b, out, pushes);
        }
      case NodeKind::String:
        switch (string_byte(n, n.dfa >= 0 ? &g_->dfas[size_t(n.dfa)] : nullptr, f, b)) {
          case ByteStep::Reject: return;
          case ByteStep::Take: return emit(w, out);
          case ByteStep::Close:
            return close(w, out);
        }
        return;
      case NodeKind::Number: {
        const bool digit = b >= '0' && b <= '9';
        const int d = b - '0';
        Frame next = f;
        switch (f.st) {
          case 0:
            if (b == '-') {
              next.st = 1, next.aux = 1;
              break;
            }
            [[fallthrough]];
          case 1:
            if (!digit) return;
            next.st = d == 0 ? 3 : 2, next.v = d;
            break;
          case 2:
          case 3:
            if (digit && f.st == 2) {
              if (f.v > (kMaxIntegerPart - d) / 10) return;
              next.v = f.v * 10 + d;
              break;
            }
            if (b == '.' && !n.integer) {
              next.st = 4;
              break;
            }
            goto maybe_end;
          case 4:
          case 5:
            if (digit && f.j < kMaxFractionDigits) {
              next.st = 5, next.i = f.i * 10 + d, next.j = f.j + 1;
              break;
            }
            goto maybe_end;
        }
        if (!number_feasible(n, next)) return;
        f = next;
        return emit(w, out);
      maybe_end:
        if (!number_can_end(n, f)) return;
        w.pop_back();
        child_done(w);
        continue;  // the byte belongs to what follows the number
      }
    }
    return;
  }
}

}  // namespace gptoss::constrain
