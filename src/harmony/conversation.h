#pragma once
// A chat conversation in the shape of OpenAI's chat completions request: the
// input of render_conversation(). Plain structs, so callers (server, CLI,
// tests) can build one by hand or from request JSON.
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace gptoss::harmony {

enum class ChatRole { System, Developer, User, Assistant, Tool };
enum class ReasoningEffort { Low, Medium, High };

std::string_view to_string(ChatRole role);
std::string_view to_string(ReasoningEffort effort);
// "low" | "medium" | "high" (case-insensitive); throws Error otherwise.
ReasoningEffort parse_reasoning_effort(std::string_view text);

struct ChatToolCall {
  std::string id;         // the client's id; tool results refer to it
  std::string name;       // function name, without "functions."
  std::string arguments;  // JSON text, rendered verbatim
};

struct ChatMessage {
  ChatRole role = ChatRole::User;
  std::string content;                  // text (content parts already joined)
  std::string reasoning;                // assistant: analysis (chain of thought)
  std::vector<ChatToolCall> tool_calls;  // assistant
  std::string tool_call_id;             // tool: the call this answers
  std::string name;                     // tool: the function's name (resolved)
};

struct Conversation {
  std::vector<ChatMessage> messages;
  // OpenAI function tools: [{"type":"function","function":{"name","description",
  // "parameters"}}]. ordered_json, because the rendered TypeScript lists
  // properties in the order the client wrote them (as openai/harmony does).
  nlohmann::ordered_json tools = nlohmann::ordered_json::array();
  ReasoningEffort reasoning_effort = ReasoningEffort::Medium;
};

// One function tool, checked and normalised from the OpenAI tool JSON.
struct FunctionTool {
  std::string name;
  std::string description;
  nlohmann::ordered_json parameters;  // null when the tool takes none
  bool strict = false;                // its arguments must follow `parameters` (structured outputs)
};

// Checks `tools` (an array of OpenAI tools) and returns the function tools.
// Throws Error naming the offending entry.
std::vector<FunctionTool> function_tools_from_json(const nlohmann::ordered_json& tools);

// Builds a Conversation from an OpenAI chat request body:
//   {"messages": [...], "tools": [...], "reasoning_effort": "low|medium|high"}
// ("reasoning": {"effort": ...} is accepted too; other fields are ignored).
// Messages: role system|developer|user|assistant|tool; content a string, null
// or an array of {"type":"text","text":...} parts; assistant "reasoning" (or
// "reasoning_content"/"thinking") and "tool_calls" [{"id","type":"function",
// "function":{"name","arguments"}}]; tool messages "tool_call_id" and/or
// "name" (the name is looked up from the id when missing).
// Throws Error with a message that says which field is wrong and why.
Conversation conversation_from_json(const nlohmann::ordered_json& request);
// Parses the text first (keeping key order). Throws Error on invalid JSON.
Conversation conversation_from_json_text(std::string_view json_text);

}  // namespace gptoss::harmony
