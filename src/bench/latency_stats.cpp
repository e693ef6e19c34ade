#include "bench/latency_stats.h"

#include <algorithm>
#include <cmath>

namespace gptoss::bench {

double percentile(std::vector<double> v, double q) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  q = std::clamp(q, 0.0, 100.0);
  const double rank = q / 100.0 * double(v.size() - 1);
  const size_t lo = size_t(std::floor(rank)), hi = std::min(lo + 1, v.size() - 1);
  return v[lo] + (v[hi] - v[lo]) * (rank - double(lo));
}

Summary summarize(const std::vector<double>& v) {
  Summary s;
  s.count = v.size();
  if (v.empty()) return s;
  for (double x : v) s.mean += x;
  s.mean /= double(v.size());
  for (double x : v) s.stddev += (x - s.mean) * (x - s.mean);
  s.stddev = v.size() > 1 ? std::sqrt(s.stddev / double(v.size() - 1)) : 0;  // sample standard deviation
  auto [mn, mx] = std::minmax_element(v.begin(), v.end());
  s.min = *mn;
  s.max = *mx;
  s.p50 = percentile(v, 50);
  s.p90 = percentile(v, 90);
  s.p99 = percentile(v, 99);
  return s;
}

nlohmann::json summary_json(const Summary& s, double k) {
  return {{"count", s.count}, {"mean", s.mean * k}, {"stddev", s.stddev * k}, {"min", s.min * k},
          {"max", s.max * k},  {"p50", s.p50 * k},   {"p90", s.p90 * k},       {"p99", s.p99 * k}};
}

}  // namespace gptoss::bench
