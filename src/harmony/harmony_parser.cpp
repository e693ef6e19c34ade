#include "harmony/harmony_parser.h"

#include <algorithm>
#include <array>

#include <nlohmann/json.hpp>

#include "core/log.h"

namespace gptoss::harmony {

namespace {

constexpr std::string_view kChannelMark = "<|channel|>";
constexpr std::string_view kConstrainMark = "<|constrain|>";
constexpr std::array<std::string_view, 3> kChannels = {"analysis", "commentary", "final"};

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }

bool all_space(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return is_space(c); });
}

bool starts_with(std::string_view s, std::string_view prefix) { return s.substr(0, prefix.size()) == prefix; }

bool is_channel_word(std::string_view w) {
  return std::find(kChannels.begin(), kChannels.end(), w) != kChannels.end();
}

bool is_role_word(std::string_view w, ChatRole& role) {
  if (w == "assistant") role = ChatRole::Assistant;
  else if (w == "user") role = ChatRole::User;
  else if (w == "system") role = ChatRole::System;
  else if (w == "developer") role = ChatRole::Developer;
  else if (w == "tool") role = ChatRole::Tool;
  else return false;
  return true;
}

// A content type such as json, code, text, yaml: short and plain.
bool looks_like_type(std::string_view w) {
  if (w.empty() || w.size() > 32) return false;
  return std::all_of(w.begin(), w.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '+' ||
           c == '.' || c == '/' || c == '-';
  });
}

// ---------------------------------------------------------------------------
// Header parsing. The header is kept as text with the control tokens' text
// inline ("<|channel|>commentary to=functions.f <|constrain|>json"), as
// openai/harmony does, so markers the model spelled out as text work too.

struct Lexeme {
  enum Kind { Word, ChannelMark, ConstrainMark } kind;
  size_t begin, end;
  bool complete;  // followed by a space or a marker (a word at the end may still grow)
};

std::vector<Lexeme> lex_header(std::string_view s) {
  std::vector<Lexeme> out;
  size_t i = 0, n = s.size();
  auto mark_at = [&](size_t k) -> size_t {
    if (s.compare(k, kChannelMark.size(), kChannelMark) == 0) return kChannelMark.size();
    if (s.compare(k, kConstrainMark.size(), kConstrainMark) == 0) return kConstrainMark.size();
    return 0;
  };
  while (i < n) {
    if (is_space(s[i])) {
      ++i;
      continue;
    }
    if (size_t m = mark_at(i)) {
      out.push_back({m == kChannelMark.size() ? Lexeme::ChannelMark : Lexeme::ConstrainMark, i, i + m, true});
      i += m;
      continue;
    }
    size_t j = i;
    while (j < n && !is_space(s[j]) && !(s[j] == '<' && mark_at(j))) ++j;
    out.push_back({Lexeme::Word, i, j, j < n});
    i = j;
  }
  return out;
}

struct HeaderParse {
  MessageHeader h;
  bool unknown_role = false;
  bool role_from_word = false;
  size_t rest = std::string::npos;  // stop mode: the header from here on is text
  std::vector<std::string> junk;    // collect mode: words that fit nowhere
  std::vector<std::string> notes;
  bool any_field() const { return !h.channel.empty() || !h.recipient.empty() || !h.content_type.empty(); }
};

