// Building a Conversation from OpenAI chat JSON: the shapes clients send, and
// clear errors for the ones we cannot take.
#include "harmony/conversation.h"

#include <gtest/gtest.h>

#include "core/error.h"

namespace gptoss::harmony {
namespace {

std::string error_of(const std::string& json) {
  try {
    conversation_from_json_text(json);
  } catch (const Error& e) {
    return e.what();
  }
  return "no error";
}

TEST(ConversationJson, FullRequest) {
  Conversation c = conversation_from_json_text(R"({
    "model": "gpt-oss-20b", "stream": true, "reasoning_effort": "HIGH",
    "tools": [{"type":"function","function":{"name":"f","parameters":{"type":"object","properties":{"b":{},"a":{}}}}}],
    "messages": [
      {"role":"system","content":"sys"},
      {"role":"user","content":[{"type":"text","text":"a"},{"type":"text","text":"b"}]},
      {"role":"assistant","content":null,"reasoning":"think","tool_calls":[
         {"id":"c1","type":"function","function":{"name":"f","arguments":"{\"x\":1}"}},
         {"id":"c2","type":"function","function":{"name":"g","arguments":{"y":2}}}]},
      {"role":"tool","tool_call_id":"c2","content":"ok"},
      {"role":"tool","tool_call_id":"zz","name":"functions.f","content":"ok"}
    ]})");
  EXPECT_EQ(c.reasoning_effort, ReasoningEffort::High);
  ASSERT_EQ(c.messages.size(), 5u);
  EXPECT_EQ(c.messages[0].role, ChatRole::System);
  EXPECT_EQ(c.messages[1].content, "ab");
  EXPECT_EQ(c.messages[2].reasoning, "think");
  ASSERT_EQ(c.messages[2].tool_calls.size(), 2u);
  EXPECT_EQ(c.messages[2].tool_calls[0].arguments, "{\"x\":1}");
  EXPECT_EQ(c.messages[2].tool_calls[1].arguments, "{\"y\":2}");  // an object is accepted and dumped
  EXPECT_EQ(c.messages[3].name, "g");                              // looked up from tool_call_id
  EXPECT_EQ(c.messages[4].name, "f");                              // given; "functions." dropped
  // Key order of the tool schema is kept (it decides the rendered order).
  EXPECT_EQ(c.tools[0]["function"]["parameters"]["properties"].begin().key(), "b");
}

TEST(ConversationJson, ReasoningAliasesAndDefaults) {
  Conversation c = conversation_from_json_text(R"({"messages":[{"role":"assistant","reasoning_content":"r","content":"x"}]})");
  EXPECT_EQ(c.messages[0].reasoning, "r");
  EXPECT_EQ(c.reasoning_effort, ReasoningEffort::Medium);
  c = conversation_from_json_text(R"({"messages":[{"role":"assistant","thinking":"t"}],"reasoning":{"effort":"low"}})");
  EXPECT_EQ(c.messages[0].reasoning, "t");
  EXPECT_EQ(c.reasoning_effort, ReasoningEffort::Low);
}

TEST(ConversationJson, LenientShapes) {
  Conversation c = conversation_from_json_text(R"({"messages":[
      {"role":"assistant","content":[{"type":"refusal","refusal":"I can't."}]},
      {"role":"assistant","tool_calls":[{"id":"t","function":{"name":"f","arguments":"{}"}}]},
      {"role":"tool","tool_call_id":"t","content":{"temp":20}},
      {"role":"function","name":"f","content":"legacy"}]})");
  EXPECT_EQ(c.messages[0].content, "I can't.");
  EXPECT_EQ(c.messages[2].content, "{\"temp\":20}");
  EXPECT_EQ(c.messages[3].role, ChatRole::Tool);
  EXPECT_EQ(c.messages[3].name, "f");
}

TEST(ConversationJson, ClearErrors) {
  struct Case {
    const char* json;
    const char* expect;
  } cases[] = {
      {"not json", "not valid JSON"},
      {"[]", "JSON object"},
      {"{}", "no \"messages\""},
      {R"({"messages":{}})", "must be an array"},
      {R"({"messages":[1]})", "messages[0] must be an object"},
      {R"({"messages":[{"content":"x"}]})", "messages[0] has no \"role\""},
      {R"({"messages":[{"role":"bot","content":"x"}]})", "messages[0].role 'bot'"},
      {R"({"messages":[{"role":"user","content":5}]})", "messages[0].content must be a string"},
      {R"({"messages":[{"role":"user","content":[{"type":"image_url","image_url":{}}]}]})", "text only"},
      {R"({"messages":[{"role":"user","content":[{"type":"text"}]}]})", "messages[0].content[0].text"},
      {R"({"messages":[{"role":"assistant","tool_calls":[{"id":"1","function":{"arguments":"{}"}}]}]})",
       "messages[0].tool_calls[0].function.name"},
      {R"({"messages":[{"role":"assistant","tool_calls":{}}]})", "tool_calls must be an array"},
      {R"({"messages":[{"role":"tool","content":"x"}]})", "without tool_call_id or name"},
      {R"({"messages":[{"role":"tool","tool_call_id":"nope","content":"x"}]})", "matches no earlier"},
      {R"({"messages":[],"reasoning_effort":"extreme"})", "low, medium or high"},
      {R"({"messages":[],"reasoning_effort":3})", "must be a string"},
      {R"({"messages":[],"tools":[{"type":"function","function":{"name":"f","parameters":[]}}]})",
       "tools[0].function.parameters"},
      {R"({"messages":[{"role":"user","name":7,"content":"x"}]})", "no error"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.json);
    std::string e = error_of(c.json);
    EXPECT_NE(e.find(c.expect), std::string::npos) << e;
  }
}

}  // namespace
}  // namespace gptoss::harmony
