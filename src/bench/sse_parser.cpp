#include "bench/sse_parser.h"

namespace gptoss::bench {

void SseParser::feed(std::string_view bytes) {
  for (char c : bytes) {
    if (after_cr_) {
      after_cr_ = false;
      if (c == '\n') continue;  // the second half of "\r\n"
    }
    if (c == '\r' || c == '\n') {
      after_cr_ = c == '\r';
      line(partial_);
      partial_.clear();
    } else {
      partial_ += c;
    }
  }
}

void SseParser::finish() {
  if (!partial_.empty()) line(partial_);
  partial_.clear();
  dispatch();
}

void SseParser::line(std::string_view l) {
  if (l.empty()) return dispatch();
  if (l.front() == ':') return;  // comment (keep-alive)
  std::string_view field = l, value;
  if (auto colon = l.find(':'); colon != std::string_view::npos) {
    field = l.substr(0, colon);
    value = l.substr(colon + 1);
    if (!value.empty() && value.front() == ' ') value.remove_prefix(1);
  }
  if (field == "data") {
    if (has_data_) pending_.data += '\n';
    pending_.data += value;
    has_data_ = true;
  } else if (field == "event") {
    pending_.event = value;
  }  // "id" and "retry" do not matter to a benchmark
}

void SseParser::dispatch() {
  if (has_data_) on_event_(pending_);
  pending_ = {};
  has_data_ = false;
}

}  // namespace gptoss::bench