// complete: the header is finished (no word can still grow).
// stop_at_junk: the first word that fits nowhere ends the header (rest = its
// offset); otherwise such words are collected in junk.
HeaderParse parse_header(std::string_view s, bool role_known, bool complete, bool stop_at_junk) {
  HeaderParse p;
  bool role_decided = role_known;
  if (role_known) {
    p.h.role = ChatRole::Assistant;
    p.h.author = "assistant";
  }
  enum class Expect { None, Channel, ContentType, Recipient } expect = Expect::None;
  bool skipped_repeat = false;
  auto imply_assistant = [&](const char* why) {
    role_decided = true;
    p.h.role = ChatRole::Assistant;
    p.h.author = "assistant";
    p.notes.push_back(std::string("message header without a role (") + why + "); read as assistant");
  };

  for (const Lexeme& lx : lex_header(s)) {
    if (lx.kind == Lexeme::ChannelMark) {
      if (!role_decided) imply_assistant("starts with <|channel|>");
      expect = Expect::Channel;
      continue;
    }
    if (lx.kind == Lexeme::ConstrainMark) {
      if (!role_decided) imply_assistant("starts with <|constrain|>");
      p.h.constrained = true;
      expect = Expect::ContentType;
      continue;
    }
    if (!lx.complete && !complete) break;  // the last word may still grow
    std::string w(s.substr(lx.begin, lx.end - lx.begin));
    auto junk = [&]() -> bool {  // returns true when parsing stops here
      if (stop_at_junk) {
        p.rest = lx.begin;
        return true;
      }
      p.junk.push_back(w);
      return false;
    };

    if (expect == Expect::Channel) {
      expect = Expect::None;
      if (p.h.channel.empty()) {
        p.h.channel = w;
        continue;
      }
      p.notes.push_back("second channel '" + w + "' in one header; kept '" + p.h.channel + "'");
      if (junk()) break;
      continue;
    }
    if (expect == Expect::ContentType) {
      expect = Expect::None;
      if (p.h.content_type.empty()) {
        p.h.content_type = w;
        continue;
      }
      if (junk()) break;
      continue;
    }
    if (expect == Expect::Recipient) {
      expect = Expect::None;
      p.h.recipient = w;
      continue;
    }
    if (!role_decided) {
      ChatRole r;
      if (is_role_word(w, r)) {
        role_decided = true;
        p.role_from_word = true;
        p.h.role = r;
        p.h.author = w;
        continue;
      }
      if (starts_with(w, "to=") || is_channel_word(w)) {
        imply_assistant("starts with a channel or recipient");
        // and read the word below
      } else if (w.find('.') != std::string::npos || w == "python") {
        role_decided = true;  // a tool's name as author: a tool result
        p.role_from_word = true;
        p.h.role = ChatRole::Tool;
        p.h.author = w;
        continue;
      } else {
        role_decided = true;
        p.role_from_word = true;
        p.unknown_role = true;
        p.h.role = ChatRole::Assistant;
        p.h.author = w;
        continue;
      }
    }
    if (!skipped_repeat && w == p.h.author && !p.any_field()) {
      skipped_repeat = true;  // "assistant" again after the prompt's <|start|>assistant
      continue;
    }
    if (starts_with(w, "to=")) {
      if (w.size() == 3) {
        expect = Expect::Recipient;
        continue;
      }
      if (p.h.recipient.empty()) {
        p.h.recipient = w.substr(3);
        continue;
      }
      if (junk()) break;
      continue;
    }
    if (p.h.channel.empty() && is_channel_word(w)) {
      p.h.channel = w;
      p.notes.push_back("channel '" + w + "' written without <|channel|>");
      continue;
    }
    if (p.h.content_type.empty() && (w == "json" || (!p.h.recipient.empty() && looks_like_type(w)))) {
      p.h.content_type = w;
      continue;
    }
    if (p.h.recipient.empty() && starts_with(w, "functions.") && w.size() > 10) {
      p.h.recipient = w;
      p.notes.push_back("recipient '" + w + "' written without to=");
      continue;
    }
    if (junk()) break;
  }
  if (p.unknown_role) {
    if (p.any_field()) {
      p.notes.push_back("unknown role '" + p.h.author + "'; read as assistant");
    } else if (stop_at_junk && (p.rest != std::string::npos || complete)) {
      // Nothing here looks like a header: it is all text.
      p.rest = 0;
      p.h.author = "assistant";
      p.unknown_role = false;
      p.role_from_word = false;
    }
  }
  return p;
}

// ---------------------------------------------------------------------------
// A tool-call header written as plain text at the start of a message:
//   [analysis|commentary|final] to=functions.NAME [<|constrain|>][json] ARGS

enum class Verdict { NeedMore, NotLeak, Leak };
struct LeakMatch {
  Verdict verdict = Verdict::NotLeak;
  std::string recipient, channel;
  size_t args_start = 0;
  LeakMatch() = default;
  LeakMatch(Verdict v) : verdict(v) {}  // NOLINT: a bare verdict converts
};

