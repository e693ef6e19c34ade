#include "harmony/utf8_stream.h"

namespace gptoss::harmony {

namespace {

constexpr std::string_view kReplacement = "\xEF\xBF\xBD";

// Length of the sequence starting at s[i] if it is valid and complete (>0),
// 0 if it is a valid start but the string ends too soon, or minus the length
// of the maximal invalid subpart (one U+FFFD each, as the WHATWG decoder does).
int sequence_length(std::string_view s, size_t i) {
  auto b = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
  unsigned char c = b(i);
  if (c < 0x80) return 1;
  int len;
  unsigned char lo = 0x80, hi = 0xBF;  // allowed range of the second byte
  if (c >= 0xC2 && c <= 0xDF) {
    len = 2;
  } else if (c >= 0xE0 && c <= 0xEF) {
    len = 3;
    if (c == 0xE0) lo = 0xA0;
    if (c == 0xED) hi = 0x9F;  // no surrogates
  } else if (c >= 0xF0 && c <= 0xF4) {
    len = 4;
    if (c == 0xF0) lo = 0x90;
    if (c == 0xF4) hi = 0x8F;
  } else {
    return -1;
  }
  for (int k = 1; k < len; ++k) {
    if (i + k >= s.size()) return 0;
    unsigned char x = b(i + k);
    if (k == 1 ? (x < lo || x > hi) : (x < 0x80 || x > 0xBF)) return -k;
  }
  return len;
}

// Appends the valid part of s to out; returns where an unfinished tail starts
// (s.size() if none). With `final`, an unfinished tail is replaced too.
size_t decode_into(std::string_view s, std::string& out, bool final) {
  size_t i = 0;
  while (i < s.size()) {
    int n = sequence_length(s, i);
    if (n > 0) {
      out.append(s.substr(i, n));
      i += n;
    } else if (n == 0 && !final) {
      return i;
    } else {
      out.append(kReplacement);
      if (n < 0) {
        i += size_t(-n);
      } else {  // final: the unfinished tail is one replacement
        i += 1;
        while (i < s.size() && (static_cast<unsigned char>(s[i]) & 0xC0) == 0x80) ++i;
      }
    }
  }
  return s.size();
}

}  // namespace

std::string Utf8Stream::push(std::string_view bytes) {
  pending_.append(bytes);
  std::string out;
  size_t keep = decode_into(pending_, out, false);
  pending_.erase(0, keep);
  return out;
}

std::string Utf8Stream::flush() {
  std::string out;
  decode_into(pending_, out, true);
  pending_.clear();
  return out;
}

std::string sanitize_utf8(std::string_view bytes) {
  std::string out;
  decode_into(bytes, out, true);
  return out;
}

}  // namespace gptoss::harmony
