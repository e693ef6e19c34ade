#pragma once
// Summaries of latency and throughput samples: mean, spread and the
// percentiles serving benchmarks report (p50/p90/p99), computed the way numpy
// does by default (linear interpolation between closest ranks) so numbers
// line up with vLLM's and SGLang's benchmark scripts.
#include <cstddef>
#include <vector>

#include <nlohmann/json.hpp>

namespace gptoss::bench {

// The q-th percentile (0 <= q <= 100) of `values`, interpolating linearly
// between the two nearest ranks. 0 for an empty input.
double percentile(std::vector<double> values, double q);

struct Summary {
  size_t count = 0;
  double mean = 0, stddev = 0, min = 0, max = 0;
  double p50 = 0, p90 = 0, p99 = 0;
};

Summary summarize(const std::vector<double>& values);

// {"count","mean","stddev","min","max","p50","p90","p99"}, each value
// multiplied by `scale` (e.g. 1000 to report seconds as milliseconds).
nlohmann::json summary_json(const Summary& s, double scale = 1);

}  // namespace gptoss::bench
