#pragma once
// Incremental parser of what gpt-oss samples: fed one token id at a time, it
// splits the stream into Harmony messages and says, as soon as it knows, what
// each piece of text is: reasoning (analysis channel), answer (final channel,
// or a commentary preamble), or a tool call's arguments.
//
// It never throws on model output. Whatever is malformed is repaired when the
// meaning is clear (a tool call without <|call|>, <|end|> where <|start|> was
// expected, `to=` before or after the channel, <|constrain|> glued to the
// recipient or missing, a tool-call header written as plain text, bad JSON
// arguments) and reported with a Malformed event; text is never dropped: what
// cannot be placed is passed on as content or in the Malformed event's text
// (so is the text of a message in another role, the model playing user or
// tool: it is not part of the answer).
//
// Deltas may lag a token or two: the first bytes of a message are held until
// they cannot be a tool-call header written as text ("to=functions.f ..."),
// and a character split across tokens until it is whole.
//
// The tokenizer is reached only through a callback giving a token's bytes, so
// tests can run on a tiny fake vocabulary.
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "harmony/conversation.h"
#include "harmony/special_tokens.h"
#include "harmony/utf8_stream.h"

namespace gptoss::harmony {

struct MessageHeader {
  ChatRole role = ChatRole::Assistant;  // unknown roles are read as assistant
  std::string author;        // as written: "assistant", "functions.get_weather", ...
  std::string channel;       // "analysis", "commentary", "final", other, or ""
  std::string recipient;     // after to= ("functions.get_weather"), or ""
  std::string content_type;  // "json", "code", ... without <|constrain|>; or ""
  bool constrained = false;  // the content type followed <|constrain|>
  std::string tool_name;     // the function called ("get_weather"); "" if not a call
  std::string raw;           // the header as written (control tokens' text inline)
};

struct ParsedToolCall {
  int index = 0;           // 0, 1, ... in the order the model made them
  std::string name;        // function name without "functions."
  std::string arguments;   // the model's text (valid UTF-8); "{}" if it wrote none
  bool valid_json = false;
  bool closed = false;     // ended with <|call|>, as it should
  std::string warning;     // what was off, if anything
};

enum class StopReason { None, Return, Call, EndOfText };

struct HarmonyEvent {
  enum class Kind {
    MessageStart,    // header
    ReasoningDelta,  // text (analysis channel)
    ContentDelta,    // text (final channel, commentary without a recipient, unknown channels)
    ToolCallStart,   // tool_call.index, tool_call.name
    ToolCallDelta,   // text: more of the arguments; tool_call.index, .name
    ToolCallDone,    // tool_call: complete, with arguments, valid_json, warning
    MessageEnd,      // header
    Stop,            // stop: <|return|>, <|call|> or <|endoftext|> (sampling should end)
    Malformed,       // note: what was wrong; text: model text that went nowhere else
  };
  Kind kind = Kind::Malformed;
  std::string text;
  std::string note;
  MessageHeader header;      // of the message the event belongs to (if any)
  ParsedToolCall tool_call;  // tool-call events
  StopReason stop = StopReason::None;
};

struct ParsedMessage {
  MessageHeader header;
  std::string text;  // its content (a tool call's arguments)
};

struct ParserOptions {
  // true: the prompt ended with `<|start|>assistant` and the first sampled
  // token is (normally) <|channel|>. false: the stream starts at <|start|>.
  bool after_assistant_start = true;
  // Known function names: a bare recipient (to=get_weather) matching one is a
  // call too. "functions.NAME" always is.
  std::vector<std::string> tool_names;
  // Which ids are control tokens (their text is never content). Default:
  // id >= 199998, as in o200k_harmony.
  std::function<bool(int32_t)> is_special;
  // A header longer than this (no <|message|> in sight) is taken as text.
  size_t max_header_bytes = 256;
  // Recognise `to=functions.f json{...}` written as plain text at the start
  // of a message and turn it into a tool call.
  bool recover_text_tool_calls = true;
  // An output cut inside a header (max_tokens before <|message|>): true
  // takes its text as content (a model that left out <|message|>); false
  // drops it, for constrained decoding, where a header is only ever a header.
  bool cut_header_is_text = true;
};

using TokenText = std::function<std::string(int32_t)>;

class HarmonyParser {
 public:
  explicit HarmonyParser(TokenText token_text, ParserOptions options = {});

