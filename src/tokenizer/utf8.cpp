// UTF-8 validation and repair with the Unicode "maximal subpart" rule, the
// rule a browser's TextDecoder follows, so our repaired text is the string the
// JS oracle tokenizes.
#include <cstdint>

#include "tokenizer/tokenizer.h"

namespace gptoss {

namespace {

// Length of the valid UTF-8 sequence at s[i], or 0 when the bytes there are not
// one. When 0, *bad is the length of the maximal invalid subpart to replace
// with one U+FFFD (at least 1) and *truncated tells whether the subpart was a
// valid prefix cut short by the end of input.
size_t sequence_at(const unsigned char* s, size_t n, size_t i, size_t* bad, bool* truncated) {
  unsigned char c = s[i];
  *truncated = false;
  if (c < 0x80) return 1;
  size_t need;
  unsigned char lo = 0x80, hi = 0xBF;  // allowed range of the second byte
  if (c >= 0xC2 && c <= 0xDF) {
    need = 1;
  } else if (c >= 0xE0 && c <= 0xEF) {
    need = 2;
    if (c == 0xE0) lo = 0xA0;
    if (c == 0xED) hi = 0x9F;  // no UTF-16 surrogates
  } else if (c >= 0xF0 && c <= 0xF4) {
    need = 3;
    if (c == 0xF0) lo = 0x90;
    if (c == 0xF4) hi = 0x8F;  // nothing above U+10FFFF
  } else {
    *bad = 1;
    return 0;
  }
  size_t k = 1;
  for (; k <= need; ++k) {
    if (i + k >= n) {
      *bad = k;
      *truncated = true;
      return 0;
    }
    unsigned char b = s[i + k];
    unsigned char l = k == 1 ? lo : 0x80, h = k == 1 ? hi : 0xBF;
    if (b < l || b > h) {
      *bad = k;
      return 0;
    }
  }
  return need + 1;
}

}  // namespace

bool is_valid_utf8(std::string_view bytes) {
  auto* s = reinterpret_cast<const unsigned char*>(bytes.data());
  size_t n = bytes.size(), i = 0, bad;
  bool truncated;
  while (i < n) {
    // ASCII fast path, eight bytes at a time.
    while (i + 8 <= n) {
      uint64_t w;
      __builtin_memcpy(&w, s + i, 8);
      if (w & 0x8080808080808080ull) break;
      i += 8;
    }
    if (i >= n) break;
    size_t len = sequence_at(s, n, i, &bad, &truncated);
    if (len == 0) return false;
    i += len;
  }
  return true;
}

std::string to_valid_utf8(std::string_view bytes) {
  auto* s = reinterpret_cast<const unsigned char*>(bytes.data());
  size_t n = bytes.size(), i = 0, bad;
  bool truncated;
  std::string out;
  out.reserve(n + 8);
  while (i < n) {
    size_t len = sequence_at(s, n, i, &bad, &truncated);
    if (len) {
      out.append(bytes.data() + i, len);
      i += len;
    } else {
      out += "\xEF\xBF\xBD";
      i += bad;
    }
  }
  return out;
}

size_t incomplete_utf8_tail(std::string_view bytes) {
  auto* s = reinterpret_cast<const unsigned char*>(bytes.data());
  size_t n = bytes.size();
  // The lead byte of an unfinished character is at most 3 bytes from the end.
  for (size_t back = 1; back <= 3 && back <= n; ++back) {
    size_t i = n - back;
    if ((s[i] & 0xC0) == 0x80) continue;  // continuation byte: look further back
    size_t bad;
    bool truncated;
    size_t len = sequence_at(s, n, i, &bad, &truncated);
    return (len == 0 && truncated) ? back : 0;
  }
  return 0;
}

}  // namespace gptoss
