#pragma once
// What a request sees of its sequence: a thread-safe queue of sampled tokens
// ending with one Finished event. The engine thread pushes; the consumer (an
// HTTP handler, a CLI loop, a test) pops, and may cancel at any time.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <optional>
#include <string>

#include "runtime/sampler.h"

namespace gptoss {

enum class FinishReason { None, Stop, Length, Cancelled, Error };
const char* to_string(FinishReason r);

struct StreamEvent {
  enum class Kind { Token, Finished, PromptLogprobs };
  Kind kind = Kind::Token;
  SampledToken token;                         // Kind::Token
  std::vector<SampledToken> prompt;           // Kind::PromptLogprobs: prompt tokens 1.. (GenerateRequest::prompt_logprobs)
  FinishReason reason = FinishReason::None;   // Kind::Finished
  std::string error;                          // FinishReason::Error: what went wrong
  int prompt_tokens = 0, cached_tokens = 0;   // Kind::Finished: usage
  int completion_tokens = 0;
};

class RequestStream {
 public:
  // Waits up to `timeout` for the next event; nullopt on timeout.
  std::optional<StreamEvent> next(std::chrono::milliseconds timeout);
  // Asks the engine to stop this sequence; a Finished(Cancelled) follows.
  void cancel() { cancelled_ = true; }
  bool cancelled() const { return cancelled_; }
  // Tokens pushed and not yet taken by next(): how far the engine is ahead
  // of the reader (the scheduler pauses a sequence whose reader fell behind).
  int unread_tokens() const { return unread_tokens_.load(std::memory_order_relaxed); }

  void push(StreamEvent e);  // engine side

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<StreamEvent> events_;
  std::atomic<bool> cancelled_{false};
  std::atomic<int> unread_tokens_{0};
};

}  // namespace gptoss