template <class Resolve>
LeakMatch classify_leak(std::string_view s, const std::vector<size_t>& constrain_at, bool at_end,
                        Resolve&& resolve) {
  const size_t n = s.size();
  const Verdict more = at_end ? Verdict::NotLeak : Verdict::NeedMore;
  LeakMatch m;
  size_t p = 0;
  while (p < n && is_space(s[p])) ++p;
  if (p == n) return {more};
  for (std::string_view w : kChannels) {
    size_t k = std::min(n - p, w.size());
    if (s.compare(p, k, w.substr(0, k)) != 0) continue;
    if (k < w.size()) return {more};
    size_t q = p + w.size();
    if (q == n) return {more};
    if (!is_space(s[q])) return {Verdict::NotLeak};
    while (q < n && is_space(s[q])) ++q;
    if (q == n) return {more};
    m.channel = std::string(w);
    p = q;
    break;
  }
  constexpr std::string_view to = "to=";
  if (n - p < to.size()) return s.compare(p, n - p, to.substr(0, n - p)) == 0 ? LeakMatch(more) : LeakMatch();
  if (s.compare(p, to.size(), to) != 0) return {};
  size_t r0 = p + to.size(), q = r0;
  auto constrain_here = [&](size_t k) {
    return std::find(constrain_at.begin(), constrain_at.end(), k) != constrain_at.end();
  };
  auto delim = [](char c) { return is_space(c) || c == '{' || c == '[' || c == '<' || c == '"'; };
  while (q < n && !delim(s[q]) && !(q > r0 && constrain_here(q))) ++q;
  if (q == n && !at_end) return {q - r0 > 128 ? Verdict::NotLeak : Verdict::NeedMore};
  m.recipient = std::string(s.substr(r0, q - r0));
  if (resolve(m.recipient).empty()) return {};
  while (q < n && is_space(s[q])) ++q;
  constexpr std::string_view json = "json";
  size_t k = std::min(n - q, json.size());
  if (k > 0 && s.compare(q, k, json.substr(0, k)) == 0) {
    if (k < json.size()) {
      if (!at_end) return {Verdict::NeedMore};
    } else if (q + k == n) {
      if (!at_end) return {Verdict::NeedMore};
      q = n;
    } else if (!std::isalnum(static_cast<unsigned char>(s[q + k]))) {
      q += k;
      while (q < n && is_space(s[q])) ++q;
    }
  }
  if (q == n && !at_end) return {Verdict::NeedMore};
  m.verdict = Verdict::Leak;
  m.args_start = q;
  return m;
}

// "json" left at the start of a call's arguments by a header without <|message|>.
size_t json_prefix_length(std::string_view s) {
  size_t p = 0;
  while (p < s.size() && is_space(s[p])) ++p;
  if (s.compare(p, 4, "json") != 0) return 0;
  p += 4;
  if (p < s.size() && std::isalnum(static_cast<unsigned char>(s[p]))) return 0;
  while (p < s.size() && is_space(s[p])) ++p;
  return p;
}

HarmonyEvent event(HarmonyEvent::Kind kind) {
  HarmonyEvent e;
  e.kind = kind;
  return e;
}

MessageHeader assistant_header() {
  MessageHeader h;
  h.role = ChatRole::Assistant;
  h.author = "assistant";
  return h;
}

}  // namespace

// ---------------------------------------------------------------------------

std::string_view to_string(HarmonyEvent::Kind kind) {
  using K = HarmonyEvent::Kind;
  switch (kind) {
    case K::MessageStart: return "message_start";
    case K::ReasoningDelta: return "reasoning_delta";
    case K::ContentDelta: return "content_delta";
    case K::ToolCallStart: return "tool_call_start";
    case K::ToolCallDelta: return "tool_call_delta";
    case K::ToolCallDone: return "tool_call_done";
    case K::MessageEnd: return "message_end";
    case K::Stop: return "stop";
    case K::Malformed: return "malformed";
  }
  return "?";
}

HarmonyParser::HarmonyParser(TokenText token_text, ParserOptions options)
    : token_text_(std::move(token_text)), opt_(std::move(options)) {
  if (opt_.after_assistant_start) {
    state_ = State::Header;
    begin_header(true);
  }
}

