#include "bench/length_sweep.h"

#include <cstdio>
#include <sstream>

#include "bench/serve_metrics.h"
#include "bench/workload.h"
#include "core/error.h"

namespace gptoss::bench {

std::vector<LengthPoint> parse_length_points(const std::string& text) {
  std::vector<LengthPoint> out;
  std::stringstream ss(text);
  std::string item;
  while (std::getline(ss, item, ',')) {
    LengthPoint p;
    char slash = 0, extra = 0;
    if (std::sscanf(item.c_str(), " %d %c %d %c", &p.input_len, &slash, &p.output_len, &extra) != 3 || slash != '/' ||
        p.input_len < 1 || p.output_len < 1)
      throw Error("length point '" + item + "' is not INPUT/OUTPUT (e.g. 512/256)");
    out.push_back(p);
  }
  if (out.empty()) throw Error("no length points given (e.g. --lengths 512/256,1024/512)");
  return out;
}

nlohmann::json run_length_sweep(const Endpoint& e, const std::string& url, const std::string& label,
                                const std::vector<LengthPoint>& points, size_t n, const LoadOptions& base) {
  nlohmann::json cfg = {{"label", label}, {"url", url}, {"model", e.model}, {"concurrency", base.concurrency},
                        {"points", nlohmann::json::array()}};
  for (const LengthPoint& p : points) {
    LoadOptions o = base;
    o.num_requests = n;
    o.duration_s = 0;
    o.label = label + " " + std::to_string(p.input_len) + "/" + std::to_string(p.output_len);
    LengthSpec spec{p.input_len, p.output_len, 0};
    LoadRun run = run_load(e, o, [&](size_t i) { return synthetic_request(i, spec, base.seed); });
    cfg["points"].push_back({{"input_len", p.input_len}, {"output_len", p.output_len}, {"metrics", serve_metrics(run)}});
  }
  return cfg;
}

nlohmann::json length_report(const std::vector<nlohmann::json>& configs) {
  if (configs.empty()) throw Error("no length results to report");
  return {{"kind", "lengths"}, {"configs", configs}};
}

namespace {
std::string fmt(const char* f, double v) {
  char b[64];
  std::snprintf(b, sizeof b, f, v);
  return b;
}
}  // namespace

std::string length_markdown(const nlohmann::json& rep) {
  std::string s =
      "| config | input / output | mean input tok | mean output tok | TTFT mean (ms) | TTFT p99 (ms) | TPOT mean (ms) | "
      "output tok/s | total tok/s | failed |\n|---|---|---:|---:|---:|---:|---:|---:|---:|---:|\n";
  for (auto& c : rep["configs"])
    for (auto& p : c["points"]) {
      const auto& m = p["metrics"];
      s += "| " + c["label"].get<std::string>() + " | " + std::to_string(p["input_len"].get<int>()) + " / " +
           std::to_string(p["output_len"].get<int>()) + " | " + fmt("%.0f", m["mean_input_tokens"]) + " | " +
           fmt("%.0f", m["mean_output_tokens"]) + " | " + fmt("%.1f", m["ttft_ms"]["mean"]) + " | " +
           fmt("%.1f", m["ttft_ms"]["p99"]) + " | " + fmt("%.2f", m["tpot_ms"]["mean"]) + " | " +
           fmt("%.1f", m["output_throughput"]) + " | " + fmt("%.1f", m["total_token_throughput"]) + " | " +
           std::to_string(m["failed"].get<long>()) + " |\n";
    }
  return s;
}

BarLineChart length_chart(const nlohmann::json& rep) {
  const auto& cfgs = rep["configs"];
  BarLineChart ch;
  ch.title = "Throughput and time to first token by prompt / answer length";
  ch.subtitle = "model " + cfgs[0]["model"].get<std::string>() + ", concurrency " +
                std::to_string(cfgs[0].value("concurrency", 1));
  ch.bar_axis_label = "output tokens/s";
  ch.bar_value_format = "%.1f";
  ch.line_axis_label = "mean TTFT (ms)";
  ch.line_value_format = "%.0f ms";
  for (auto& p : cfgs[0]["points"])
    ch.categories.push_back(std::to_string(p["input_len"].get<int>()) + " in / " + std::to_string(p["output_len"].get<int>()) + " out");
  for (auto& c : cfgs) {
    ChartSeries bars{c["label"], {}}, ttft{"TTFT " + c["label"].get<std::string>(), {}};
    for (auto& p : c["points"]) {
      bars.values.push_back(p["metrics"]["output_throughput"]);
      ttft.values.push_back(p["metrics"]["ttft_ms"]["mean"]);
    }
    ch.bars.push_back(bars);
    ch.lines.push_back(ttft);
  }
  return ch;
}

}  // namespace gptoss::bench
