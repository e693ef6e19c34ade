#include "harmony/conversation.h"

#include <algorithm>
#include <cctype>
#include <map>

#include "core/error.h"

namespace gptoss::harmony {

using ojson = nlohmann::ordered_json;

std::string_view to_string(ChatRole role) {
  switch (role) {
    case ChatRole::System: return "system";
    case ChatRole::Developer: return "developer";
    case ChatRole::User: return "user";
    case ChatRole::Assistant: return "assistant";
    case ChatRole::Tool: return "tool";
  }
  return "user";
}

std::string_view to_string(ReasoningEffort effort) {
  switch (effort) {
    case ReasoningEffort::Low: return "low";
    case ReasoningEffort::Medium: return "medium";
    case ReasoningEffort::High: return "high";
  }
  return "medium";
}

ReasoningEffort parse_reasoning_effort(std::string_view text) {
  std::string t(text);
  std::transform(t.begin(), t.end(), t.begin(), [](unsigned char c) { return char(std::tolower(c)); });
  if (t == "low") return ReasoningEffort::Low;
  if (t == "medium") return ReasoningEffort::Medium;
  if (t == "high") return ReasoningEffort::High;
  throw Error("reasoning_effort '" + std::string(text) + "' is not one gpt-oss knows: use low, medium or high");
}

namespace {

std::string where(size_t i) { return "messages[" + std::to_string(i) + "]"; }

std::string type_name(const ojson& j) { return j.type_name(); }

std::string optional_string(const ojson& obj, const char* key, const std::string& at) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return "";
  if (!it->is_string()) throw Error(at + "." + key + " must be a string, not " + type_name(*it));
  return it->get<std::string>();
}

// content: string | null | [{"type":"text","text":...}, ...]
std::string content_text(const ojson& msg, const std::string& at, bool tool_result) {
  auto it = msg.find("content");
  if (it == msg.end() || it->is_null()) return "";
  if (it->is_string()) return it->get<std::string>();
  if (tool_result && !it->is_array()) return it->dump();  // a tool's JSON result, sent unquoted
  if (!it->is_array())
    throw Error(at + ".content must be a string or an array of text parts, not " + type_name(*it));
  std::string out;
  for (size_t k = 0; k < it->size(); ++k) {
    const ojson& part = (*it)[k];
    std::string pat = at + ".content[" + std::to_string(k) + "]";
    if (part.is_string()) {  // lenient: a bare string part
      out += part.get<std::string>();
      continue;
    }
    if (!part.is_object()) throw Error(pat + " must be an object like {\"type\":\"text\",\"text\":\"...\"}");
    std::string type = part.contains("type") && part["type"].is_string() ? part["type"].get<std::string>() : "text";
    if (type == "refusal") {  // an assistant's refusal part: its text is what was said
      out += optional_string(part, "refusal", pat);
      continue;
    }
    if (type != "text" && type != "input_text" && type != "output_text")
      throw Error(pat + " has type '" + type + "': gpt-oss reads text only, so send text parts");
    auto t = part.find("text");
    if (t == part.end() || !t->is_string()) throw Error(pat + ".text is missing or not a string");
    out += t->get<std::string>();
  }
  return out;
}

ChatRole parse_role(const ojson& msg, const std::string& at) {
  auto it = msg.find("role");
  if (it == msg.end()) throw Error(at + " has no \"role\" (system, developer, user, assistant or tool)");
  if (!it->is_string()) throw Error(at + ".role must be a string");
  std::string r = it->get<std::string>();
  if (r == "system") return ChatRole::System;
  if (r == "developer") return ChatRole::Developer;
  if (r == "user") return ChatRole::User;
  if (r == "assistant") return ChatRole::Assistant;
  if (r == "tool" || r == "function") return ChatRole::Tool;
  throw Error(at + ".role '" + r + "' is not one of system, developer, user, assistant, tool");
}

std::vector<ChatToolCall> parse_tool_calls(const ojson& msg, const std::string& at) {
  std::vector<ChatToolCall> calls;
  auto it = msg.find("tool_calls");
  if (it == msg.end() || it->is_null()) return calls;
  if (!it->is_array()) throw Error(at + ".tool_calls must be an array");
  for (size_t k = 0; k < it->size(); ++k) {
    const ojson& c = (*it)[k];
    std::string cat = at + ".tool_calls[" + std::to_string(k) + "]";
    if (!c.is_object()) throw Error(cat + " must be an object");
    ChatToolCall call;
    call.id = optional_string(c, "id", cat);
    const ojson* fn = &c;  // lenient: {"name","arguments"} without "function"
    if (auto f = c.find("function"); f != c.end()) {
      if (!f->is_object()) throw Error(cat + ".function must be an object with name and arguments");
      fn = &*f;
    }
    auto name = fn->find("name");
    if (name == fn->end() || !name->is_string() || name->get<std::string>().empty())
      throw Error(cat + ".function.name is missing: every tool call needs the function's name");
    call.name = name->get<std::string>();
    if (auto a = fn->find("arguments"); a != fn->end() && !a->is_null())
      call.arguments = a->is_string() ? a->get<std::string>() : a->dump();
    calls.push_back(std::move(call));
  }
  return calls;
}

}  // namespace