bool HarmonyParser::special(int32_t id) const {
  if (opt_.is_special) return opt_.is_special(id);
  return id >= kFirstSpecialId;
}

void HarmonyParser::malformed(std::vector<HarmonyEvent>& out, std::string note, std::string text) {
  log_debug("harmony parser: " + note);
  warnings_.push_back(note);
  HarmonyEvent e = event(HarmonyEvent::Kind::Malformed);
  e.note = std::move(note);
  e.text = std::move(text);
  if (state_ == State::Content) e.header = cur_;
  out.push_back(std::move(e));
}

std::string HarmonyParser::resolve_function(const std::string& recipient) const {
  if (starts_with(recipient, "functions.") && recipient.size() > 10) return recipient.substr(10);
  if (std::find(opt_.tool_names.begin(), opt_.tool_names.end(), recipient) != opt_.tool_names.end())
    return recipient;
  return "";
}

void HarmonyParser::begin_header(bool role_known) {
  state_ = State::Header;
  role_known_ = role_known;
  header_.clear();
  header_raw_.clear();
}

std::vector<HarmonyEvent> HarmonyParser::push(int32_t id) {
  std::vector<HarmonyEvent> out;
  push(id, out);
  return out;
}

std::vector<HarmonyEvent> HarmonyParser::finish() {
  std::vector<HarmonyEvent> out;
  finish(out);
  return out;
}

void HarmonyParser::push(int32_t id, std::vector<HarmonyEvent>& out) {
  if (!special(id)) {
    std::string bytes = token_text_(id);
    switch (state_) {
      case State::ExpectStart:
        // Text where <|start|> belongs: read it as a header that lost its
        // <|start|> (whitespace between messages vanishes there).
        begin_header(false);
        header_text(bytes, out);
        break;
      case State::Header:
        header_text(bytes, out);
        break;
      case State::Content:
        content_text(utf8_.push(bytes), out);
        break;
    }
    return;
  }

  auto sp = special_from_id(id);
  std::string name = sp ? std::string(text_of(*sp)) : "<special " + std::to_string(id) + ">";
  if (sp == Special::EndOfText) {  // a stop token too (generation_config's eos list)
    finish(out);
    do_stop(StopReason::EndOfText, out);
    return;
  }
  switch (state_) {
    case State::ExpectStart:
      if (!sp) {
        malformed(out, "unexpected control token " + name + " between messages; ignored");
        return;
      }
      switch (*sp) {
        case Special::Start:
          begin_header(false);
          return;
        case Special::Channel:
        case Special::Constrain:
          malformed(out, name + " without <|start|>assistant before it; read as a new assistant message");
          begin_header(true);
          header_ += name;
          return;
        case Special::Message:
          malformed(out, "<|message|> without a header; read as an assistant message");
          start_message(assistant_header(), out);
          return;
        case Special::Return:
          do_stop(StopReason::Return, out);
          return;
        case Special::Call:
          malformed(out, "<|call|> outside a tool call");
          do_stop(StopReason::Call, out);
          return;
        case Special::End:
          malformed(out, "<|end|> where <|start|> was expected; ignored");
          return;
        default:
          malformed(out, "unexpected control token " + name + " between messages; ignored");
          return;
      }
    case State::Header:
      if (sp == Special::Message) {
        header_done(out);
        return;
      }
      if (sp == Special::Channel || sp == Special::Constrain) {
        header_ += name;
        return;
      }
      if (sp == Special::Start) {
        if (!all_space(header_raw_))
          malformed(out, "message header cut off by <|start|>", sanitize_utf8(header_raw_));
        begin_header(false);
        return;
      }
      if (sp == Special::End || sp == Special::Return || sp == Special::Call) {
        if (all_space(header_)) {
          if (sp == Special::End) malformed(out, "<|end|> where a message was expected; ignored");
          if (sp == Special::Call) malformed(out, "<|call|> outside a tool call");
          state_ = State::ExpectStart;
          if (sp != Special::End) do_stop(sp == Special::Return ? StopReason::Return : StopReason::Call, out);
          return;
        }
        malformed(out, "message header without <|message|>; the rest of it is read as content");
        header_cut(out);
        end_message(sp == Special::End ? EndBy::End : sp == Special::Return ? EndBy::Return : EndBy::Call, out);
        return;
      }
      malformed(out, "unexpected control token " + name + " in a message header; ignored");
      return;
    case State::Content:
      if (sp == Special::End) {
        end_message(EndBy::End, out);
        return;
      }
      if (sp == Special::Return) {
        end_message(EndBy::Return, out);
        return;
      }
      if (sp == Special::Call) {
        end_message(EndBy::Call, out);
        return;
      }
      if (sp == Special::Start) {
        malformed(out, "message not closed before <|start|>; closed it");
        end_message(EndBy::NextMessage, out);
        begin_header(false);
        return;
      }
      if (sp == Special::Channel) {
        malformed(out, "message not closed before <|channel|>; read as a new assistant message");
        end_message(EndBy::NextMessage, out);
        begin_header(true);
        header_ += name;
        return;
      }
      if (sp == Special::Constrain && holding_) {
        hold_constrain_.push_back(hold_.size());
        return;
      }
      if (sp == Special::Constrain && route_ == Route::Tool && text_.empty()) {
        strip_json_prefix_ = true;  // "<|message|><|constrain|>json{...}": type after <|message|>
        return;
      }
      malformed(out, "unexpected control token " + name + " inside a message; dropped");
      return;
  }
}

