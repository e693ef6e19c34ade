#include "runtime/engine_metrics.h"

#include <algorithm>

namespace gptoss {

Histogram::Histogram(std::vector<double> b) : bounds_(std::move(b)), counts_(bounds_.size() + 1, 0) {}

void Histogram::observe(double v) {
  std::lock_guard lock(mu_);
  size_t i = size_t(std::lower_bound(bounds_.begin(), bounds_.end(), v) - bounds_.begin());
  counts_[i]++;
  sum_ += v;
  count_++;
}

Histogram::Snapshot Histogram::snapshot() const {
  std::lock_guard lock(mu_);
  Snapshot s{bounds_, {}, sum_, count_};
  uint64_t c = 0;
  for (uint64_t n : counts_) s.cumulative.push_back(c += n);
  return s;
}

double Histogram::quantile(double q) const {
  Snapshot s = snapshot();
  if (s.count == 0) return 0;
  for (size_t i = 0; i < s.bounds.size(); ++i)
    if (double(s.cumulative[i]) >= q * double(s.count)) return s.bounds[i];
  return s.bounds.empty() ? 0 : s.bounds.back();
}

static std::vector<double> latency_buckets() {
  return {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.5,
          0.75,  1.0,    1.5,   2.0,  3.0,   5.0,  7.5,   10,  20,   40,  80,  160};
}

EngineMetrics::EngineMetrics()
    : ttft_seconds(latency_buckets()), inter_token_seconds(latency_buckets()), e2e_seconds(latency_buckets()) {}

}  // namespace gptoss
