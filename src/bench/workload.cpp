#include "bench/workload.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <random>

#include <nlohmann/json.hpp>

#include "core/error.h"

namespace gptoss::bench {

namespace {

// Frequent English words that o200k encodes as one token with their leading
// space; a prompt of n of them is about n tokens.
constexpr const char* kWords[] = {
    "time", "year", "people", "way", "day", "man", "thing", "woman", "life", "child", "world", "school",
    "state", "family", "student", "group", "country", "problem", "hand", "part", "place", "case", "week",
    "company", "system", "program", "question", "work", "government", "number", "night", "point", "home",
    "water", "room", "mother", "area", "money", "story", "fact", "month", "lot", "right", "study", "book",
    "eye", "job", "word", "business", "issue", "side", "kind", "head", "house", "service", "friend",
    "father", "power", "hour", "game", "line", "end", "member", "law", "car", "city", "community", "name",
    "president", "team", "minute", "idea", "kid", "body", "information", "back", "parent", "face", "others",
    "level", "office", "door", "health", "person", "art", "war", "history", "party", "result", "change",
    "morning", "reason", "research", "girl", "guy", "moment", "air", "teacher", "force", "education",
    "good", "new", "first", "last", "long", "great", "little", "own", "other", "old", "big", "high",
    "different", "small", "large", "next", "early", "young", "important", "few", "public", "bad", "same",
    "able", "say", "make", "go", "know", "take", "see", "come", "think", "look", "want", "give", "use",
    "find", "tell", "ask", "seem", "feel", "try", "leave", "call", "keep", "let", "begin", "show", "hear",
    "play", "run", "move", "like", "live", "believe", "hold", "bring", "happen", "write", "provide", "sit",
    "stand", "lose", "pay", "meet", "include", "continue", "set", "learn", "lead", "understand", "watch",
    "follow", "stop", "create", "speak", "read", "spend", "grow", "open", "walk", "win", "offer", "remember",
    "love", "consider", "appear", "buy", "wait", "serve", "die", "send", "expect", "build", "stay", "fall",
    "cut", "reach", "kill", "remain", "river", "garden", "music", "table", "window", "market", "light",
    "paper", "energy", "season", "field", "road", "bridge", "mountain", "island", "letter", "picture"};
constexpr size_t kNumWords = sizeof(kWords) / sizeof(kWords[0]);

int draw_length(int len, double ratio, std::mt19937_64& rng) {
  if (ratio <= 0) return std::max(1, len);
  const int lo = std::max(1, int(std::floor(len * (1 - ratio)))), hi = std::max(lo, int(std::ceil(len * (1 + ratio))));
  return std::uniform_int_distribution<int>(lo, hi)(rng);
}

}  // namespace

std::string random_words(int n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<size_t> pick(0, kNumWords - 1);
  std::string s;
  s.reserve(size_t(n) * 7);
  for (int i = 0; i < n; ++i) {
    if (i) s += ' ';
    s += kWords[pick(rng)];
  }
  return s;
}

RequestSpec synthetic_request(size_t index, const LengthSpec& l, uint64_t seed) {
  std::mt19937_64 rng(seed * 0x9E3779B97F4A7C15ull + index);
  RequestSpec s;
  s.approx_input_tokens = draw_length(l.input_len, l.range_ratio, rng);
  s.max_tokens = draw_length(l.output_len, l.range_ratio, rng);
  s.prompt = random_words(s.approx_input_tokens, rng());
  return s;
}

std::vector<RequestSpec> load_dataset(const std::string& path, int default_max_tokens) {
  std::ifstream in(path);
  if (!in) throw Error("cannot open --dataset " + path);
  std::vector<RequestSpec> out;
  std::string line;
  for (int n = 1; std::getline(in, line); ++n) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    auto j = nlohmann::json::parse(line, nullptr, false);
    const std::string where = path + ":" + std::to_string(n);
    if (j.is_discarded() || !j.is_object()) throw Error(where + ": not a JSON object");
    if (!j.contains("prompt") || !j["prompt"].is_string()) throw Error(where + ": needs a string \"prompt\"");
    RequestSpec s;
    s.prompt = j["prompt"];
    s.max_tokens = default_max_tokens;
    if (j.contains("max_tokens")) {
      if (!j["max_tokens"].is_number_integer() || j["max_tokens"].get<int>() < 1)
        throw Error(where + ": \"max_tokens\" must be a positive integer");
      s.max_tokens = j["max_tokens"];
    }
    // About 4 characters per token for English; reported usage replaces this.
    s.approx_input_tokens = std::max(1, int(s.prompt.size() / 4));
    out.push_back(std::move(s));
  }
  if (out.empty()) throw Error("--dataset " + path + " holds no requests");
  return out;
}

}  // namespace gptoss::bench
