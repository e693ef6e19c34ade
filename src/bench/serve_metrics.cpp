#include "bench/serve_metrics.h"

#include <cstdio>
#include <set>

#include "bench/latency_stats.h"

namespace gptoss::bench {

nlohmann::json serve_metrics(const LoadRun& run) {
  std::vector<double> ttft, tpot, itl, e2e;
  long in_tokens = 0, out_tokens = 0;
  size_t ok = 0, failed = 0, with_usage = 0;
  std::vector<std::string> errors;
  std::set<std::string> seen;
  for (const auto& rec : run.records) {
    const StreamResult& r = rec.result;
    if (!r.ok) {
      ++failed;
      if (errors.size() < 5 && seen.insert(r.error).second) errors.push_back(r.error);
      continue;
    }
    ++ok;
    with_usage += r.usage_reported;
    in_tokens += r.prompt_tokens >= 0 ? r.prompt_tokens : rec.approx_input_tokens;
    out_tokens += r.completion_tokens;
    e2e.push_back(r.latency_s);
    if (r.chunk_times_s.empty()) continue;
    ttft.push_back(r.ttft_s);
    if (r.completion_tokens > 1) tpot.push_back((r.latency_s - r.ttft_s) / double(r.completion_tokens - 1));
    for (size_t k = 1; k < r.chunk_times_s.size(); ++k) itl.push_back(r.chunk_times_s[k] - r.chunk_times_s[k - 1]);
  }
  const double d = run.wall_s > 0 ? run.wall_s : 1;
  nlohmann::json m = {
      {"completed", ok},
      {"failed", failed},
      {"duration_s", run.wall_s},
      {"request_throughput", double(ok) / d},
      {"output_throughput", double(out_tokens) / d},
      {"total_token_throughput", double(in_tokens + out_tokens) / d},
      {"total_input_tokens", in_tokens},
      {"total_output_tokens", out_tokens},
      {"mean_input_tokens", ok ? double(in_tokens) / double(ok) : 0.0},
      {"mean_output_tokens", ok ? double(out_tokens) / double(ok) : 0.0},
      {"token_counts", ok == 0 ? "none" : with_usage == ok ? "usage" : with_usage == 0 ? "chunks" : "mixed"},
      {"ttft_ms", summary_json(summarize(ttft), 1000)},
      {"tpot_ms", summary_json(summarize(tpot), 1000)},
      {"itl_ms", summary_json(summarize(itl), 1000)},
      {"e2e_latency_ms", summary_json(summarize(e2e), 1000)},
      {"errors", errors}};
  return m;
}

namespace {

std::string fmt(const char* f, double v) {
  char b[64];
  std::snprintf(b, sizeof b, f, v);
  return b;
}

const char* const kLatencies[][2] = {{"ttft_ms", "TTFT (ms)"},
                                     {"tpot_ms", "TPOT (ms)"},
                                     {"itl_ms", "ITL (ms)"},
                                     {"e2e_latency_ms", "E2E latency (ms)"}};

}  // namespace

std::string serve_text(const nlohmann::json& m) {
  std::string s;
  auto row = [&](const std::string& name, const std::string& value) {
    char b[160];
    std::snprintf(b, sizeof b, "%-30s %s\n", name.c_str(), value.c_str());
    s += b;
  };
  s += "============ Serving benchmark result ============\n";
  row("Successful requests:", std::to_string(m["completed"].get<long>()));
  row("Failed requests:", std::to_string(m["failed"].get<long>()));
  row("Benchmark duration (s):", fmt("%.2f", m["duration_s"]));
  row("Total input tokens:", std::to_string(m["total_input_tokens"].get<long>()));
  row("Total output tokens:", std::to_string(m["total_output_tokens"].get<long>()) + " (from " +
                                  m["token_counts"].get<std::string>() + ")");
  row("Request throughput (req/s):", fmt("%.2f", m["request_throughput"]));
  row("Output token throughput (tok/s):", fmt("%.2f", m["output_throughput"]));
  row("Total token throughput (tok/s):", fmt("%.2f", m["total_token_throughput"]));
  for (auto& [key, title] : kLatencies) {
    const auto& l = m[key];
    s += std::string("---------------- ") + title + " ----------------\n";
    row("mean / p50:", fmt("%.2f", l["mean"]) + " / " + fmt("%.2f", l["p50"]));
    row("p90 / p99:", fmt("%.2f", l["p90"]) + " / " + fmt("%.2f", l["p99"]));
  }
  for (auto& e : m["errors"]) s += "error: " + e.get<std::string>() + "\n";
  s += "==================================================\n";
  return s;
}

std::string serve_markdown(const nlohmann::json& m) {
  std::string s = "| metric | value |\n|---|---:|\n";
  auto row = [&](const std::string& k, const std::string& v) { s += "| " + k + " | " + v + " |\n"; };
  row("successful requests", std::to_string(m["completed"].get<long>()));
  row("failed requests", std::to_string(m["failed"].get<long>()));
  row("duration (s)", fmt("%.2f", m["duration_s"]));
  row("request throughput (req/s)", fmt("%.2f", m["request_throughput"]));
  row("output throughput (tok/s)", fmt("%.1f", m["output_throughput"]));
  row("total throughput (tok/s)", fmt("%.1f", m["total_token_throughput"]));
  row("mean input / output tokens", fmt("%.1f", m["mean_input_tokens"]) + " / " + fmt("%.1f", m["mean_output_tokens"]));
  s += "\n| latency (ms) | mean | p50 | p90 | p99 |\n|---|---:|---:|---:|---:|\n";
  for (auto& [key, title] : kLatencies) {
    const auto& l = m[key];
    s += std::string("| ") + title + " | " + fmt("%.2f", l["mean"]) + " | " + fmt("%.2f", l["p50"]) + " | " +
         fmt("%.2f", l["p90"]) + " | " + fmt("%.2f", l["p99"]) + " |\n";
  }
  return s;
}

}  // namespace gptoss::bench
