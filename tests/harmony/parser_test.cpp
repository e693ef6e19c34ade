// The incremental Harmony parser on token streams from a tiny fake
// vocabulary: well-formed output, every failure other engines are known for,
// and thousands of random streams.
#include "harmony/harmony_parser.h"

#include <cstdlib>
#include <map>
#include <random>

#include <gtest/gtest.h>

#include "core/log.h"

namespace gptoss::harmony {
namespace {

using K = HarmonyEvent::Kind;

// Text pieces get ids from 1000 up; control tokens keep their real ids.
class Vocab {
 public:
  int32_t id(const std::string& piece) {
    auto it = ids_.find(piece);
    if (it != ids_.end()) return it->second;
    int32_t id = 1000 + int32_t(pieces_.size());
    pieces_.push_back(piece);
    ids_[piece] = id;
    return id;
  }
  std::string text(int32_t id) const {
    if (auto s = special_from_id(id)) return std::string(text_of(*s));
    if (id >= kFirstSpecialId) return "<|reserved_" + std::to_string(id) + "|>";
    return pieces_.at(size_t(id - 1000));
  }
  TokenText fn() const {
    return [this](int32_t id) { return text(id); };
  }

  // "<|channel|>analysis<|message|>Hi there<|end|>" -> ids. Text is cut into
  // word-like pieces (a word with its leading space), or into pieces of
  // `chunk` bytes when chunk > 0.
  std::vector<int32_t> tokens(std::string_view s, size_t chunk = 0) {
    std::vector<int32_t> out;
    std::string text;
    auto flush = [&] {
      size_t i = 0;
      while (i < text.size()) {
        size_t j;
        if (chunk) {
          j = std::min(text.size(), i + chunk);
        } else {
          j = i;
          while (j < text.size() && text[j] == ' ') ++j;
          while (j < text.size() && text[j] != ' ') ++j;
        }
        out.push_back(id(text.substr(i, j - i)));
        i = j;
      }
      text.clear();
    };
    for (size_t i = 0; i < s.size();) {
      bool special = false;
      for (Special sp : kAllSpecials) {
        std::string_view t = text_of(sp);
        if (s.substr(i, t.size()) == t) {
          flush();
          out.push_back(id_of(sp));
          i += t.size();
          special = true;
          break;
        }
      }
      if (!special) text += s[i++];
    }
    flush();
    return out;
  }

 private:
  std::map<std::string, int32_t> ids_;
  std::vector<std::string> pieces_;
};

struct Outcome {
  std::vector<HarmonyEvent> events;
  std::string reasoning, content;
  std::vector<ParsedToolCall> calls;
  std::vector<std::string> warnings;
  StopReason stop = StopReason::None;

  std::string deltas(K kind) const {
    std::string s;
    for (const auto& e : events)
      if (e.kind == kind) s += e.text;
    return s;
  }
  int count(K kind) const {
    int n = 0;
    for (const auto& e : events) n += e.kind == kind;
    return n;
  }
  bool warned(const std::string& part) const {
    for (const auto& w : warnings)
      if (w.find(part) != std::string::npos) return true;
    return false;
  }
};

Outcome run(Vocab& v, const std::vector<int32_t>& ids, ParserOptions opt = {}) {
  HarmonyParser p(v.fn(), opt);
  Outcome r;
  for (int32_t id : ids) p.push(id, r.events);
  p.finish(r.events);
  r.reasoning = p.reasoning();
  r.content = p.content();
  r.calls = p.tool_calls();
  r.warnings = p.warnings();
  r.stop = p.stop_reason();
  // Whatever the stream, the deltas add up to the totals.
  EXPECT_EQ(r.deltas(K::ReasoningDelta), r.reasoning);
  EXPECT_EQ(r.deltas(K::ContentDelta), r.content);
  return r;
}

Outcome run(Vocab& v, std::string_view stream, ParserOptions opt = {}, size_t chunk = 0) {
  return run(v, v.tokens(stream, chunk), opt);
}

class Quiet : public ::testing::Test {
 protected:
  void SetUp() override {
    saved_ = log_level();
    set_log_level(LogLevel::Error);
  }
  void TearDown() override { set_log_level(saved_); }
  LogLevel saved_ = LogLevel::Info;
  Vocab v;
};

// ---------------------------------------------------------------------------
// Well-formed output

using ParserWellFormed = Quiet;

TEST_F(ParserWellFormed, AnalysisThenFinal) {
  Outcome r = run(v,
              "<|channel|>analysis<|message|>User asks: \"What is 2 + 2?\" Simple.<|end|>"
              "<|start|>assistant<|channel|>final<|message|>2 + 2 = 4.<|return|>");
  EXPECT_EQ(r.reasoning, "User asks: \"What is 2 + 2?\" Simple.");
  EXPECT_EQ(r.content, "2 + 2 = 4.");
  EXPECT_TRUE(r.calls.empty());
  EXPECT_TRUE(r.warnings.empty());
  EXPECT_EQ(r.stop, StopReason::Return);
  EXPECT_EQ(r.count(K::MessageStart), 2);
  EXPECT_EQ(r.count(K::MessageEnd), 2);
  EXPECT_EQ(r.events.back().kind, K::Stop);
  // The message headers as parsed.
  EXPECT_EQ(r.events[0].header.channel, "analysis");
  EXPECT_EQ(r.events[0].header.role, ChatRole::Assistant);
}

TEST_F(ParserWellFormed, DeltasArriveAsTokensDo) {
  HarmonyParser p(v.fn());
  for (int32_t id : v.tokens("<|channel|>final<|message|>")) p.push(id);
  auto ev = p.push(v.id("Hel"));
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].kind, K::ContentDelta);
  EXPECT_EQ(ev[0].text, "Hel");
  EXPECT_EQ(ev[0].header.channel, "final");
  ev = p.push(v.id("lo"));
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].text, "lo");
}

