#include "harmony/utf8_stream.h"

#include <gtest/gtest.h>

namespace gptoss::harmony {
namespace {

const std::string R = "\xEF\xBF\xBD";  // U+FFFD

TEST(Utf8Stream, HoldsBackSplitCharacters) {
  Utf8Stream s;
  EXPECT_EQ(s.push("a\xF0\x9F"), "a");
  EXPECT_TRUE(s.holding());
  EXPECT_EQ(s.push("\x98"), "");
  EXPECT_EQ(s.push("\x80!"), "\xF0\x9F\x98\x80!");
  EXPECT_EQ(s.flush(), "");
  EXPECT_EQ(s.push("\xE6\x97"), "");
  EXPECT_EQ(s.flush(), R);  // cut off: one replacement
}

TEST(Utf8Stream, ReplacesInvalidSequencesLikeWhatwg) {
  EXPECT_EQ(sanitize_utf8("ok"), "ok");
  EXPECT_EQ(sanitize_utf8("\xFF"), R);
  EXPECT_EQ(sanitize_utf8("\xE6\x97" "A"), R + "A");          // maximal subpart: one U+FFFD
  EXPECT_EQ(sanitize_utf8("\xED\xA0\x80"), R + R + R);         // surrogate
  EXPECT_EQ(sanitize_utf8("\xC0\x80"), R + R);                 // overlong
  EXPECT_EQ(sanitize_utf8("\xF4\x90\x80\x80"), R + R + R + R);  // above U+10FFFF
  EXPECT_EQ(sanitize_utf8("\xF0\x9F\x98"), R);
  Utf8Stream s;
  EXPECT_EQ(s.push("\x80" "a"), R + "a");  // a stray continuation byte is not held
}

}  // namespace
}  // namespace gptoss::harmony
