#pragma once
// The Split pre-tokenizer: a PCRE2 regex (UTF + Unicode properties, JIT)
// that cuts text into pieces; BPE then runs on each piece separately.
#include <cstddef>
#include <string>
#include <string_view>

namespace gptoss {

class PreTokenizer {
 public:
  // Throws Error mentioning `origin` when the pattern does not compile.
  PreTokenizer(const std::string& pattern, const std::string& origin);
  ~PreTokenizer();
  PreTokenizer(const PreTokenizer&) = delete;
  PreTokenizer& operator=(const PreTokenizer&) = delete;

  // Calls piece(begin, end) for every piece of `text` in order; pieces cover
  // the text exactly ("Isolated": text between matches is a piece too).
  // `text` must be valid UTF-8. Thread-safe.
  template <class F>
  void split(std::string_view text, F&& piece) const {
    size_t pos = 0, gap = 0;
    while (pos < text.size()) {
      size_t b, e;
      if (!next_match(text, pos, &b, &e)) break;
      if (b > gap) piece(gap, b);
      if (e > b) {
        piece(b, e);
        pos = gap = e;
      } else {  // empty match: step over one character, it joins the gap
        pos = b + 1;
        while (pos < text.size() && (static_cast<unsigned char>(text[pos]) & 0xC0) == 0x80) ++pos;
      }
    }
    if (gap < text.size()) piece(gap, text.size());
  }

  // Rewrites \s and \S to mean Unicode White_Space (as in Rust's regex crate,
  // which tiktoken and HF tokenizers use). PCRE2's \s leaves out U+0085.
  static std::string rust_whitespace_semantics(const std::string& pattern);

 private:
  bool next_match(std::string_view text, size_t from, size_t* begin, size_t* end) const;
  void* code_ = nullptr;  // pcre2_code_8
  bool jit_ = false;
  std::string origin_;
};

}  // namespace gptoss