std::vector<FunctionTool> function_tools_from_json(const ojson& tools) {
  std::vector<FunctionTool> out;
  if (tools.is_null()) return out;
  if (!tools.is_array()) throw Error("tools must be an array of {\"type\":\"function\",\"function\":{...}}");
  for (size_t i = 0; i < tools.size(); ++i) {
    const ojson& t = tools[i];
    std::string at = "tools[" + std::to_string(i) + "]";
    if (!t.is_object()) throw Error(at + " must be an object");
    std::string type = optional_string(t, "type", at);
    if (!type.empty() && type != "function")
      throw Error(at + ".type '" + type + "' is not supported: gpt-oss.cpp serves function tools only");
    const ojson* fn = &t;  // Responses-style tools carry name/parameters at the top
    if (auto f = t.find("function"); f != t.end()) {
      if (!f->is_object()) throw Error(at + ".function must be an object");
      fn = &*f;
    }
    std::string fat = fn == &t ? at : at + ".function";
    FunctionTool tool;
    tool.name = optional_string(*fn, "name", fat);
    if (tool.name.empty()) throw Error(fat + ".name is missing: every tool needs a name");
    for (unsigned char c : tool.name)
      if (std::isspace(c) || c == '<' || c == '>')
        throw Error(fat + ".name '" + tool.name + "' has a space or '<'/'>': use letters, digits, _ or -");
    tool.description = optional_string(*fn, "description", fat);
    if (auto p = fn->find("parameters"); p != fn->end() && !p->is_null()) {
      if (!p->is_object()) throw Error(fat + ".parameters must be a JSON Schema object");
      tool.parameters = *p;
    }
    if (auto st = fn->find("strict"); st != fn->end() && !st->is_null()) {
      if (!st->is_boolean()) throw Error(fat + ".strict must be true or false");
      tool.strict = st->get<bool>();
    }
    out.push_back(std::move(tool));
  }
  return out;
}

Conversation conversation_from_json(const ojson& request) {
  if (!request.is_object()) throw Error("the conversation must be a JSON object with \"messages\"");
  Conversation conv;
  auto msgs = request.find("messages");
  if (msgs == request.end()) throw Error("the conversation has no \"messages\" array");
  if (!msgs->is_array()) throw Error("\"messages\" must be an array, not " + type_name(*msgs));

  std::map<std::string, std::string> call_names;  // tool_call id -> function name
  for (size_t i = 0; i < msgs->size(); ++i) {
    const ojson& m = (*msgs)[i];
    std::string at = where(i);
    if (!m.is_object()) throw Error(at + " must be an object with role and content");
    ChatMessage msg;
    msg.role = parse_role(m, at);
    msg.content = content_text(m, at, msg.role == ChatRole::Tool);
    if (msg.role == ChatRole::Assistant) {
      msg.reasoning = optional_string(m, "reasoning", at);
      if (msg.reasoning.empty()) msg.reasoning = optional_string(m, "reasoning_content", at);
      if (msg.reasoning.empty()) msg.reasoning = optional_string(m, "thinking", at);
      msg.tool_calls = parse_tool_calls(m, at);
      for (const auto& c : msg.tool_calls)
        if (!c.id.empty()) call_names[c.id] = c.name;
    } else if (msg.role == ChatRole::Tool) {
      msg.tool_call_id = optional_string(m, "tool_call_id", at);
      msg.name = optional_string(m, "name", at);
      if (msg.name.rfind("functions.", 0) == 0) msg.name = msg.name.substr(10);
      if (msg.name.empty()) {
        if (msg.tool_call_id.empty())
          throw Error(at + " is a tool result without tool_call_id or name: say which call it answers");
        auto found = call_names.find(msg.tool_call_id);
        if (found == call_names.end())
          throw Error(at + ".tool_call_id '" + msg.tool_call_id +
                      "' matches no earlier assistant tool_calls[].id: check the id, or give \"name\"");
        msg.name = found->second;
      }
    }
    conv.messages.push_back(std::move(msg));
  }

  if (auto t = request.find("tools"); t != request.end() && !t->is_null()) {
    function_tools_from_json(*t);  // validate now, so errors point at the request
    conv.tools = *t;
  }

  auto effort = request.find("reasoning_effort");
  if (effort != request.end() && !effort->is_null()) {
    if (!effort->is_string()) throw Error("reasoning_effort must be a string: low, medium or high");
    conv.reasoning_effort = parse_reasoning_effort(effort->get<std::string>());
  } else if (auto r = request.find("reasoning"); r != request.end() && r->is_object()) {
    if (auto e = r->find("effort"); e != r->end() && !e->is_null()) {
      if (!e->is_string()) throw Error("reasoning.effort must be a string: low, medium or high");
      conv.reasoning_effort = parse_reasoning_effort(e->get<std::string>());
    }
  }
  return conv;
}

Conversation conversation_from_json_text(std::string_view json_text) {
  ojson j;
  try {
    j = ojson::parse(json_text.begin(), json_text.end());
  } catch (const nlohmann::json::parse_error& e) {
    throw Error(std::string("the conversation is not valid JSON: ") + e.what());
  }
  return conversation_from_json(j);
}

}  // namespace gptoss::harmony
