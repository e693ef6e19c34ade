#pragma once
// The length table: TTFT and throughput as prompt and answer grow (512/256,
// 1024/512, 2048/1024 by default), each point a fixed-length serving run.
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "bench/bar_line_chart.h"
#include "bench/load_generator.h"

namespace gptoss::bench {

struct LengthPoint {
  int input_len = 0, output_len = 0;
};

// "512/256,1024/512" -> points; throws Error on anything else.
std::vector<LengthPoint> parse_length_points(const std::string& text);

// One config: {"label","url","model","concurrency","points":[{"input_len",
// "output_len", "metrics": serve_metrics(...)}]}.
nlohmann::json run_length_sweep(const Endpoint& endpoint, const std::string& url, const std::string& label,
                                const std::vector<LengthPoint>& points, size_t requests_per_point,
                                const LoadOptions& base_options);

// {"kind":"lengths","configs":[...]}
nlohmann::json length_report(const std::vector<nlohmann::json>& configs);
std::string length_markdown(const nlohmann::json& report);
// Bars: output tokens/s per config per length; lines: mean TTFT (ms) per config.
BarLineChart length_chart(const nlohmann::json& report);

}  // namespace gptoss::bench
