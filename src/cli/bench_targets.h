#pragma once
// What the client-side bench subcommands (serve, scenarios, lengths) share:
// which servers to ask (--url, possibly several to compare, with --model and
// --label per server), how (--endpoint, --api-key, --eos-extras), and writing
// the JSON, markdown and chart files.
#include <CLI/CLI.hpp>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "bench/bar_line_chart.h"
#include "bench/openai_stream_client.h"

namespace gptoss::cli {

struct BenchTarget {
  std::string url, label;
  bench::Endpoint endpoint;
};

struct BenchTargetFlags {
  std::vector<std::string> urls, models, labels;
  std::string api_key;
  std::string endpoint = "chat";
  bool eos_extras = true;
  int timeout_s = 600;
  std::string extra_body;  // JSON object merged into every request

  void add_to(CLI::App& cmd, bool several_urls);
  // One target per URL; --model and --label give one value for all or one per URL.
  std::vector<BenchTarget> resolve() const;
};

// Reads the "configs" of earlier runs' --json-out files, checking their "kind".
std::vector<nlohmann::json> load_configs(const std::vector<std::string>& files, const std::string& kind);

void write_text_file(const std::string& path, const std::string& text);
// Writes the chart (SVG, and PNG when rsvg-convert is installed) and says where.
void write_chart_files(const bench::BarLineChart& chart, const std::string& path);

}  // namespace gptoss::cli