void HarmonyParser::header_text(const std::string& bytes, std::vector<HarmonyEvent>& out) {
  header_ += bytes;
  header_raw_ += bytes;
  if (all_space(header_)) return;
  std::string clean = sanitize_utf8(header_);
  HeaderParse p = parse_header(clean, role_known_, /*complete=*/false, /*stop_at_junk=*/true);
  if (p.rest != std::string::npos || header_.size() > opt_.max_header_bytes) {
    malformed(out, "no <|message|> after the message header; the rest is read as content");
    header_cut(out);
  }
}

void HarmonyParser::header_done(std::vector<HarmonyEvent>& out) {
  std::string clean = sanitize_utf8(header_);
  HeaderParse p = parse_header(clean, role_known_, /*complete=*/true, /*stop_at_junk=*/false);
  for (auto& n : p.notes) malformed(out, n);
  if (!p.junk.empty()) {
    std::string words;
    for (auto& w : p.junk) words += (words.empty() ? "" : " ") + w;
    malformed(out, "unexpected words in the message header", words);
  }
  if (p.unknown_role && !p.any_field()) malformed(out, "unknown role '" + p.h.author + "'; read as assistant");
  p.h.raw = clean;
  start_message(std::move(p.h), out);
}

void HarmonyParser::header_cut(std::vector<HarmonyEvent>& out) {
  std::string clean = sanitize_utf8(header_);
  HeaderParse p = parse_header(clean, role_known_, /*complete=*/true, /*stop_at_junk=*/true);
  for (auto& n : p.notes) malformed(out, n);
  std::string rest;
  if (p.rest != std::string::npos) rest = clean.substr(p.rest);
  p.h.raw = clean;
  start_message(std::move(p.h), out);
  // For a call, a leading "json" in the rest ("to=functions.f json{...}")
  // is its content type: route_text takes it off the arguments.
  if (!rest.empty()) content_text(rest, out);
}

void HarmonyParser::start_message(MessageHeader h, std::vector<HarmonyEvent>& out) {
  state_ = State::Content;
  cur_ = std::move(h);
  text_.clear();
  hold_.clear();
  hold_constrain_.clear();
  holding_ = false;
  strip_json_prefix_ = false;
  json_hold_.clear();
  utf8_ = Utf8Stream{};

  const std::string& r = cur_.recipient;
  bool plain_recipient = r.empty() || r == "assistant" || r == "user" || r == "all";
  if (cur_.role == ChatRole::Assistant) cur_.tool_name = plain_recipient ? "" : resolve_function(r);

  HarmonyEvent start = event(HarmonyEvent::Kind::MessageStart);
  start.header = cur_;
  out.push_back(std::move(start));

  if (cur_.role != ChatRole::Assistant) {
    route_ = Route::Foreign;
    return;
  }
  if (!cur_.tool_name.empty()) {
    route_ = Route::Tool;
    strip_json_prefix_ = cur_.content_type.empty();
    call_ = ParsedToolCall{};
    call_.index = next_call_index_++;
    call_.name = cur_.tool_name;
    if (!opt_.tool_names.empty() &&
        std::find(opt_.tool_names.begin(), opt_.tool_names.end(), call_.name) == opt_.tool_names.end())
      malformed(out, "call to unknown function '" + call_.name + "'");
    HarmonyEvent e = event(HarmonyEvent::Kind::ToolCallStart);
    e.header = cur_;
    e.tool_call = call_;
    out.push_back(std::move(e));
    return;
  }
  if (!plain_recipient) malformed(out, "unknown recipient '" + r + "'; its text is passed on as it is");
  route_ = cur_.channel == "analysis" ? Route::Reasoning : Route::Content;
  holding_ = opt_.recover_text_tool_calls;
}

