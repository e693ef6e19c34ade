#pragma once
// Incremental parser for server-sent events (the text/event-stream format
// OpenAI-compatible servers stream with). Bytes arrive in arbitrary pieces
// from the socket, so a line, a "\r\n" pair or a multi-byte character may be
// split between two feed() calls; the parser keeps the partial line.
#include <functional>
#include <string>
#include <string_view>

namespace gptoss::bench {

struct SseEvent {
  std::string event;  // the "event:" field; empty means "message"
  std::string data;   // "data:" lines joined with '\n'
};

class SseParser {
 public:
  using Handler = std::function<void(const SseEvent&)>;
  explicit SseParser(Handler on_event) : on_event_(std::move(on_event)) {}

  // Consumes the next piece of the stream, calling the handler for each event
  // a blank line completes.
  void feed(std::string_view bytes);
  // End of stream: delivers an event still missing its blank line (servers
  // that close right after the last "data:" line), drops a bare partial line
  // otherwise.
  void finish();

 private:
  void line(std::string_view l);
  void dispatch();

  Handler on_event_;
  std::string partial_;        // an unterminated line
  bool after_cr_ = false;      // the last byte was '\r': a following '\n' belongs to it
  SseEvent pending_;
  bool has_data_ = false;
};

}  // namespace gptoss::bench