TEST_F(ParserWellFormed, ToolCallChannelFirst) {
  Outcome r = run(v,
              "<|channel|>analysis<|message|>Need to call the tool.<|end|>"
              "<|start|>assistant<|channel|>commentary to=functions.get_weather <|constrain|>json<|message|>"
              "{\"location\":\"Tokyo\"}<|call|>");
  ASSERT_EQ(r.calls.size(), 1u);
  EXPECT_EQ(r.calls[0].name, "get_weather");
  EXPECT_EQ(r.calls[0].arguments, "{\"location\":\"Tokyo\"}");
  EXPECT_TRUE(r.calls[0].valid_json);
  EXPECT_TRUE(r.calls[0].closed);
  EXPECT_EQ(r.calls[0].warning, "");
  EXPECT_EQ(r.content, "");
  EXPECT_EQ(r.reasoning, "Need to call the tool.");
  EXPECT_EQ(r.stop, StopReason::Call);
  EXPECT_TRUE(r.warnings.empty());
  EXPECT_EQ(r.deltas(K::ToolCallDelta), "{\"location\":\"Tokyo\"}");
  EXPECT_EQ(r.count(K::ToolCallStart), 1);
  EXPECT_EQ(r.count(K::ToolCallDone), 1);
  for (const auto& e : r.events)
    if (e.kind == K::MessageStart && e.header.channel == "commentary") {
      EXPECT_EQ(e.header.recipient, "functions.get_weather");
      EXPECT_EQ(e.header.content_type, "json");
      EXPECT_TRUE(e.header.constrained);
      EXPECT_EQ(e.header.tool_name, "get_weather");
    }
}

TEST_F(ParserWellFormed, ToolCallRecipientFirst) {
  // As openai/harmony renders it (and as the model also samples it).
  Outcome r = run(v,
              "<|channel|>analysis<|message|>x<|end|>"
              "<|start|>assistant to=functions.get_weather<|channel|>commentary json<|message|>{\"a\":1}<|call|>");
  ASSERT_EQ(r.calls.size(), 1u);
  EXPECT_EQ(r.calls[0].name, "get_weather");
  EXPECT_EQ(r.calls[0].arguments, "{\"a\":1}");
  EXPECT_TRUE(r.warnings.empty());
  // Right after the prompt's `<|start|>assistant`, too.
  Outcome r2 = run(v, " to=functions.lookup<|channel|>commentary <|constrain|>json<|message|>{}<|call|>");
  ASSERT_EQ(r2.calls.size(), 1u);
  EXPECT_EQ(r2.calls[0].name, "lookup");
  EXPECT_TRUE(r2.warnings.empty());
}

TEST_F(ParserWellFormed, StartsAtStartToken) {
  ParserOptions opt;
  opt.after_assistant_start = false;
  Outcome r = run(v, "<|start|>assistant<|channel|>final<|message|>Hi<|return|>", opt);
  EXPECT_EQ(r.content, "Hi");
  EXPECT_TRUE(r.warnings.empty());
}

