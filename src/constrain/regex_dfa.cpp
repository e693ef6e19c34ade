#include "constrain/regex_dfa.h"

#include <algorithm>
#include <bitset>
#include <map>
#include <memory>

#include "constrain/schema_error.h"

namespace gptoss::constrain {

namespace {

using CharSet = std::bitset<128>;

struct Ast {
  enum Kind { Chars, Cat, Alt, Rep } kind = Cat;
  CharSet set;
  std::vector<Ast> kids;
  int min = 0, max = -1;  // Rep
};

constexpr int kMaxRepeat = 100;    // {n,m} bounds
constexpr int kMaxNfaStates = 20000;

class Parser {
 public:
  Parser(std::string_view p, const std::string& kw) : p_(p), kw_(kw) {}

  // Top level: alternatives, each possibly anchored at either end.
  Ast parse_top() {
    Ast top;
    top.kind = Ast::Alt;
    for (;;) {
      bool start = eat('^');
      Ast a = parse_cat(true);
      bool end = eat('$');
      if (!start) a.kids.insert(a.kids.begin(), any_star());
      if (!end) a.kids.push_back(any_star());
      top.kids.push_back(std::move(a));
      if (at_end()) break;
      if (!eat('|')) fail("has '" + std::string(1, p_[i_]) + "' where it was not expected");
    }
    return top;
  }