void HarmonyParser::content_text(std::string text, std::vector<HarmonyEvent>& out) {
  if (text.empty()) return;
  if (holding_) {
    hold_ += text;
    try_release_hold(false, out);
    return;
  }
  route_text(text, out);
}

void HarmonyParser::try_release_hold(bool at_end, std::vector<HarmonyEvent>& out) {
  LeakMatch m = classify_leak(hold_, hold_constrain_, at_end,
                              [this](const std::string& r) { return resolve_function(r); });
  if (m.verdict == Verdict::NeedMore && hold_.size() > 512) m.verdict = Verdict::NotLeak;
  if (m.verdict == Verdict::NeedMore) return;
  holding_ = false;
  std::string held = std::move(hold_);
  hold_.clear();
  if (m.verdict == Verdict::NotLeak) {
    route_text(held, out);
    return;
  }
  // The model wrote a tool call's header as text: make it the call it meant.
  malformed(out, "tool-call header written as text; read as a call to " + m.recipient,
            held.substr(0, m.args_start));
  cur_.recipient = m.recipient;
  if (!m.channel.empty()) cur_.channel = m.channel;
  cur_.content_type = "json";
  cur_.tool_name = resolve_function(m.recipient);
  route_ = Route::Tool;
  call_ = ParsedToolCall{};
  call_.index = next_call_index_++;
  call_.name = cur_.tool_name;
  HarmonyEvent e = event(HarmonyEvent::Kind::ToolCallStart);
  e.header = cur_;
  e.tool_call = call_;
  out.push_back(std::move(e));
  route_text(held.substr(m.args_start), out);
}

std::string HarmonyParser::take_json_hold(std::vector<HarmonyEvent>& out) {
  std::string held = std::move(json_hold_);
  json_hold_.clear();
  size_t k = json_prefix_length(held);
  if (k) malformed(out, "content type written inside a tool call's content; not part of the arguments", held.substr(0, k));
  return held.substr(k);
}

void HarmonyParser::route_text(const std::string& text_in, std::vector<HarmonyEvent>& out) {
  std::string text = text_in;
  if (route_ == Route::Tool && strip_json_prefix_) {
    // The call's arguments start here, but its content type may have landed
    // in the content ("json{...}"): hold the first bytes until that is clear.
    json_hold_ += text;
    size_t first = json_hold_.find_first_not_of(" \t\r\n");
    std::string_view t = first == std::string::npos ? std::string_view{} : std::string_view(json_hold_).substr(first);
    if (t.empty() || (t.size() <= 4 && std::string_view("json").substr(0, t.size()) == t)) return;
    strip_json_prefix_ = false;
    text = take_json_hold(out);
  }
  if (text.empty()) return;
  text_ += text;
  HarmonyEvent e = event(HarmonyEvent::Kind::ContentDelta);
  switch (route_) {
    case Route::Reasoning:
      e.kind = HarmonyEvent::Kind::ReasoningDelta;
      reasoning_ += text;
      break;
    case Route::Content:
      content_ += text;
      break;
    case Route::Tool:
      e.kind = HarmonyEvent::Kind::ToolCallDelta;
      call_.arguments += text;
      e.tool_call.index = call_.index;
      e.tool_call.name = call_.name;
      break;
    case Route::Foreign:
      return;  // passed on whole at the end of the message
  }
  e.text = std::move(text);
  e.header = cur_;
  out.push_back(std::move(e));
}

