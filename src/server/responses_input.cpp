#include "server/responses_input.h"

#include "server/api_error.h"

namespace gptoss::server {

namespace {

std::string text_of(const Json& content, const std::string& at) {
  if (content.is_null()) return {};
  if (content.is_string()) return content.get<std::string>();
  if (!content.is_array()) throw bad_request(at + ".content must be a string or an array of parts", "input");
  std::string out;
  for (auto& p : content) {
    if (!p.is_object()) throw bad_request(at + ".content parts must be objects", "input");
    const std::string type = opt_string(p, "type").value_or("");
    if (type != "input_text" && type != "output_text" && type != "text" && type != "reasoning_text" && type != "summary_text")
      throw bad_request(at + ".content part type '" + type + "' is not supported: gpt-oss reads text only", "input");
    auto t = p.find("text");
    if (t == p.end() || !t->is_string()) throw bad_request(at + ".content part has no text", "input");
    out += t->get<std::string>();
  }
  return out;
}

}  // namespace

Json responses_to_chat(const Json& body) {
  Json chat = Json::object();
  Json msgs = Json::array();
  if (auto ins = opt_string(body, "instructions")) msgs.push_back({{"role", "developer"}, {"content", *ins}});
  if (body.contains("previous_response_id") && !body["previous_response_id"].is_null())
    throw bad_request("previous_response_id is not supported (responses are not stored): send the whole conversation in 'input'",
                      "previous_response_id");
  auto in = body.find("input");
  if (in == body.end() || in->is_null()) throw bad_request("'input' is required: a string or an array of items", "input");
  std::string pending_reasoning;
  auto assistant_for_calls = [&]() -> Json& {
    if (msgs.empty() || msgs.back()["role"] != "assistant" || !msgs.back().contains("tool_calls")) {
      Json m = {{"role", "assistant"}, {"content", nullptr}, {"tool_calls", Json::array()}};
      if (!pending_reasoning.empty()) m["reasoning"] = pending_reasoning;
      pending_reasoning.clear();
      msgs.push_back(m);
    }
    return msgs.back();
  };
  if (in->is_string()) {
    msgs.push_back({{"role", "user"}, {"content", in->get<std::string>()}});
  } else if (in->is_array()) {
    for (size_t i = 0; i < in->size(); ++i) {
      const Json& item = (*in)[i];
      const std::string at = "input[" + std::to_string(i) + "]";
      if (!item.is_object()) throw bad_request(at + " must be an object", "input");
      const std::string type = opt_string(item, "type").value_or(item.contains("role") ? "message" : "");
      if (type == "message") {
        auto role = opt_string(item, "role");
        if (!role) throw bad_request(at + " has no role", "input");
        Json m = {{"role", *role}, {"content", text_of(item.value("content", Json()), at)}};
        if (*role == "assistant" && !pending_reasoning.empty()) {
          m["reasoning"] = pending_reasoning;
          pending_reasoning.clear();
        }
        msgs.push_back(m);
      } else if (type == "reasoning") {
        std::string t = text_of(item.value("content", Json()), at);
        if (t.empty() && item.contains("summary")) t = text_of(item["summary"], at);
        pending_reasoning += t;
      } else if (type == "function_call") {
        auto name = opt_string(item, "name");
        auto args = opt_string(item, "arguments");
        auto call_id = opt_string(item, "call_id");
        if (!name || !call_id) throw bad_request(at + " (function_call) needs name and call_id", "input");
        assistant_for_calls()["tool_calls"].push_back(
            {{"id", *call_id}, {"type", "function"}, {"function", {{"name", *name}, {"arguments", args.value_or("{}")}}}});
      } else if (type == "function_call_output") {
        auto call_id = opt_string(item, "call_id");
        if (!call_id) throw bad_request(at + " (function_call_output) needs call_id", "input");
        auto out = item.find("output");
        std::string text = out == item.end() ? "" : out->is_string() ? out->get<std::string>() : text_of(*out, at);
        msgs.push_back({{"role", "tool"}, {"tool_call_id", *call_id}, {"content", text}});
      } else {
        throw bad_request(at + " has type '" + type + "': use message, reasoning, function_call or function_call_output",
                          "input");
      }
    }
  } else {
    throw bad_request("'input' must be a string or an array of items", "input");
  }
  chat["messages"] = msgs;
  if (auto t = body.find("tools"); t != body.end() && !t->is_null()) {
    if (!t->is_array()) throw bad_request("'tools' must be an array", "tools");
    Json tools = Json::array();
    for (auto& tool : *t) {
      if (!tool.is_object() || opt_string(tool, "type").value_or("") != "function")
        throw bad_request("only function tools are supported: {\"type\":\"function\",\"name\",...}", "tools",
                          "invalid_tool_schema");
      Json f = {{"name", opt_string(tool, "name").value_or("")}};
      if (tool.contains("description")) f["description"] = tool["description"];
      if (tool.contains("parameters")) f["parameters"] = tool["parameters"];
      if (tool.contains("strict")) f["strict"] = tool["strict"];
      tools.push_back({{"type", "function"}, {"function", f}});
    }
    chat["tools"] = tools;
  }
  if (auto tc = body.find("tool_choice"); tc != body.end()) chat["tool_choice"] = *tc;
  if (auto r = body.find("reasoning"); r != body.end() && !r->is_null()) {
    if (!r->is_object()) throw bad_request("'reasoning' must be an object like {\"effort\":\"low\"}", "reasoning");
    if (auto e = opt_string(*r, "effort")) chat["reasoning_effort"] = *e;
  }
  if (auto t = body.find("text"); t != body.end() && t->is_object() && t->contains("format"))
    chat["response_format"] = (*t)["format"];
  for (const char* k : {"temperature", "top_p", "top_k", "min_p", "seed", "stream", "gptoss_debug", "top_logprobs",
                        "thinking_token_budget"})
    if (body.contains(k)) chat[k] = body[k];
  if (body.contains("max_output_tokens")) chat["max_tokens"] = body["max_output_tokens"];
  return chat;
}

}  // namespace gptoss::server