 private:
  [[noreturn]] void fail(const std::string& why) {
    throw SchemaError(kw_, "", "pattern /" + std::string(p_) + "/ " + why);
  }
  bool at_end() const { return i_ >= p_.size(); }
  bool eat(char c) {
    if (!at_end() && p_[i_] == c) return ++i_, true;
    return false;
  }
  static Ast chars(CharSet s) {
    Ast a;
    a.kind = Ast::Chars;
    a.set = s;
    return a;
  }
  static Ast any_star() {
    Ast r;
    r.kind = Ast::Rep;
    CharSet s;
    s.set();
    r.kids.push_back(chars(s));
    return r;
  }
  Ast parse_alt() {
    Ast a;
    a.kind = Ast::Alt;
    a.kids.push_back(parse_cat(false));
    while (eat('|')) a.kids.push_back(parse_cat(false));
    return a;
  }
  Ast parse_cat(bool top) {
    Ast c;
    c.kind = Ast::Cat;
    while (!at_end() && p_[i_] != '|' && p_[i_] != ')') {
      if (top && p_[i_] == '$' && i_ + 1 == p_.size()) break;
      if (top && p_[i_] == '$' && i_ + 1 < p_.size() && p_[i_ + 1] == '|') break;
      Ast atom = parse_atom();
      c.kids.push_back(parse_quant(std::move(atom)));
    }
    return c;
  }
  bool parse_int(int& v) {
    size_t j = i_;
    long x = 0;
    while (j < p_.size() && p_[j] >= '0' && p_[j] <= '9' && x <= 100000) x = x * 10 + (p_[j++] - '0');
    if (j == i_) return false;
    v = int(x);
    i_ = j;
    return true;
  }
  Ast parse_quant(Ast atom) {
    for (;;) {
      int mn, mx;
      if (eat('*')) mn = 0, mx = -1;
      else if (eat('+')) mn = 1, mx = -1;
      else if (eat('?')) mn = 0, mx = 1;
      else if (!at_end() && p_[i_] == '{') {
        const size_t save = i_++;
        if (!parse_int(mn)) { i_ = save; return atom; }
        mx = mn;
        if (eat(',')) {
          if (!parse_int(mx)) mx = -1;
        }
        if (!eat('}')) { i_ = save; return atom; }
        if (mn > kMaxRepeat || mx > kMaxRepeat) fail("repeats more than " + std::to_string(kMaxRepeat) + " times");
        if (mx >= 0 && mx < mn) fail("has a repeat {n,m} with m < n");
      } else {
        return atom;
      }
      eat('?');  // lazy or greedy: the same language
      Ast r;
      r.kind = Ast::Rep;
      r.min = mn, r.max = mx;
      r.kids.push_back(std::move(atom));
      atom = std::move(r);
    }
  }
  CharSet escape_class(char c, bool& is_class) {
    CharSet s;
    is_class = true;
    auto range = [&](int a, int b) { for (int x = a; x <= b; ++x) s.set(size_t(x)); };
    switch (c) {
      case 'd': range('0', '9'); return s;
      case 'D': range('0', '9'); return ~s;
      case 'w': range('0', '9'); range('a', 'z'); range('A', 'Z'); s.set('_'); return s;
      case 'W': range('0', '9'); range('a', 'z'); range('A', 'Z'); s.set('_'); return ~s;
      case 's': for (char x : {' ', '\t', '\n', '\r', '\f', '\v'}) s.set(size_t(x)); return s;
      case 'S': for (char x : {' ', '\t', '\n', '\r', '\f', '\v'}) s.set(size_t(x)); return ~s;
      default: break;
    }
    is_class = false;
    int v;
    switch (c) {
      case 'n': v = '\n'; break;
      case 't': v = '\t'; break;
      case 'r': v = '\r'; break;
      case 'f': v = '\f'; break;
      case 'v': v = '\v'; break;
      case '0': v = 0; break;
      case 'u': {
        if (i_ + 4 > p_.size()) fail("has an incomplete \\u escape");
        v = std::stoi(std::string(p_.substr(i_, 4)), nullptr, 16);
        i_ += 4;
        if (v >= 128) fail("has a non-ASCII character (only ASCII patterns are supported)");
        break;
      }
      default:
        if ((c >= '1' && c <= '9') || c == 'b' || c == 'B' || c == 'k' || c == 'p' || c == 'P' || c == 'c' || c == 'x')
          fail("uses \\" + std::string(1, c) + " (backreferences, word boundaries, \\p, \\c and \\x are not supported)");
        if (uint8_t(c) >= 128) fail("has a non-ASCII character (only ASCII patterns are supported)");
        v = uint8_t(c);
    }
    s.set(size_t(v));
    return s;
  }
  char next_char() {
    if (at_end()) fail("ends early");
    const char c = p_[i_++];
    if (uint8_t(c) >= 128) fail("has a non-ASCII character (only ASCII patterns are supported)");
    return c;
  }
  Ast parse_atom() {
    const char c = next_char();
    if (c == '(') {
      if (eat('?')) {
        if (!eat(':')) fail("uses lookaround or named groups, which are not supported");
      }
      Ast a = parse_alt();
      if (!eat(')')) fail("has an unclosed '('");
      return a;
    }
    if (c == '[') return chars(parse_class());
    if (c == '.') {
      CharSet s;
      s.set();
      s.reset('\n');
      return chars(s);
    }
    if (c == '\\') {
      bool cls;
      return chars(escape_class(next_char(), cls));
    }
    if (c == '^' || c == '$') fail("has an anchor inside (only ^ at the start and $ at the end are supported)");
    if (c == '*' || c == '+' || c == '?') fail("has a quantifier with nothing to repeat");
    CharSet s;
    s.set(size_t(uint8_t(c)));
    return chars(s);
  }
  CharSet parse_class() {
    CharSet s;
    const bool neg = eat('^');
    bool first = true;
    for (;;) {
      if (at_end()) fail("has an unclosed '['");
      char c = next_char();
      if (c == ']' && !first) break;
      first = false;
      int lo;
      if (c == '\\') {
        bool cls;
        CharSet e = escape_class(next_char(), cls);
        if (cls) { s |= e; continue; }
        lo = int(e._Find_first());
      } else {
        lo = uint8_t(c);
      }
      if (!at_end() && p_[i_] == '-' && i_ + 1 < p_.size() && p_[i_ + 1] != ']') {
        ++i_;
        char d = next_char();
        int hi;
        if (d == '\\') {
          bool cls;
          CharSet e = escape_class(next_char(), cls);
          if (cls) fail("has a range ending in a class");
          hi = int(e._Find_first());
        } else {
          hi = uint8_t(d);
        }
        if (hi < lo) fail("has a range out of order");
        for (int x = lo; x <= hi; ++x) s.set(size_t(x));
      } else {
        s.set(size_t(lo));
      }
    }
    return neg ? ~s : s;
  }

  std::string_view p_;
  const std::string& kw_;
  size_t i_ = 0;
};

struct Nfa {
  struct State {
    CharSet set;
    int on_char = -1;  // target when the char is in set
    int eps[2] = {-1, -1};
  };
  std::vector<State> st;
  const std::string* kw;
  std::string_view pattern;

