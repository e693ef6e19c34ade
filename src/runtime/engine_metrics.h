#pragma once
// Counters and latency histograms the engine keeps while it runs; the server
// renders them as Prometheus text at /metrics.
#include <atomic>
#include <cstdint>
#include <mutex>
#include <vector>

namespace gptoss {

class Histogram {
 public:
  explicit Histogram(std::vector<double> upper_bounds);
  void observe(double value);
  struct Snapshot {
    std::vector<double> bounds;
    std::vector<uint64_t> cumulative;  // per bound, then +Inf last
    double sum = 0;
    uint64_t count = 0;
  };
  Snapshot snapshot() const;
  // The value below which a fraction q of observations fall (bucket bound).
  double quantile(double q) const;

 private:
  mutable std::mutex mu_;
  std::vector<double> bounds_;
  std::vector<uint64_t> counts_;  // per bucket, +Inf last
  double sum_ = 0;
  uint64_t count_ = 0;
};

struct EngineMetrics {
  EngineMetrics();
  std::atomic<int64_t> requests_submitted{0};
  std::atomic<int64_t> requests_rejected{0};
  std::atomic<int64_t> finished_stop{0}, finished_length{0}, finished_cancelled{0}, finished_error{0};
  std::atomic<int64_t> prompt_tokens{0};         // prompt tokens of admitted requests
  std::atomic<int64_t> cached_prompt_tokens{0};  // of which found in the prefix cache
  std::atomic<int64_t> generation_tokens{0};
  std::atomic<int64_t> steps{0};
  std::atomic<int64_t> step_tokens{0};           // tokens computed, prefill and decode
  std::atomic<int64_t> preemptions{0};
  std::atomic<int64_t> lookahead_steps{0};  // queued before the step before was collected
  // Rows of constrained sequences in lookahead steps whose guessed mask
  // proved wrong (their token is chosen again).
  std::atomic<int64_t> lookahead_redone{0};
  Histogram ttft_seconds;         // submit -> first token
  Histogram inter_token_seconds;  // between tokens of one sequence
  Histogram e2e_seconds;          // submit -> finished
};

}  // namespace gptoss