  // Feeds one sampled token; appends the events it causes.
  void push(int32_t id, std::vector<HarmonyEvent>& out);
  std::vector<HarmonyEvent> push(int32_t id);
  // End of stream (after a stop token, max_tokens, or a cut): flushes held
  // text and closes an open message (an unclosed tool call is still a call).
  void finish(std::vector<HarmonyEvent>& out);
  std::vector<HarmonyEvent> finish();

  bool stopped() const { return stop_ != StopReason::None; }
  StopReason stop_reason() const { return stop_; }
  // Everything so far, as the deltas added up.
  const std::string& reasoning() const { return reasoning_; }
  const std::string& content() const { return content_; }
  const std::vector<ParsedToolCall>& tool_calls() const { return tool_calls_; }  // completed ones
  const std::vector<ParsedMessage>& messages() const { return messages_; }       // completed ones
  const std::vector<std::string>& warnings() const { return warnings_; }        // every Malformed note

 private:
  enum class State { ExpectStart, Header, Content };
  enum class Route { Reasoning, Content, Tool, Foreign };
  enum class EndBy { End, Return, Call, Stream, NextMessage };

  bool special(int32_t id) const;
  void malformed(std::vector<HarmonyEvent>& out, std::string note, std::string text = {});
  void begin_header(bool role_known);
  void header_text(const std::string& bytes, std::vector<HarmonyEvent>& out);
  void header_done(std::vector<HarmonyEvent>& out);                // at <|message|>
  void header_cut(std::vector<HarmonyEvent>& out);                 // no <|message|>: rest is text
  void start_message(MessageHeader h, std::vector<HarmonyEvent>& out);
  void content_text(std::string text, std::vector<HarmonyEvent>& out);  // valid UTF-8
  void route_text(const std::string& text, std::vector<HarmonyEvent>& out);
  std::string take_json_hold(std::vector<HarmonyEvent>& out);
  void try_release_hold(bool at_end, std::vector<HarmonyEvent>& out);
  void end_message(EndBy how, std::vector<HarmonyEvent>& out);
  void do_stop(StopReason why, std::vector<HarmonyEvent>& out);
  std::string resolve_function(const std::string& recipient) const;

  TokenText token_text_;
  ParserOptions opt_;
  State state_ = State::ExpectStart;

  // header being read
  bool role_known_ = false;   // role given by the prompt (`<|start|>assistant`) or implied
  std::string header_;        // text tokens with control tokens' text inline
  std::string header_raw_;    // text tokens only

  // message being read
  MessageHeader cur_;
  Route route_ = Route::Content;
  Utf8Stream utf8_;
  std::string text_;          // the message's content so far
  bool holding_ = false;      // holding back the start to look for a text tool-call header
  std::string hold_;
  std::vector<size_t> hold_constrain_;
  bool strip_json_prefix_ = false;  // tool call whose "json" type may land in the content
  std::string json_hold_;
  ParsedToolCall call_;

  StopReason stop_ = StopReason::None;
  std::string reasoning_, content_;
  std::vector<ParsedToolCall> tool_calls_;
  std::vector<ParsedMessage> messages_;
  std::vector<std::string> warnings_;
  int next_call_index_ = 0;
};

// Runs a whole completion through a parser and collects the result.
struct ParsedCompletion {
  std::string reasoning;
  std::string content;
  std::vector<ParsedToolCall> tool_calls;
  std::vector<ParsedMessage> messages;
  std::vector<std::string> warnings;
  StopReason stop = StopReason::None;
};
ParsedCompletion parse_completion(std::span<const int32_t> ids, TokenText token_text, ParserOptions options = {});

std::string_view to_string(HarmonyEvent::Kind kind);

}  // namespace gptoss::harmony
