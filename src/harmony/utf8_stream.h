#pragma once
// Bytes in, valid UTF-8 out: holds back the start of a character split across
// tokens until the rest arrives, and replaces invalid bytes with U+FFFD, so
// every piece of text the parser hands out can go straight into JSON.
#include <string>
#include <string_view>

namespace gptoss::harmony {

class Utf8Stream {
 public:
  // The text that became complete with these bytes.
  std::string push(std::string_view bytes);
  // Whatever is held back (an unfinished character becomes U+FFFD).
  std::string flush();
  bool holding() const { return !pending_.empty(); }

 private:
  std::string pending_;
};

// The whole string with invalid or unfinished sequences replaced by U+FFFD.
std::string sanitize_utf8(std::string_view bytes);

}  // namespace gptoss::harmony
