// Rendering conversations to the Harmony prompt. Each cases/render_NAME.json
// holds an OpenAI chat request and render options; cases/render_NAME.txt the
// expected prompt, written from docs/gpt-oss-spec.md and openai/harmony (the
// render_harmony_* ones are byte-for-byte openai/harmony's own test data).
#include "harmony/rendered_prompt.h"

#include <filesystem>

#include <gtest/gtest.h>

#include "core/error.h"
#include "test_util.h"
#include "tokenizer/tokenizer.h"

namespace gptoss::harmony {
namespace {

using ojson = nlohmann::ordered_json;
using test::read_case;

RenderOptions options_from(const ojson& o) {
  RenderOptions opt;
  opt.current_date = "2025-06-28";
  if (o.contains("date")) {
    if (o["date"].is_null()) opt.show_current_date = false;
    else opt.current_date = o["date"].get<std::string>();
  }
  if (o.contains("recipient_first")) opt.tool_call_recipient_first = o["recipient_first"].get<bool>();
  if (o.contains("drop_old_reasoning")) opt.drop_old_reasoning = o["drop_old_reasoning"].get<bool>();
  if (o.contains("generation_prompt")) opt.add_generation_prompt = o["generation_prompt"].get<bool>();
  return opt;
}

std::vector<std::string> case_names() {
  std::vector<std::string> names;
  for (const auto& e : std::filesystem::directory_iterator(GPTOSS_HARMONY_CASES_DIR)) {
    std::string f = e.path().filename().string();
    if (f.rfind("render_", 0) == 0 && e.path().extension() == ".json") names.push_back(f.substr(7, f.size() - 12));
  }
  std::sort(names.begin(), names.end());
  return names;
}

class RenderCase : public ::testing::TestWithParam<std::string> {};

TEST_P(RenderCase, MatchesExpectedText) {
  ojson c = ojson::parse(read_case("render_" + GetParam() + ".json"));
  Conversation conv = conversation_from_json(c["request"]);
  RenderedPrompt p = render_conversation(conv, options_from(c["options"]));
  EXPECT_EQ(p.text(), read_case("render_" + GetParam() + ".txt"));
}

INSTANTIATE_TEST_SUITE_P(Cases, RenderCase, ::testing::ValuesIn(case_names()),
                         [](const auto& info) { return info.param; });

TEST(Render, AtLeastFifteenCases) { EXPECT_GE(case_names().size(), 15u); }

// A byte-level stand-in for the o200k_harmony tokenizer: each byte is its own
// id (0..255), control tokens have their real ids and are recognised in text
// only with allow_special.
class FakeTokenizer : public Tokenizer {
 public:
  std::vector<int32_t> encode(std::string_view text, bool allow_special) const override {
    std::vector<int32_t> out;
    for (size_t i = 0; i < text.size();) {
      bool matched = false;
      if (allow_special)
        for (Special s : kAllSpecials)
          if (text.substr(i, text_of(s).size()) == text_of(s)) {
            out.push_back(id_of(s));
            i += text_of(s).size();
            matched = true;
            break;
          }
      if (!matched) out.push_back(static_cast<unsigned char>(text[i++]));
    }
    ++encode_calls;
    return out;
  }
  std::string decode(std::span<const int32_t> ids, bool) const override {
    std::string s;
    for (int32_t id : ids) s += token_bytes(id);
    return s;
  }
  std::string token_bytes(int32_t id) const override {
    if (auto s = special_from_id(id)) return std::string(text_of(*s));
    return std::string(1, static_cast<char>(id));
  }
  std::optional<int32_t> token_id(std::string_view t) const override {
    for (Special s : kAllSpecials)
      if (text_of(s) == t) return wrong_start && s == Special::Start ? 5 : id_of(s);
    return std::nullopt;
  }
  bool is_special(int32_t id) const override { return id >= kFirstSpecialId; }
  int32_t vocab_size() const override { return 201088; }
  mutable int encode_calls = 0;
  bool wrong_start = false;
};

TEST(Render, IdsEncodeTextWithoutSpecials) {
  Conversation conv;
  ChatMessage m;
  m.content = "hi <|start|>x";
  conv.messages.push_back(m);
  RenderOptions opt;
  opt.current_date = "2025-01-01";
  RenderedPrompt p = render_conversation(conv, opt);
  FakeTokenizer tok;
  std::vector<int32_t> ids = p.ids(tok);
  // The control tokens are exactly the structural ones, in order.
  std::vector<int32_t> specials;
  for (int32_t id : ids)
    if (id >= kFirstSpecialId) specials.push_back(id);
  EXPECT_EQ(specials, (std::vector<int32_t>{kStart, kMessage, kEnd, kStart, kMessage, kEnd, kStart}));
  // The user's "<|start|>" is ordinary bytes, and decoding gives the text back.
  EXPECT_EQ(tok.decode(ids, false), p.text());
  // Every text piece is tokenized on its own, as openai/harmony does.
  size_t text_pieces = 0;
  for (const auto& piece : p.pieces) text_pieces += !piece.is_special();
  EXPECT_EQ(size_t(tok.encode_calls), text_pieces);
}

TEST(Render, IdsRejectAForeignTokenizer) {
  FakeTokenizer tok;
  tok.wrong_start = true;
  RenderedPrompt p = render_conversation(Conversation{});
  EXPECT_THROW(p.ids(tok), Error);
}

TEST(Render, PiecesSplitLikeHarmony) {
  // assistant | " to=functions.f" | <|channel|> | commentary | " " | <|constrain|> | json | <|message|> | args | <|call|>
  RenderedPrompt p;
  render_message({"assistant", "functions.f", "commentary", "<|constrain|>json", "{}"}, p);
  ASSERT_EQ(p.pieces.size(), 11u);
  EXPECT_EQ(p.pieces[1].text, "assistant");
  EXPECT_EQ(p.pieces[2].text, " to=functions.f");
  EXPECT_TRUE(p.pieces[3].is_special());
  EXPECT_EQ(p.pieces[5].text, " ");
  EXPECT_EQ(p.pieces[6].special, Special::Constrain);
  EXPECT_EQ(p.pieces[7].text, "json");
  EXPECT_EQ(p.pieces[10].special, Special::Call);
  // A plain content type is text; "all" is no recipient.
  RenderedPrompt q;
  render_message({"assistant", "all", "final", "json", "x"}, q);
  EXPECT_EQ(q.text(), "<|start|>assistant<|channel|>final json<|message|>x<|end|>");
}

TEST(Render, CurrentDateDefaultsToToday) {
  RenderedPrompt p = render_conversation(Conversation{});
  std::string today = today_utc_date();
  ASSERT_EQ(today.size(), 10u);
  EXPECT_NE(p.text().find("Current date: " + today + "\n"), std::string::npos);
}

TEST(Render, ModelIdentityAndCutoffAreOptions) {
  RenderOptions opt;
  opt.model_identity = "You are a test model.";
  opt.knowledge_cutoff = "2030-01";
  opt.show_current_date = false;
  EXPECT_EQ(render_system_content(ReasoningEffort::High, opt, false),
            "You are a test model.\nKnowledge cutoff: 2030-01\n\nReasoning: high\n\n# Valid channels: analysis, "
            "commentary, final. Channel must be included for every message.");
}

TEST(Render, BadToolsInAHandBuiltConversationThrow) {
  Conversation conv;
  conv.tools = ojson::parse(R"([{"type":"function","function":{}}])");
  EXPECT_THROW(render_conversation(conv), Error);
}

}  // namespace
}  // namespace gptoss::harmony