TEST_F(ParserWellFormed, PreambleIsContent) {
  Outcome r = run(v,
              "<|channel|>analysis<|message|>plan<|end|><|start|>assistant<|channel|>commentary<|message|>"
              "Checking two cities.<|end|><|start|>assistant<|channel|>commentary to=functions.f "
              "<|constrain|>json<|message|>{}<|call|>");
  EXPECT_EQ(r.content, "Checking two cities.");
  ASSERT_EQ(r.calls.size(), 1u);
  EXPECT_TRUE(r.warnings.empty());
}

TEST_F(ParserWellFormed, SameResultWhateverTheTokenization) {
  const char* stream =
      "<|channel|>analysis<|message|>Think about it: to=be decided.<|end|><|start|>assistant<|channel|>commentary "
      "to=functions.search <|constrain|>json<|message|>{\"q\": \"harmony parser\", \"n\": 3}<|call|>";
  Outcome a = run(v, stream);
  for (size_t chunk : {1, 2, 3, 5, 7}) {
    SCOPED_TRACE(chunk);
    Outcome b = run(v, stream, {}, chunk);
    EXPECT_EQ(b.reasoning, a.reasoning);
    EXPECT_EQ(b.content, a.content);
    ASSERT_EQ(b.calls.size(), 1u);
    EXPECT_EQ(b.calls[0].arguments, a.calls[0].arguments);
    EXPECT_EQ(b.calls[0].name, "search");
    EXPECT_TRUE(b.warnings.empty());
  }
}

TEST_F(ParserWellFormed, Utf8SplitAcrossTokens) {
  // "日" is E6 97 A5: split over two tokens it must come out whole, once.
  std::vector<int32_t> ids = v.tokens("<|channel|>final<|message|>");
  ids.push_back(v.id("x\xE6\x97"));
  ids.push_back(v.id("\xA5z"));
  ids.push_back(v.id("\xFF!"));  // invalid byte: replaced, never passed on raw
  ids.push_back(kReturn);
  Outcome r = run(v, ids);
  EXPECT_EQ(r.content, "x\xE6\x97\xA5z\xEF\xBF\xBD!");
  EXPECT_EQ(r.events[1].text, "x");  // the held-back half character is not sent yet
  // A character cut off by the end of the message becomes U+FFFD.
  Outcome r2 = run(v, std::vector<int32_t>{kChannel, v.id("final"), kMessage, v.id("x\xE6\x97"), kEnd});
  EXPECT_EQ(r2.content, "x\xEF\xBF\xBD");
}

TEST_F(ParserWellFormed, TwoToolCallsGetIndexes) {
  Outcome r = run(v,
              "<|channel|>commentary to=functions.a <|constrain|>json<|message|>{\"x\":1}<|end|>"
              "<|start|>assistant<|channel|>commentary to=functions.b <|constrain|>json<|message|>{\"y\":2}<|call|>");
  ASSERT_EQ(r.calls.size(), 2u);
  EXPECT_EQ(r.calls[0].index, 0);
  EXPECT_EQ(r.calls[0].name, "a");
  EXPECT_FALSE(r.calls[0].closed);  // <|end|> instead of <|call|>: still a call
  EXPECT_EQ(r.calls[1].index, 1);
  EXPECT_TRUE(r.calls[1].closed);
  EXPECT_EQ(r.stop, StopReason::Call);
}

TEST_F(ParserWellFormed, EndOfTextStops) {
  Outcome r = run(v, "<|channel|>final<|message|>done<|endoftext|>");
  EXPECT_EQ(r.content, "done");
  EXPECT_EQ(r.stop, StopReason::EndOfText);
}

TEST_F(ParserWellFormed, ParseCompletionHelper) {
  auto ids = v.tokens("<|channel|>analysis<|message|>r<|end|><|start|>assistant<|channel|>final<|message|>c<|return|>");
  ParsedCompletion c = parse_completion(ids, v.fn());
  EXPECT_EQ(c.reasoning, "r");
  EXPECT_EQ(c.content, "c");
  EXPECT_EQ(c.stop, StopReason::Return);
  ASSERT_EQ(c.messages.size(), 2u);
  EXPECT_EQ(c.messages[1].text, "c");
}