void HarmonyParser::end_message(EndBy how, std::vector<HarmonyEvent>& out) {
  std::string tail = utf8_.flush();
  if (!tail.empty()) content_text(tail, out);
  if (holding_) try_release_hold(true, out);
  if (!json_hold_.empty()) {
    strip_json_prefix_ = false;
    route_text(take_json_hold(out), out);
  }

  if (route_ == Route::Foreign) {
    malformed(out,
              "the model wrote a '" + cur_.author + "' message; its text is not part of the answer",
              text_);
  }
  if (route_ == Route::Tool) {
    call_.closed = how == EndBy::Call;
    std::vector<std::string> warn;
    switch (how) {
      case EndBy::Call: break;
      case EndBy::End: warn.push_back("tool call ended with <|end|> instead of <|call|>"); break;
      case EndBy::Return: warn.push_back("tool call ended with <|return|> instead of <|call|>"); break;
      case EndBy::Stream: warn.push_back("output ended before the tool call's <|call|>"); break;
      case EndBy::NextMessage: warn.push_back("tool call not closed before the next message"); break;
    }
    std::string args = call_.arguments;
    if (all_space(args)) {
      call_.arguments = "{}";
      call_.valid_json = true;
      warn.push_back("no arguments; sent {}");
    } else {
      try {
        auto parsed = nlohmann::json::parse(args);
        (void)parsed;
        call_.valid_json = true;
      } catch (const nlohmann::json::exception& e) {
        call_.valid_json = false;
        warn.push_back("arguments are not valid JSON (passed on as written): " + std::string(e.what()));
      }
    }
    for (auto& w : warn) call_.warning += (call_.warning.empty() ? "" : "; ") + w;
    if (!call_.warning.empty()) {
      log_warn("tool call " + call_.name + ": " + call_.warning);
      warnings_.push_back("tool call " + call_.name + ": " + call_.warning);
    }
    tool_calls_.push_back(call_);
    HarmonyEvent e = event(HarmonyEvent::Kind::ToolCallDone);
    e.header = cur_;
    e.tool_call = call_;
    out.push_back(std::move(e));
  } else if (how == EndBy::Call) {
    malformed(out, "<|call|> ended a message that is not a tool call");
  }
  messages_.push_back({cur_, text_});
  HarmonyEvent end = event(HarmonyEvent::Kind::MessageEnd);
  end.header = cur_;
  out.push_back(std::move(end));
  state_ = State::ExpectStart;
  if (how == EndBy::Return) do_stop(StopReason::Return, out);
  if (how == EndBy::Call) do_stop(StopReason::Call, out);
}

void HarmonyParser::do_stop(StopReason why, std::vector<HarmonyEvent>& out) {
  stop_ = why;
  state_ = State::ExpectStart;
  HarmonyEvent e = event(HarmonyEvent::Kind::Stop);
  e.stop = why;
  out.push_back(std::move(e));
}

void HarmonyParser::finish(std::vector<HarmonyEvent>& out) {
  switch (state_) {
    case State::ExpectStart:
      return;
    case State::Header:
      if (!all_space(header_) && opt_.cut_header_is_text) {
        malformed(out, "output ended inside a message header");
        header_cut(out);
        end_message(EndBy::Stream, out);
      }
      state_ = State::ExpectStart;
      return;
    case State::Content:
      end_message(EndBy::Stream, out);
      return;
  }
}

ParsedCompletion parse_completion(std::span<const int32_t> ids, TokenText token_text, ParserOptions options) {
  HarmonyParser parser(std::move(token_text), std::move(options));
  std::vector<HarmonyEvent> events;
  for (int32_t id : ids) {
    parser.push(id, events);
    events.clear();
  }
  parser.finish(events);
  ParsedCompletion r;
  r.reasoning = parser.reasoning();
  r.content = parser.content();
  r.tool_calls = parser.tool_calls();
  r.messages = parser.messages();
  r.warnings = parser.warnings();
  r.stop = parser.stop_reason();
  return r;
}

}  // namespace gptoss::harmony
