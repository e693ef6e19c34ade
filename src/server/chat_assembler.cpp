#include "server/chat_assembler.h"

#include <random>

namespace gptoss::server {

using harmony::HarmonyEvent;

std::string random_id(const std::string& prefix, size_t n) {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  static const char* hex = "0123456789abcdef";
  std::string s = prefix;
  for (size_t i = 0; i < n; ++i) s += hex[rng() & 15];
  return s;
}

namespace {
harmony::ParserOptions parser_options(std::vector<std::string> names, bool constrained) {
  harmony::ParserOptions o;
  o.tool_names = std::move(names);
  o.cut_header_is_text = !constrained;
  return o;
}
}  // namespace

ChatAssembler::ChatAssembler(std::shared_ptr<const Tokenizer> tok, std::vector<std::string> tool_names,
                             std::vector<std::string> stop_strings, bool constrained)
    : tok_(std::move(tok)),
      parser_([t = tok_](int32_t id) { return t->generated_bytes(id); },
              parser_options(std::move(tool_names), constrained)),
      stops_(std::move(stop_strings)) {}

ChatDelta ChatAssembler::push(int32_t token) {
  ChatDelta d;
  const bool was_analysis = in_analysis_;
  auto events = parser_.push(token);
  take(events, d);
  if (was_analysis || in_analysis_) reasoning_tokens_++;
  return d;
}

ChatDelta ChatAssembler::finish() {
  ChatDelta d;
  auto events = parser_.finish();
  take(events, d);
  std::string rest = stops_.flush();
  d.content += rest;
  content_ += rest;
  return d;
}

void ChatAssembler::take(std::vector<HarmonyEvent>& events, ChatDelta& d) {
  for (HarmonyEvent& e : events) {
    switch (e.kind) {
      case HarmonyEvent::Kind::MessageStart: in_analysis_ = e.header.channel == "analysis"; break;
      case HarmonyEvent::Kind::MessageEnd: in_analysis_ = false; break;
      case HarmonyEvent::Kind::ReasoningDelta:
        d.reasoning += e.text;
        reasoning_ += e.text;
        break;
      case HarmonyEvent::Kind::ContentDelta: {
        std::string t = stops_.push(e.text);
        d.content += t;
        content_ += t;
        break;
      }
      case HarmonyEvent::Kind::ToolCallStart: {
        ToolCallOut c{int(calls_.size()), random_id("call_"), e.tool_call.name, ""};
        calls_.push_back(c);
        d.tool_calls.push_back({c.index, true, c.id, c.name, ""});
        break;
      }
      case HarmonyEvent::Kind::ToolCallDelta: {
        if (calls_.empty()) break;
        calls_.back().arguments += e.text;
        if (!d.tool_calls.empty() && d.tool_calls.back().index == calls_.back().index)
          d.tool_calls.back().arguments += e.text;
        else d.tool_calls.push_back({calls_.back().index, false, "", "", e.text});
        break;
      }
      case HarmonyEvent::Kind::ToolCallDone: {
        if (calls_.empty()) break;
        // The parser may repair the arguments (e.g. none written: "{}").
        ToolCallOut& c = calls_.back();
        if (e.tool_call.arguments.size() > c.arguments.size() &&
            e.tool_call.arguments.compare(0, c.arguments.size(), c.arguments) == 0) {
          std::string more = e.tool_call.arguments.substr(c.arguments.size());
          c.arguments += more;
          d.tool_calls.push_back({c.index, false, "", "", more});
        }
        break;
      }
      default: break;
    }
  }
}

}  // namespace gptoss::server