  int add() {
    if (int(st.size()) >= kMaxNfaStates)
      throw SchemaError(*kw, "", "pattern /" + std::string(pattern) + "/ is too large to compile");
    st.emplace_back();
    return int(st.size()) - 1;
  }
  void eps(int from, int to) {
    if (st[size_t(from)].eps[0] < 0) st[size_t(from)].eps[0] = to;
    else st[size_t(from)].eps[1] = to;
  }
  // A fragment from `in` to a fresh end state, which is returned.
  int emit(const Ast& a, int in) {
    switch (a.kind) {
      case Ast::Chars: {
        int out = add();
        st[size_t(in)].set = a.set;
        st[size_t(in)].on_char = out;
        return out;
      }
      case Ast::Cat: {
        int cur = in;
        for (const Ast& k : a.kids) {
          int nxt = add();
          eps(cur, nxt);
          cur = emit(k, nxt);
        }
        return cur;
      }
      case Ast::Alt: {
        int out = add();
        // Chained splits: each state has at most two epsilon edges.
        int cur = in;
        for (size_t i = 0; i < a.kids.size(); ++i) {
          int s = add();
          eps(cur, s);
          eps(emit(a.kids[i], s), out);
          if (i + 1 < a.kids.size()) {
            int nxt = add();
            eps(cur, nxt);
            cur = nxt;
          }
        }
        return out;
      }
      case Ast::Rep: {
        int cur = in;
        for (int i = 0; i < a.min; ++i) {
          int s = add();
          eps(cur, s);
          cur = emit(a.kids[0], s);
        }
        int out = add();
        if (a.max < 0) {
          int loop = add();
          eps(cur, loop);
          int s = add();
          eps(loop, s);
          eps(loop, out);
          int e = emit(a.kids[0], s);
          eps(e, loop);
          return out;
        }
        for (int i = a.min; i < a.max; ++i) {
          int s = add();
          int skip = add();
          eps(cur, s);
          eps(cur, skip);
          eps(skip, out);
          cur = emit(a.kids[0], s);
        }
        eps(cur, out);
        return out;
      }
    }
    return in;
  }
  void closure(std::vector<int>& set) const {
    std::vector<char> seen(st.size(), 0);
    std::vector<int> todo = set;
    for (int s : set) seen[size_t(s)] = 1;
    while (!todo.empty()) {
      int s = todo.back();
      todo.pop_back();
      for (int e : st[size_t(s)].eps)
        if (e >= 0 && !seen[size_t(e)]) seen[size_t(e)] = 1, todo.push_back(e), set.push_back(e);
    }
    std::sort(set.begin(), set.end());
  }
};

}  // namespace

Dfa compile_pattern(std::string_view pattern, const std::string& keyword, int max_states) {
  Parser parser(pattern, keyword);
  Ast ast = parser.parse_top();
  Nfa nfa;
  nfa.kw = &keyword;
  nfa.pattern = pattern;
  const int start = nfa.add();
  const int accept = nfa.emit(ast, start);
  Dfa dfa;
  std::map<std::vector<int>, int> ids;
  std::vector<std::vector<int>> sets;
  std::vector<int> s0{start};
  nfa.closure(s0);
  ids[s0] = 0;
  sets.push_back(s0);
  for (size_t d = 0; d < sets.size(); ++d) {
    dfa.accepting.push_back(std::binary_search(sets[d].begin(), sets[d].end(), accept));
    dfa.next.resize(dfa.next.size() + 128, -1);
    for (int c = 0; c < 128; ++c) {
      std::vector<int> to;
      for (int s : sets[d]) {
        const auto& ns = nfa.st[size_t(s)];
        if (ns.on_char >= 0 && ns.set.test(size_t(c))) to.push_back(ns.on_char);
      }
      if (to.empty()) continue;
      std::sort(to.begin(), to.end());
      to.erase(std::unique(to.begin(), to.end()), to.end());
      nfa.closure(to);
      auto [it, fresh] = ids.emplace(to, int(sets.size()));
      if (fresh) {
        if (int(sets.size()) >= max_states)
          throw SchemaError(keyword, "", "pattern /" + std::string(pattern) + "/ needs more than " +
                                             std::to_string(max_states) + " automaton states");
        sets.push_back(to);
      }
      dfa.next[d * 128 + size_t(c)] = int16_t(it->second);
    }
  }
  return dfa;
}

std::string format_pattern(std::string_view f) {
  // Days stop at 28 so every date is a real one; numbers keep leading zeros
  // where RFC 3339 wants them.
  const std::string date = "[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|1[0-9]|2[0-8])";
  const std::string time = "([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\\.[0-9]{1,3})?(Z|[+-]([01][0-9]|2[0-3]):[0-5][0-9])";
  if (f == "date") return "^" + date + "$";
  if (f == "time") return "^" + time + "$";
  if (f == "date-time") return "^" + date + "T" + time + "$";
  if (f == "email") return "^[a-z0-9]([a-z0-9._-]{0,30}[a-z0-9])?@[a-z0-9]{1,20}(\\.[a-z0-9]{1,20}){0,2}\\.[a-z]{2,6}$";
  if (f == "uuid") return "^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$";
  if (f == "ipv4") return "^((25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])\\.){3}(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])$";
  if (f == "hostname") return "^[a-z0-9]([a-z0-9-]{0,20}[a-z0-9])?(\\.[a-z0-9]([a-z0-9-]{0,20}[a-z0-9])?){0,3}$";
  if (f == "duration") return "^(P[0-9]{1,4}D|PT[0-9]{1,4}[HMS])$";
  return {};
}

}  // namespace gptoss::constrain