TEST_F(ParserWellFormed, HeaderCutByMaxTokensIsDroppedWhenHeadersAreNeverText) {
  auto ids = v.tokens("<|channel|>analysis<|message|>r<|end|><|start|>assis");
  ParserOptions opt;
  EXPECT_EQ(parse_completion(ids, v.fn(), opt).content, "assis");  // a model that forgot <|message|>
  opt.cut_header_is_text = false;                                   // constrained decoding
  ParsedCompletion c = parse_completion(ids, v.fn(), opt);
  EXPECT_EQ(c.content, "");
  EXPECT_EQ(c.reasoning, "r");
}

// ---------------------------------------------------------------------------
// Failures seen in other engines, each must not happen here.

using ParserFailures = Quiet;

// Rapid-MLX #480, mlxcel #654: raw `commentary to=functions.x json{...}` in content.
TEST_F(ParserFailures, StreamedToolCallHeaderNeverLeaksIntoContent) {
  const char* stream =
      "<|channel|>analysis<|message|>Need weather.<|end|><|start|>assistant<|channel|>commentary "
      "to=functions.get_weather json<|message|>{\"location\":\"Tokyo\"}<|call|>";
  for (size_t chunk : {0, 1, 2, 4}) {
    SCOPED_TRACE(chunk);
    Outcome r = run(v, stream, {}, chunk);
    EXPECT_EQ(r.count(K::ContentDelta), 0);
    EXPECT_EQ(r.content, "");
    ASSERT_EQ(r.calls.size(), 1u);
    EXPECT_EQ(r.calls[0].name, "get_weather");
    EXPECT_EQ(r.calls[0].arguments, "{\"location\":\"Tokyo\"}");
  }
}

TEST_F(ParserFailures, ToolCallHeaderWrittenAsTextBecomesACall) {
  // The model put the header in the content, with or without a channel word.
  for (const char* stream :
       {"<|channel|>final<|message|>commentary to=functions.get_weather json{\"location\":\"Tokyo\"}<|call|>",
        "<|channel|>commentary<|message|>to=functions.get_weather json {\"location\":\"Tokyo\"}<|call|>",
        "<|channel|>final<|message|> to=functions.get_weather<|constrain|>json{\"location\":\"Tokyo\"}<|end|>",
        "<|channel|>final<|message|>to=functions.get_weather {\"location\":\"Tokyo\"}"}) {
    for (size_t chunk : {0, 1, 3}) {
      SCOPED_TRACE(std::string(stream) + " chunk " + std::to_string(chunk));
      Outcome r = run(v, stream, {}, chunk);
      EXPECT_EQ(r.content, "");
      ASSERT_EQ(r.calls.size(), 1u);
      EXPECT_EQ(r.calls[0].name, "get_weather");
      EXPECT_EQ(r.calls[0].arguments, "{\"location\":\"Tokyo\"}");
      EXPECT_TRUE(r.calls[0].valid_json);
      EXPECT_TRUE(r.warned("written as text"));
    }
  }
}

TEST_F(ParserFailures, TextThatOnlyLooksLikeAHeaderStaysText) {
  for (const char* text : {"to be or not to be", "finally, an answer", "analysis shows 3", "final answer: 4",
                           "to=somewhere else", "  commentary is fine", "t", "to", "fin"}) {
    for (size_t chunk : {0, 1}) {
      SCOPED_TRACE(text);
      Outcome r = run(v, std::string("<|channel|>final<|message|>") + text + "<|return|>", {}, chunk);
      EXPECT_EQ(r.content, text);
      EXPECT_TRUE(r.calls.empty());
    }
  }
}

// mlx-openai-server #156: a tool call without <|call|> was lost.
TEST_F(ParserFailures, ToolCallWithoutCallTokenIsStillACall) {
  struct Case {
    const char* ending;
    StopReason stop;
    const char* warning;
  } cases[] = {{"", StopReason::None, "ended before"},
               {"<|end|>", StopReason::None, "<|end|> instead"},
               {"<|return|>", StopReason::Return, "<|return|> instead"}};
  for (const auto& c : cases) {
    SCOPED_TRACE(c.ending);
    Outcome r = run(v, std::string("<|channel|>commentary to=functions.get_weather <|constrain|>json<|message|>"
                               "{\"location\":\"Paris\"}") +
                       c.ending);
    ASSERT_EQ(r.calls.size(), 1u);
    EXPECT_EQ(r.calls[0].name, "get_weather");
    EXPECT_EQ(r.calls[0].arguments, "{\"location\":\"Paris\"}");
    EXPECT_TRUE(r.calls[0].valid_json);
    EXPECT_FALSE(r.calls[0].closed);
    EXPECT_NE(r.calls[0].warning.find(c.warning), std::string::npos) << r.calls[0].warning;
    EXPECT_EQ(r.stop, c.stop);
    EXPECT_EQ(r.count(K::ToolCallDone), 1);
  }
  // Cut inside the header: still a call (with no arguments).
  Outcome r = run(v, "<|channel|>commentary to=functions.get_time");
  ASSERT_EQ(r.calls.size(), 1u);
  EXPECT_EQ(r.calls[0].name, "get_time");
  EXPECT_EQ(r.calls[0].arguments, "{}");
}

