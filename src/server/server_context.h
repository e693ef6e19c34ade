#pragma once
// What every endpoint handler shares: the engine, the tokenizer, options and
// HTTP counters. One per server.
#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "constrain/constraint_cache.h"
#include "constrain/vocabulary.h"
#include "core/log.h"
#include "runtime/engine.h"
#include "tokenizer/tokenizer.h"

namespace gptoss::server {

struct ServerOptions {
  std::string host = "127.0.0.1";
  int port = 8000;
  std::string api_key;              // empty: no authentication
  std::string cors_origins;         // empty: no CORS headers; "*" or a comma list
  std::string model_name = "gpt-oss";
  bool allow_forced_output = false; // test-only "gptoss_debug.force_output"
  // Connections cost a socket each, however slow or idle (the transport is
  // event-driven); a request being handled holds a thread (a stream for its
  // whole length). See server/transport/http_application.h.
  int max_connections = 8192;       // open sockets; more are answered 503 and closed
  int http_threads = 1024;          // requests handled at once, threads started as needed
  int max_waiting_requests = 4096;  // waiting for a handler thread; more get 503 at once
  int header_timeout_seconds = 10;  // a request's headers must arrive within this (slowloris)
  int keep_alive_timeout_seconds = 65;  // idle connections are closed after this
  int drain_seconds = 10;           // on shutdown, in-flight requests get this long
  uint64_t max_request_bytes = 8u << 20;  // larger bodies get 413
  bool log_prompts = false;         // request logs carry ids and token counts, prompt text only when set
  // SO_SNDBUF of every connection (the kernel doubles it for bookkeeping);
  // 0 leaves Linux's autotuning, which grows it up to tcp_wmem's maximum
  // (4 MiB by default) for a client that stops reading. 64 KiB is ample for
  // token streams (a few hundred bytes a token) and bounds what a stuck
  // client holds in the kernel.
  int socket_send_buffer_bytes = 64 << 10;
  // A client that takes no bytes for this long is gone: its request is cancelled.
  int write_timeout_seconds = 30;
  // Default thinking_token_budget by reasoning_effort (low, medium, high):
  // analysis tokens before the answer is forced; -1: no limit.
  int thinking_budget[3] = {-1, -1, -1};
};

// The most recent finished generation, for the UI's status panel.
struct ReplyTiming {
  int completion_tokens = 0;
  double ttft_s = 0, tokens_per_s = 0;
};

struct ServerContext {
  Engine& engine;
  std::shared_ptr<const Tokenizer> tokenizer;
  ServerOptions options;
  std::time_t started = std::time(nullptr);
  std::atomic<bool> draining{false};  // shutting down: refuse new work
  // The transport's load, for /metrics (set by HttpServer).
  std::function<size_t()> open_connections = [] { return size_t(0); };
  std::function<size_t()> busy_handlers = [] { return size_t(0); };
  std::function<size_t()> waiting_requests = [] { return size_t(0); };

  std::mutex http_mu{};
  std::map<std::pair<std::string, int>, int64_t> http_requests{};  // (path, status) -> count
  void count_http(const std::string& path, int status) {
    std::lock_guard lock(http_mu);
    http_requests[{path, status}]++;
  }

  // Constrained decoding: compiled schemas, and the vocabulary as the
  // grammar sees it (built by the first request that needs it).
  mutable constrain::ConstraintCache constraints{};
  mutable std::mutex vocab_mu{};
  mutable std::shared_ptr<const constrain::Vocabulary> vocab_{};  // under vocab_mu
  std::shared_ptr<const constrain::Vocabulary> vocabulary() const {
    std::lock_guard lock(vocab_mu);
    if (!vocab_) {
      const auto t0 = std::chrono::steady_clock::now();
      vocab_ = std::make_shared<const constrain::Vocabulary>(*tokenizer, engine.model_config().vocab_size);
      log_info("vocabulary trie for constrained decoding: " + std::to_string(vocab_->trie().size()) + " nodes in " +
               std::to_string(int(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count())) +
               " ms");
    }
    return vocab_;
  }

  std::mutex reply_mu{};
  std::optional<ReplyTiming> last_reply{};  // under reply_mu
  void record_reply(const ReplyTiming& t) {
    std::lock_guard lock(reply_mu);
    last_reply = t;
  }
};

}  // namespace gptoss::server
