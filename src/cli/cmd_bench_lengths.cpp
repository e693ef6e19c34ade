// gptoss bench lengths: the length table, TTFT and throughput as prompts and
// answers grow (512/256, 1024/512, 2048/1024), for one server or several.
#include <cstdio>
#include <memory>

#include "bench/length_sweep.h"
#include "cli/bench_targets.h"
#include "cli/commands.h"
#include "core/error.h"

namespace gptoss::cli {

namespace {

struct LengthBenchFlags {
  BenchTargetFlags target;
  std::string lengths = "512/256,1024/512,2048/1024";
  size_t requests = 4;
  int concurrency = 1;
  uint64_t seed = 0;
  double temperature = -1;
  bool quiet = false;
  std::vector<std::string> compare;
  std::string json_out, md_out, chart_out;
};

}  // namespace

void add_bench_lengths_command(CLI::App& bench_cmd) {
  auto* cmd = bench_cmd.add_subcommand("lengths", "TTFT and throughput by prompt/answer length, for one server or several");
  auto f = std::make_shared<LengthBenchFlags>();
  f->target.add_to(*cmd, true);
  cmd->add_option("--lengths", f->lengths, "INPUT/OUTPUT token pairs")->capture_default_str();
  cmd->add_option("--num-requests", f->requests, "requests per length")->capture_default_str();
  cmd->add_option("--concurrency", f->concurrency, "requests in flight")->capture_default_str();
  cmd->add_option("--seed", f->seed, "seed for the random prompts")->capture_default_str();
  cmd->add_option("--temperature", f->temperature, "sampling temperature (default: the server's)");
  cmd->add_flag("--quiet", f->quiet, "no progress on stderr");
  cmd->add_option("--compare", f->compare, "compare earlier --json-out files instead of running")->expected(1, -1);
  cmd->add_option("--json-out", f->json_out, "write the results as JSON");
  cmd->add_option("--md-out", f->md_out, "write the table as markdown");
  cmd->add_option("--chart-out", f->chart_out, "write the chart as FILE.svg and FILE.png");
  cmd->callback([f] {
    std::vector<nlohmann::json> configs;
    if (!f->compare.empty()) {
      configs = load_configs(f->compare, "lengths");
    } else {
      auto points = bench::parse_length_points(f->lengths);
      bench::LoadOptions o;
      o.concurrency = f->concurrency;
      o.seed = f->seed;
      o.temperature = f->temperature;
      o.progress = !f->quiet;
      for (const BenchTarget& t : f->target.resolve())
        configs.push_back(bench::run_length_sweep(t.endpoint, t.url, t.label, points, f->requests, o));
    }
    nlohmann::json report = bench::length_report(configs);
    const std::string md = bench::length_markdown(report);
    std::printf("%s", md.c_str());
    std::fflush(stdout);
    if (!f->json_out.empty()) write_text_file(f->json_out, report.dump(2) + "\n");
    if (!f->md_out.empty()) write_text_file(f->md_out, md);
    if (!f->chart_out.empty()) write_chart_files(bench::length_chart(report), f->chart_out);
  });
}

}  // namespace gptoss::cli