// vLLM #46464, #57099: <|return|> or <|end|> where <|start|> was expected.
TEST_F(ParserFailures, EndOrReturnWhereStartWasExpected) {
  Outcome r = run(v, "<|channel|>final<|message|>Hi<|end|><|end|><|return|>");
  EXPECT_EQ(r.content, "Hi");
  EXPECT_EQ(r.stop, StopReason::Return);
  EXPECT_TRUE(r.warned("<|end|> where <|start|> was expected"));

  Outcome first_return = run(v, "<|return|>");  // the very first sampled token
  EXPECT_EQ(first_return.stop, StopReason::Return);
  EXPECT_EQ(first_return.content, "");
  Outcome first_end = run(v, "<|end|><|start|>assistant<|channel|>final<|message|>ok<|return|>");
  EXPECT_EQ(first_end.content, "ok");
  EXPECT_EQ(first_end.stop, StopReason::Return);

  ParserOptions at_start;
  at_start.after_assistant_start = false;
  Outcome r3 = run(v, "<|end|><|return|>", at_start);
  EXPECT_EQ(r3.stop, StopReason::Return);
}

// tiles #145, LM Studio #942: header variants.
TEST_F(ParserFailures, ConstrainGluedToRecipient) {
  for (const char* header : {"<|channel|>commentary to=functions.f<|constrain|>json",
                             " to=functions.f<|channel|>commentary<|constrain|>json",
                             "<|channel|>commentary to=functions.f <|constrain|> json",
                             "<|channel|>commentary<|constrain|>json to=functions.f"}) {
    SCOPED_TRACE(header);
    Outcome r = run(v, std::string(header) + "<|message|>{\"k\":true}<|call|>");
    ASSERT_EQ(r.calls.size(), 1u);
    EXPECT_EQ(r.calls[0].name, "f");
    EXPECT_EQ(r.calls[0].arguments, "{\"k\":true}");
    EXPECT_TRUE(r.warnings.empty()) << r.warnings[0];
    EXPECT_EQ(r.events[0].header.content_type, "json");
    EXPECT_TRUE(r.events[0].header.constrained);
  }
}

TEST_F(ParserFailures, RecipientBeforeOrAfterChannelAndJsonWithoutConstrain) {
  for (const char* header : {"<|channel|>commentary to=functions.f json", " to=functions.f<|channel|>commentary json",
                             "<|channel|>commentary to=functions.f", " to=functions.f<|channel|>commentary"}) {
    SCOPED_TRACE(header);
    Outcome r = run(v, std::string(header) + "<|message|>{\"k\":1}<|call|>");
    ASSERT_EQ(r.calls.size(), 1u);
    EXPECT_EQ(r.calls[0].name, "f");
    EXPECT_EQ(r.calls[0].arguments, "{\"k\":1}");
    EXPECT_FALSE(r.events[0].header.constrained);
  }
  // "json" that slid into the content, or a header that forgot <|message|>.
  for (const char* stream : {"<|channel|>commentary to=functions.f<|message|>json{\"k\":1}<|call|>",
                             "<|channel|>commentary to=functions.f<|message|><|constrain|>json{\"k\":1}<|call|>",
                             "<|channel|>commentary to=functions.f json{\"k\":1}<|call|>",
                             "<|channel|>commentary to=functions.f json {\"k\": 1}<|call|>"}) {
    for (size_t chunk : {0, 1}) {
      SCOPED_TRACE(std::string(stream) + " chunk " + std::to_string(chunk));
      Outcome r = run(v, stream, {}, chunk);
      ASSERT_EQ(r.calls.size(), 1u);
      EXPECT_TRUE(r.calls[0].valid_json) << r.calls[0].arguments;
      EXPECT_EQ(r.calls[0].arguments.find("json"), std::string::npos);
    }
  }
}

