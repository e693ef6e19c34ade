#pragma once
// The o200k_harmony control tokens that the Harmony format is built from.
// gpt-oss always uses this vocabulary, so the ids are facts, not settings;
// RenderedPrompt::ids() checks them against the loaded tokenizer.
#include <cstdint>
#include <optional>
#include <string_view>

namespace gptoss::harmony {

enum class Special : int32_t {
  StartOfText = 199998,  // <|startoftext|>
  EndOfText = 199999,    // <|endoftext|>
  Return = 200002,       // <|return|>     ends the final answer: stop sampling
  Constrain = 200003,    // <|constrain|>  content type of a tool call follows
  Channel = 200005,      // <|channel|>    channel name follows
  Start = 200006,        // <|start|>      a message begins; role follows
  End = 200007,          // <|end|>        a message ends
  Message = 200008,      // <|message|>    header done; content follows
  Call = 200012,         // <|call|>       a tool call ends: stop sampling
  EndOfPrompt = 200018,  // <|endofprompt|>
};

inline constexpr int32_t kStartOfText = 199998;
inline constexpr int32_t kEndOfText = 199999;
inline constexpr int32_t kReturn = 200002;
inline constexpr int32_t kConstrain = 200003;
inline constexpr int32_t kChannel = 200005;
inline constexpr int32_t kStart = 200006;
inline constexpr int32_t kEnd = 200007;
inline constexpr int32_t kMessage = 200008;
inline constexpr int32_t kCall = 200012;
inline constexpr int32_t kEndOfPrompt = 200018;

// Every id from here up is a special token in o200k_harmony (the ones not
// named above are reserved and never sampled by a healthy model).
inline constexpr int32_t kFirstSpecialId = 199998;
inline constexpr int32_t kLastSpecialId = 201087;

inline constexpr int32_t id_of(Special s) { return static_cast<int32_t>(s); }

inline constexpr std::string_view text_of(Special s) {
  switch (s) {
    case Special::StartOfText: return "<|startoftext|>";
    case Special::EndOfText: return "<|endoftext|>";
    case Special::Return: return "<|return|>";
    case Special::Constrain: return "<|constrain|>";
    case Special::Channel: return "<|channel|>";
    case Special::Start: return "<|start|>";
    case Special::End: return "<|end|>";
    case Special::Message: return "<|message|>";
    case Special::Call: return "<|call|>";
    case Special::EndOfPrompt: return "<|endofprompt|>";
  }
  return "";
}

// The named special with this id, if it is one.
inline constexpr std::optional<Special> special_from_id(int32_t id) {
  switch (id) {
    case kStartOfText: return Special::StartOfText;
    case kEndOfText: return Special::EndOfText;
    case kReturn: return Special::Return;
    case kConstrain: return Special::Constrain;
    case kChannel: return Special::Channel;
    case kStart: return Special::Start;
    case kEnd: return Special::End;
    case kMessage: return Special::Message;
    case kCall: return Special::Call;
    case kEndOfPrompt: return Special::EndOfPrompt;
    default: return std::nullopt;
  }
}

inline constexpr Special kAllSpecials[] = {Special::StartOfText, Special::EndOfText, Special::Return,
                                           Special::Constrain,   Special::Channel,   Special::Start,
                                           Special::End,         Special::Message,   Special::Call,
                                           Special::EndOfPrompt};

}  // namespace gptoss::harmony
