#include "runtime/request_stream.h"

namespace gptoss {

const char* to_string(FinishReason r) {
  switch (r) {
    case FinishReason::None: return "none";
    case FinishReason::Stop: return "stop";
    case FinishReason::Length: return "length";
    case FinishReason::Cancelled: return "cancelled";
    case FinishReason::Error: return "error";
  }
  return "?";
}

std::optional<StreamEvent> RequestStream::next(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mu_);
  if (!cv_.wait_for(lock, timeout, [&] { return !events_.empty(); })) return std::nullopt;
  StreamEvent e = std::move(events_.front());
  events_.pop_front();
  if (e.kind == StreamEvent::Kind::Token) unread_tokens_--;
  return e;
}

void RequestStream::push(StreamEvent e) {
  {
    std::lock_guard lock(mu_);
    if (e.kind == StreamEvent::Kind::Token) unread_tokens_++;
    events_.push_back(std::move(e));
  }
  cv_.notify_one();
}

}  // namespace gptoss
