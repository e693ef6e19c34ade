#pragma once
// Rendering a Conversation into the Harmony format gpt-oss was trained on.
//
// The result is a list of pieces, each either a control token or a run of
// text. Text is tokenized later with allow_special=false, so a user who types
// "<|start|>" gets those characters, never the control token; each text piece
// is tokenized on its own, as openai/harmony does, so ids match it exactly.
#include <cstdint>
#include <string>
#include <vector>

#include "harmony/conversation.h"
#include "harmony/special_tokens.h"

namespace gptoss {
class Tokenizer;
}

namespace gptoss::harmony {

struct Piece {
  enum class Kind { Text, Special };
  Kind kind = Kind::Text;
  std::string text;                   // Kind::Text
  Special special = Special::Start;   // Kind::Special

  static Piece of_text(std::string t) { return Piece{Kind::Text, std::move(t), Special::Start}; }
  static Piece of_special(Special s) { return Piece{Kind::Special, {}, s}; }
  bool is_special() const { return kind == Kind::Special; }
};

struct RenderedPrompt {
  std::vector<Piece> pieces;

  void add_text(std::string text);  // empty text adds nothing
  void add_special(Special s) { pieces.push_back(Piece::of_special(s)); }
  // The prompt as text, control tokens written out ("<|start|>user<|message|>...").
  std::string text() const;
  // Token ids: specials by their o200k_harmony id, each text piece through
  // tok.encode(text, /*allow_special=*/false). Throws Error if the tokenizer
  // gives a control token a different id (not an o200k_harmony tokenizer).
  std::vector<int32_t> ids(const Tokenizer& tok) const;
};

// One Harmony message: <|start|>{author}[ to={recipient}]<|channel|>{channel}
// [ {content_type}]<|message|>{content}<|end|> (<|call|> for an assistant
// message with a recipient). content_type "<|constrain|>json" renders the
// control token; "json" renders plain text.
struct HarmonyMessage {
  std::string author;        // "system", "user", "assistant", ... or a tool's name ("functions.f")
  std::string recipient;     // "" or "all": none
  std::string channel;       // "" : none
  std::string content_type;  // "" : none
  std::string content;
};

// recipient_before_channel: `assistant to=functions.f<|channel|>commentary`
// (openai/harmony's renderer) or `assistant<|channel|>commentary to=functions.f`
// (what the model itself usually samples; the spec's examples).
void render_message(const HarmonyMessage& msg, RenderedPrompt& out, bool recipient_before_channel = true);

struct RenderOptions {
  std::string model_identity = "You are ChatGPT, a large language model trained by OpenAI.";
  std::string knowledge_cutoff = "2024-06";
  std::string current_date;        // YYYY-MM-DD; empty: today (UTC)
  bool show_current_date = true;   // false: no "Current date:" line
  bool add_generation_prompt = true;  // end with <|start|>assistant
  // Drop analysis of earlier turns (kept only for tool calls after the last
  // user message that no final answer has followed yet). false keeps it all.
  bool drop_old_reasoning = true;
  // See render_message. true matches openai/harmony (and the HF chat template).
  bool tool_call_recipient_first = true;
};

// The whole prompt: system message, developer message (instructions from the
// leading system/developer messages, and the tools), the conversation, and
// with add_generation_prompt `<|start|>assistant`. Throws Error on bad tools.
RenderedPrompt render_conversation(const Conversation& conv, const RenderOptions& options = {});

// The system message's content (identity, dates, reasoning, channels).
std::string render_system_content(ReasoningEffort effort, const RenderOptions& options, bool has_function_tools);
// The developer message's content ("# Instructions\n\n..." and "# Tools ...").
std::string render_developer_content(const std::string& instructions, const std::vector<FunctionTool>& tools);

std::string today_utc_date();  // "YYYY-MM-DD"

}  // namespace gptoss::harmony
