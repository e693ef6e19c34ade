#pragma once
// From sampled tokens to what a chat client sees: the Harmony parser splits
// them into reasoning, answer text and tool calls; this adds call ids, stop
// strings (on the answer), and token counts. Used for streamed and whole
// responses alike, by chat completions and the Responses API.
#include <memory>
#include <string>
#include <vector>

#include "harmony/harmony_parser.h"
#include "server/stop_strings.h"
#include "tokenizer/tokenizer.h"

namespace gptoss::server {

struct ToolCallOut {
  int index = 0;
  std::string id;  // "call_..."
  std::string name;
  std::string arguments;
};

struct ToolCallDelta {
  int index = 0;
  bool first = false;  // carries id and name
  std::string id, name, arguments;
};

struct ChatDelta {
  std::string reasoning, content;
  std::vector<ToolCallDelta> tool_calls;
  bool empty() const { return reasoning.empty() && content.empty() && tool_calls.empty(); }
};

class ChatAssembler {
 public:
  // constrained: the output follows a grammar (constrain/), so a header cut
  // by max_tokens is dropped rather than shown as text.
  ChatAssembler(std::shared_ptr<const Tokenizer> tok, std::vector<std::string> tool_names,
                std::vector<std::string> stop_strings, bool constrained = false);
  ChatDelta push(int32_t token);
  ChatDelta finish();  // end of the stream

  bool stop_string_hit() const { return stops_.hit(); }
  bool model_stopped() const { return parser_.stopped(); }
  const std::string& reasoning() const { return reasoning_; }
  const std::string& content() const { return content_; }
  const std::vector<ToolCallOut>& tool_calls() const { return calls_; }
  int reasoning_tokens() const { return reasoning_tokens_; }

 private:
  void take(std::vector<harmony::HarmonyEvent>& events, ChatDelta& d);

  std::shared_ptr<const Tokenizer> tok_;
  harmony::HarmonyParser parser_;
  StopStrings stops_;
  std::string reasoning_, content_;
  std::vector<ToolCallOut> calls_;
  bool in_analysis_ = false;
  int reasoning_tokens_ = 0;
};

std::string random_id(const std::string& prefix, size_t hex_chars = 24);

}  // namespace gptoss::server