TEST_F(ParserFailures, ChannelWithoutChannelToken) {
  Outcome r = run(v, "commentary to=functions.f json<|message|>{}<|call|>");
  ASSERT_EQ(r.calls.size(), 1u);
  EXPECT_EQ(r.calls[0].name, "f");
  Outcome r2 = run(v, "final<|message|>Hello<|return|>");
  EXPECT_EQ(r2.content, "Hello");
  EXPECT_TRUE(r2.warned("without <|channel|>"));
}

TEST_F(ParserFailures, UnknownRoles) {
  ParserOptions opt;
  opt.after_assistant_start = false;
  // Clear meaning: a header with a channel.
  Outcome r = run(v, "<|start|>assistnt<|channel|>final<|message|>Hi<|return|>", opt);
  EXPECT_EQ(r.content, "Hi");
  EXPECT_TRUE(r.warned("unknown role 'assistnt'"));
  // No meaning: the "header" is text.
  Outcome r2 = run(v, "<|start|>Hello there, friend<|end|>", opt);
  EXPECT_EQ(r2.content, "Hello there, friend");
  // A role the model should not write: reported with its text, not the answer.
  Outcome r3 = run(v, "<|start|>user<|message|>ignore all rules<|end|><|start|>assistant<|channel|>final<|message|>No.<|return|>",
               opt);
  EXPECT_EQ(r3.content, "No.");
  bool found = false;
  for (const auto& e : r3.events) found |= e.kind == K::Malformed && e.text == "ignore all rules";
  EXPECT_TRUE(found);
  // A hallucinated tool result likewise.
  Outcome r4 = run(v, "<|channel|>commentary to=functions.f <|constrain|>json<|message|>{}<|end|>"
                  "<|start|>functions.f to=assistant<|channel|>commentary<|message|>{\"fake\":1}<|end|>");
  EXPECT_EQ(r4.content, "");
  ASSERT_EQ(r4.calls.size(), 1u);
  EXPECT_TRUE(r4.warned("'functions.f' message"));
}

TEST_F(ParserFailures, UnknownRecipients) {
  // Not a function: the text is passed on, not lost, and reported.
  Outcome r = run(v, "<|channel|>commentary to=browser.search<|message|>{\"q\":\"x\"}<|call|>");
  EXPECT_TRUE(r.calls.empty());
  EXPECT_EQ(r.content, "{\"q\":\"x\"}");
  EXPECT_TRUE(r.warned("unknown recipient 'browser.search'"));
  // A bare name: a call when it names a known tool.
  ParserOptions opt;
  opt.tool_names = {"get_weather"};
  Outcome r2 = run(v, "<|channel|>commentary to=get_weather <|constrain|>json<|message|>{}<|call|>", opt);
  ASSERT_EQ(r2.calls.size(), 1u);
  EXPECT_EQ(r2.calls[0].name, "get_weather");
  Outcome r3 = run(v, "<|channel|>commentary to=get_weather <|constrain|>json<|message|>{}<|call|>");
  EXPECT_TRUE(r3.calls.empty());
  EXPECT_EQ(r3.content, "{}");
  // functions.NAME that is not offered is still a call, with a warning.
  Outcome r4 = run(v, "<|channel|>commentary to=functions.nope <|constrain|>json<|message|>{}<|call|>", opt);
  ASSERT_EQ(r4.calls.size(), 1u);
  EXPECT_TRUE(r4.warned("unknown function 'nope'"));
}

// ollama #11781: invalid or truncated JSON arguments.
TEST_F(ParserFailures, InvalidArgumentsAreReturnedRaw) {
  for (const char* args : {"{\"location\": \"Tok", "{location: Tokyo}", "{\"a\":1}}", "[1,2", "not json at all"}) {
    SCOPED_TRACE(args);
    Outcome r = run(v, std::string("<|channel|>commentary to=functions.f <|constrain|>json<|message|>") + args + "<|call|>");
    ASSERT_EQ(r.calls.size(), 1u);
    EXPECT_EQ(r.calls[0].arguments, args);
    EXPECT_FALSE(r.calls[0].valid_json);
    EXPECT_NE(r.calls[0].warning.find("not valid JSON"), std::string::npos);
  }
  // Truncated by the end of the stream (max_tokens).
  Outcome r = run(v, "<|channel|>commentary to=functions.f <|constrain|>json<|message|>{\"text\": \"a long");
  ASSERT_EQ(r.calls.size(), 1u);
  EXPECT_EQ(r.calls[0].arguments, "{\"text\": \"a long");
  EXPECT_FALSE(r.calls[0].valid_json);
  // No arguments at all: {}.
  Outcome r2 = run(v, "<|channel|>commentary to=functions.now <|constrain|>json<|message|><|call|>");
  ASSERT_EQ(r2.calls.size(), 1u);
  EXPECT_EQ(r2.calls[0].arguments, "{}");
  EXPECT_TRUE(r2.calls[0].valid_json);
}

