#include "harmony/rendered_prompt.h"

#include <ctime>

#include "core/join.h"
#include "harmony/tool_schema.h"

namespace gptoss::harmony {

void RenderedPrompt::add_text(std::string text) {
  if (!text.empty()) pieces.push_back(Piece::of_text(std::move(text)));
}

std::string RenderedPrompt::text() const {
  std::string out;
  for (const auto& p : pieces) out += p.is_special() ? std::string(text_of(p.special)) : p.text;
  return out;
}

void render_message(const HarmonyMessage& msg, RenderedPrompt& out, bool recipient_before_channel) {
  const bool has_recipient = !msg.recipient.empty() && msg.recipient != "all";
  out.add_special(Special::Start);
  out.add_text(msg.author);
  if (has_recipient && recipient_before_channel) out.add_text(" to=" + msg.recipient);
  if (!msg.channel.empty()) {
    out.add_special(Special::Channel);
    out.add_text(msg.channel);
  }
  if (has_recipient && !recipient_before_channel) out.add_text(" to=" + msg.recipient);
  if (!msg.content_type.empty()) {
    constexpr std::string_view marker = "<|constrain|>";
    if (msg.content_type.compare(0, marker.size(), marker) == 0) {
      out.add_text(" ");
      out.add_special(Special::Constrain);
      out.add_text(msg.content_type.substr(marker.size()));
    } else {
      out.add_text(" " + msg.content_type);
    }
  }
  out.add_special(Special::Message);
  out.add_text(msg.content);
  out.add_special(msg.author == "assistant" && has_recipient ? Special::Call : Special::End);
}

std::string today_utc_date() {
  std::time_t now = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&now, &tm);
  char buf[16];
  std::strftime(buf, sizeof buf, "%Y-%m-%d", &tm);
  return buf;
}

std::string render_system_content(ReasoningEffort effort, const RenderOptions& options, bool has_function_tools) {
  std::vector<std::string> sections;
  std::vector<std::string> top;
  if (!options.model_identity.empty()) top.push_back(options.model_identity);
  if (!options.knowledge_cutoff.empty()) top.push_back("Knowledge cutoff: " + options.knowledge_cutoff);
  if (options.show_current_date)
    top.push_back("Current date: " + (options.current_date.empty() ? today_utc_date() : options.current_date));
  if (!top.empty()) sections.push_back(join(top, "\n"));
  sections.push_back("Reasoning: " + std::string(to_string(effort)));
  std::string channels =
      "# Valid channels: analysis, commentary, final. Channel must be included for every message.";
  if (has_function_tools) channels += "\nCalls to these tools must go to the commentary channel: 'functions'.";
  sections.push_back(channels);
  return join(sections, "\n\n");
}

std::string render_developer_content(const std::string& instructions, const std::vector<FunctionTool>& tools) {
  std::vector<std::string> sections;
  if (!instructions.empty()) {
    sections.push_back("# Instructions");
    sections.push_back(instructions);
  }
  if (!tools.empty()) sections.push_back(render_tools_section(tools));
  return join(sections, "\n\n");
}

RenderedPrompt render_conversation(const Conversation& conv, const RenderOptions& options) {
  const std::vector<FunctionTool> tools = function_tools_from_json(conv.tools);
  const auto& msgs = conv.messages;
  const size_t n = msgs.size();

  // Leading system/developer messages are the developer's instructions: the
  // Harmony system message is not a "system prompt" (openai/harmony docs; the
  // HF chat template and vLLM map an OpenAI system message the same way).
  size_t first = 0;
  std::vector<std::string> instructions;
  while (first < n && (msgs[first].role == ChatRole::System || msgs[first].role == ChatRole::Developer)) {
    if (!msgs[first].content.empty()) instructions.push_back(msgs[first].content);
    ++first;
  }

  RenderedPrompt out;
  render_message({"system", "", "", "", render_system_content(conv.reasoning_effort, options, !tools.empty())}, out);
  std::string dev = render_developer_content(join(instructions, "\n\n"), tools);
  if (!dev.empty()) render_message({"developer", "", "", "", dev}, out);

  // Which assistant messages keep their analysis: tool-calling ones after the
  // last user message that no final answer has followed (the model is still
  // in the middle of that turn's reasoning).
  size_t last_user = 0;
  bool any_user = false;
  for (size_t i = first; i < n; ++i)
    if (msgs[i].role == ChatRole::User) last_user = i, any_user = true;
  std::vector<bool> final_after(n + 1, false);  // final_after[i]: a final answer at index >= i
  for (size_t i = n; i-- > 0;)
    final_after[i] = final_after[i + 1] ||
                     (msgs[i].role == ChatRole::Assistant && msgs[i].tool_calls.empty() && !msgs[i].content.empty());

  const bool rf = options.tool_call_recipient_first;
  for (size_t i = first; i < n; ++i) {
    const ChatMessage& m = msgs[i];
    switch (m.role) {
      case ChatRole::System:
      case ChatRole::Developer:
        if (!m.content.empty()) render_message({"developer", "", "", "", "# Instructions\n\n" + m.content}, out);
        break;
      case ChatRole::User:
        render_message({"user", "", "", "", m.content}, out);
        break;
      case ChatRole::Assistant: {
        bool keep_reasoning = !options.drop_old_reasoning ||
                              (!m.tool_calls.empty() && (!any_user || i > last_user) && !final_after[i + 1]);
        if (keep_reasoning && !m.reasoning.empty()) render_message({"assistant", "", "analysis", "", m.reasoning}, out);
        if (m.tool_calls.empty()) {
          if (!m.content.empty()) render_message({"assistant", "", "final", "", m.content}, out);
          break;
        }
        if (!m.content.empty()) render_message({"assistant", "", "commentary", "", m.content}, out);  // preamble
        for (const auto& call : m.tool_calls)
          render_message({"assistant", "functions." + call.name, "commentary", "<|constrain|>json", call.arguments},
                         out, rf);
        break;
      }
      case ChatRole::Tool:
        render_message({"functions." + m.name, "assistant", "commentary", "", m.content}, out);
        break;
    }
  }
  if (options.add_generation_prompt) {
    out.add_special(Special::Start);
    out.add_text("assistant");
  }
  return out;
}

}  // namespace gptoss::harmony
