#pragma once
// The serving loop: a thread that repeatedly asks the scheduler for a step,
// runs it on the model, samples, and streams tokens to each request.
// submit() and RequestStream::cancel() are safe from any thread.
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <vector>

#include "core/error.h"
#include "model/model_runner.h"
#include "runtime/engine_metrics.h"
#include "runtime/kv_block_manager.h"
#include "runtime/scheduler.h"
#include "runtime/sequence.h"

namespace gptoss {

struct EngineOptions {
  // 0: as many as the KV cache holds comfortably on a GPU (up to
  // kAutoMaxNumSeqs; the sliding-window rings of that many sequences take at
  // most a quarter of it), kDefaultMaxNumSeqs without a GPU budget.
  int max_num_seqs = kDefaultMaxNumSeqs;
  static constexpr int kDefaultMaxNumSeqs = 64;
  static constexpr int kAutoMaxNumSeqs = 256;
  int max_num_batched_tokens = 2048;
  int max_model_len = 4096;       // prompt + output tokens of one sequence
  // Lower max_model_len to what the full-attention KV pool holds (a server
  // that offers the model's whole context where the memory allows it).
  bool fit_max_model_len = false;
  uint64_t kv_cache_bytes = 0;    // 0: from gpu_memory_utilization, else enough for max_model_len x max_num_seqs, at most 1 GiB
  // On a GPU, the share of its memory this process may fill (weights,
  // activations and KV cache together, like vLLM's flag); 0: not used.
  double gpu_memory_utilization = 0.0;
  int block_size = 16;
  bool prefix_caching = true;
  // Requests accepted but not yet in the running batch; past it submit()
  // throws EngineBusy so a server can say "retry later" instead of queueing
  // without bound. 0: no limit.
  int max_queued_requests = 0;
  // Tokens a sequence may run ahead of its stream's reader before it is
  // paused (backpressure for clients that stop reading; see SchedulerConfig).
  // 0: no limit.
  int max_unread_tokens = 0;
  // Queue each decode step before the previous one's tokens reach the host
  // when nothing but those tokens could change it (see Engine::look_ahead):
  // the GPU then never idles while the host samples, streams and schedules.
  bool lookahead = true;
};

// A request that can never be served as asked (too long, bad ids...); the
// message says why. Servers answer it with 400.
class RequestError : public Error {
 public:
  using Error::Error;
};

// The waiting queue is full (max_queued_requests): not the request's fault,
// retry later. Servers answer it with 429 and Retry-After.
class EngineBusy : public Error {
 public:
  using Error::Error;
};

struct EngineStats {
  int running = 0, waiting = 0;
  int held_back = 0;  // of those, paused because their reader is behind
  KvUsage kv;
};

class Engine {
 public:
  Engine(ModelRunner& runner, const EngineOptions& options);
  ~Engine();  // stop()

  // Queues a request; tokens arrive on the returned stream. Throws RequestError.
  std::shared_ptr<RequestStream> submit(GenerateRequest request);
  // Waits until no request is left or `timeout` passes; true when idle.
  bool drain(std::chrono::milliseconds timeout);
  // Cancels whatever is left and joins the loop thread.
  void stop();

  EngineStats stats() const;
  const EngineMetrics& metrics() const { return metrics_; }
  const EngineOptions& options() const { return opt_; }
  const KvCacheConfig& kv_config() const { return kv_; }
  const ModelConfig& model_config() const { return runner_.config(); }
  const ModelRunner& runner() const { return runner_; }

 private:
  void loop();
  void step();
  // A step handed to the runner and not yet collected.
  struct SubmittedStep {
    std::vector<ScheduledSeq> items;
    std::vector<uint64_t> ids;        // items' sequences, which may finish before the step is collected
    std::vector<bool> host_sampled;   // the item's token is sampled on the host from its logits
    // Constrained items' masks (null for the others), kept alive until the
    // step is collected; in a fed step, the guess checked by collect_step.
    std::vector<std::shared_ptr<const constrain::TokenMask>> masks;
    bool fed = false;                 // queued by look_ahead
    int rows = 0;
    // Each item's logits rows [first_row, last_row]: one, or one per token
    // where the prompt's log-probabilities are asked for (all_logits).
    std::vector<int> first_row, last_row;
    std::vector<bool> all_logits;
  };
  void submit_step(const std::vector<ScheduledSeq>& items, bool fed);
  void look_ahead();
  void collect_step();
  bool redo_row(const SubmittedStep& st, size_t i);
  // The prompt log-probabilities of item i's rows, kept in its sequence.
  void take_prompt_logprobs(const SubmittedStep& st, size_t i);
  void drop_submitted();
  void finish(Sequence* seq, FinishReason reason, const std::string& error = {});
  // Hands one sampled token to its sequence and its stream; may finish it.
  void emit(Sequence& s, SampledToken tok, Sequence::Clock::time_point now);

  ModelRunner& runner_;
  EngineOptions opt_;
  KvCacheConfig kv_;
  std::unique_ptr<KvBlockManager> blocks_;
  std::unique_ptr<Scheduler> scheduler_;
  EngineMetrics metrics_;

  mutable std::mutex mu_;
  std::condition_variable cv_, idle_cv_;
  std::vector<std::unique_ptr<Sequence>> incoming_;  // under mu_
  bool stopping_ = false;                            // under mu_
  int in_flight_ = 0;                                // under mu_
  EngineStats stats_;                                // under mu_, refreshed each step
  uint64_t next_id_ = 1;                             // under mu_

  std::unordered_map<uint64_t, std::unique_ptr<Sequence>> live_;  // loop thread only
  std::deque<SubmittedStep> submitted_;  // loop thread only; at most 2 (ModelRunner::kMaxInFlight)
  std::vector<float> logits_;
  std::vector<int32_t> chosen_;
  std::vector<SampledToken> sampled_;
  std::thread thread_;
};

}  // namespace gptoss