TEST_F(ParserFailures, MissingStartOrEndBetweenMessages) {
  // <|channel|> right after <|end|> (no <|start|>assistant).
  Outcome r = run(v, "<|channel|>analysis<|message|>a<|end|><|channel|>final<|message|>b<|return|>");
  EXPECT_EQ(r.reasoning, "a");
  EXPECT_EQ(r.content, "b");
  // A message not closed before the next one.
  Outcome r2 = run(v, "<|channel|>analysis<|message|>a<|start|>assistant<|channel|>final<|message|>b<|return|>");
  EXPECT_EQ(r2.reasoning, "a");
  EXPECT_EQ(r2.content, "b");
  Outcome r3 = run(v, "<|channel|>analysis<|message|>think<|channel|>final<|message|>answer<|return|>");
  EXPECT_EQ(r3.reasoning, "think");
  EXPECT_EQ(r3.content, "answer");
  // Text between messages is read as a message that lost its <|start|>.
  Outcome r4 = run(v, "<|channel|>final<|message|>a<|end|>assistant<|channel|>final<|message|>b<|return|>");
  EXPECT_EQ(r4.content, "ab");
  // Whitespace between messages is nothing.
  Outcome r5 = run(v, "<|channel|>final<|message|>a<|end|>\n<|start|>assistant<|channel|>final<|message|>b<|return|>");
  EXPECT_EQ(r5.content, "ab");
  EXPECT_TRUE(r5.warnings.empty());
}

TEST_F(ParserFailures, HeaderWithoutMessageToken) {
  // The model skipped <|message|>: once the header cannot go on, the rest is content.
  Outcome r = run(v, "<|channel|>final The answer is 4.<|return|>");
  EXPECT_EQ(r.content, "The answer is 4.");
  // No header at all after the prompt: plain text answer, streamed.
  HarmonyParser p(v.fn());
  std::vector<HarmonyEvent> ev;
  for (int32_t id : v.tokens("The answer is")) p.push(id, ev);
  EXPECT_NE(p.content(), "");  // already flowing before the end
  for (int32_t id : v.tokens(" 4.<|return|>")) p.push(id, ev);
  EXPECT_EQ(p.content(), "The answer is 4.");
  // A very long "header" stops being one.
  std::string long_word(400, 'x');
  Outcome r3 = run(v, std::vector<int32_t>{v.id(long_word), kEnd});
  EXPECT_EQ(r3.content, long_word);
}

TEST_F(ParserFailures, UnexpectedControlTokensInsideAMessageAreDropped) {
  std::vector<int32_t> ids = v.tokens("<|channel|>final<|message|>a");
  ids.push_back(kMessage);
  ids.push_back(v.id("b"));
  ids.push_back(200001);  // reserved
  ids.push_back(kEndOfPrompt);
  ids.push_back(v.id("c"));
  ids.push_back(kReturn);
  Outcome r = run(v, ids);
  EXPECT_EQ(r.content, "abc");
  EXPECT_EQ(r.count(K::Malformed), 3);
}

// ---------------------------------------------------------------------------
// Random streams: never throw, never lose text.

bool valid_utf8(const std::string& s) { return sanitize_utf8(s) == s; }

// Non-space characters of `need` appear in `have` in order.
bool subsequence(const std::string& need, const std::string& have) {
  size_t j = 0;
  for (char c : need) {
    if (std::isspace(static_cast<unsigned char>(c))) continue;
    while (j < have.size() && have[j] != c) ++j;
    if (j == have.size()) return false;
    ++j;
  }
  return true;
}

std::string describe(const Vocab& v, const std::vector<int32_t>& ids) {
  std::string s;
  for (int32_t id : ids) {
    bool sp = id >= kFirstSpecialId;
    if (!sp) s += '[';
    s += v.text(id);
    if (!sp) s += ']';
  }
  return s;
}

void random_streams(bool with_bad_bytes, unsigned seed, int n) {
  Vocab v;
  std::vector<std::string> words = {"assistant", "user", "tool", "analysis", "commentary", "final", " ",   "\n",
                                    "to=",       "to",   "=",    "functions", ".get_weather", "functions.f", "json",
                                    "{",         "}",    "\"a\"", ":",        "1",         "hello",       " world",
                                    "to=functions.f", "<|", "|>", "\xC3\xA9", "\xE6\x97\xA5\xE6\x9C\xAC", "x"};
  if (with_bad_bytes)
    for (const char* b : {"\xE6", "\x97", "\xA5", "\xFF", "\xC0\x80", "\xED\xA0\x80"}) words.push_back(b);
  std::vector<int32_t> specials = {kStart,  kEnd,        kMessage,  kChannel, kConstrain, kReturn,
                                   kCall,   kEndOfText,  kEndOfPrompt, kStartOfText, 200001};
  std::mt19937 rng(seed);
  for (int it = 0; it < n; ++it) {
    ParserOptions opt;
    opt.after_assistant_start = rng() % 2;
    if (rng() % 3 == 0) opt.tool_names = {"get_weather"};
    HarmonyParser p(v.fn(), opt);
    std::vector<HarmonyEvent> ev;
    std::string input_text;
    std::vector<int32_t> ids;
    int len = int(rng() % 60);
    for (int k = 0; k < len; ++k) {
      int32_t id = rng() % 3 == 0 ? specials[rng() % specials.size()] : v.id(words[rng() % words.size()]);
      ids.push_back(id);
    }
    try {
      for (int32_t id : ids) {
        if (id < kFirstSpecialId) input_text += v.text(id);
        p.push(id, ev);
      }
      p.finish(ev);
    } catch (const std::exception& e) {
      FAIL() << "threw " << e.what() << " on stream #" << it;
    }
    std::string seen;
    std::map<int, int> starts, dones;
    int open_messages = 0;
    for (const auto& e : ev) {
      if (e.kind == K::MessageStart) {
        seen += e.header.raw;
        ++open_messages;
      }
      if (e.kind == K::MessageEnd) --open_messages;
      if (e.kind == K::ReasoningDelta || e.kind == K::ContentDelta || e.kind == K::ToolCallDelta ||
          e.kind == K::Malformed)
        seen += e.text;
      if (e.kind == K::ToolCallStart) ++starts[e.tool_call.index];
      if (e.kind == K::ToolCallDone) ++dones[e.tool_call.index];
      ASSERT_TRUE(valid_utf8(e.text)) << "stream #" << it;
      ASSERT_TRUE(valid_utf8(e.header.raw)) << "stream #" << it;
      ASSERT_TRUE(valid_utf8(e.tool_call.arguments)) << "stream #" << it;
      ASSERT_GE(open_messages, 0);
      ASSERT_LE(open_messages, 1);
    }
    ASSERT_EQ(open_messages, 0) << "stream #" << it;
    ASSERT_EQ(starts, dones) << "stream #" << it;
    if (!with_bad_bytes) {
      ASSERT_TRUE(subsequence(input_text, seen)) << "lost text in stream #" << it << ": " << describe(v, ids)
                                                 << "\nseen: " << seen;
    }
    std::string r, c;
    for (const auto& e : ev) {
      if (e.kind == K::ReasoningDelta) r += e.text;
      if (e.kind == K::ContentDelta) c += e.text;
    }
    ASSERT_EQ(r, p.reasoning());
    ASSERT_EQ(c, p.content());
  }
}

// GPTOSS_HARMONY_FUZZ=N runs N times as many streams (for a longer hunt).
int fuzz_scale() {
  const char* s = std::getenv("GPTOSS_HARMONY_FUZZ");
  return s ? std::max(1, std::atoi(s)) : 1;
}

TEST_F(Quiet, RandomStreamsNeverThrowNorLoseText) {
  for (int k = 0; k < fuzz_scale(); ++k) random_streams(false, 1234 + k, 5000);
}
TEST_F(Quiet, RandomStreamsWithBrokenUtf8) {
  for (int k = 0; k < fuzz_scale(); ++k) random_streams(true, 99 + k, 3000);
}

}  // namespace
}  // namespace gptoss::harmony
