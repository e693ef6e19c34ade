// gptoss bench scenarios: realistic prompts (coding, reading comprehension,
// common-sense reasoning, math/logic, creative writing; English and Chinese)
// through the chat API of one or more servers, or earlier runs compared
// (--compare a.json b.json): tokens/s and time per scenario, speed-ups, a
// markdown table and a chart.
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <vector>

#include "bench/scenario_suite.h"
#include "cli/bench_targets.h"
#include "cli/commands.h"
#include "cli/shipped_data.h"
#include "core/error.h"

namespace gptoss::cli {

namespace {

struct ScenarioBenchFlags {
  BenchTargetFlags target;
  bench::ScenarioOptions options;
  std::string scenarios_dir;
  std::vector<std::string> compare;
  std::string json_out, md_out, chart_out;
};

// --scenarios-dir, else $GPTOSS_SCENARIOS_DIR, else ./bench/scenarios, else
// the copy gptoss ships (share/gptoss/scenarios, or the source tree's).
std::string scenario_folder(const std::string& flag) {
  if (!flag.empty()) return flag;
  if (const char* env = std::getenv("GPTOSS_SCENARIOS_DIR")) return env;
  if (std::filesystem::is_directory("bench/scenarios")) return "bench/scenarios";
  const std::vector<std::string> shipped = shipped_data_paths("scenarios", "bench/scenarios");
  for (const std::string& dir : shipped)
    if (std::filesystem::is_directory(dir)) return dir;
  return shipped.empty() ? "bench/scenarios" : shipped.front();
}

}  // namespace

void add_bench_scenarios_command(CLI::App& bench_cmd) {
  auto* cmd = bench_cmd.add_subcommand("scenarios", "tokens/s on realistic prompts by scenario, for one server or several compared");
  auto f = std::make_shared<ScenarioBenchFlags>();
  f->target.add_to(*cmd, true);
  f->target.eos_extras = false;  // natural answers: let the model stop where it would
  cmd->add_option("--max-tokens", f->options.max_tokens, "max_tokens per answer")->capture_default_str();
  cmd->add_option("--prompts-per-scenario", f->options.prompts_per_language, "use only the first N prompts of each language (0 = all)")
      ->capture_default_str();
  cmd->add_option("--languages", f->options.languages, "languages to run (default: all, e.g. en,zh)")->delimiter(',');
  cmd->add_option("--concurrency", f->options.concurrency, "requests in flight per scenario")->capture_default_str();
  cmd->add_option("--temperature", f->options.temperature, "sampling temperature (default: the server's)");
  cmd->add_option("--scenarios-dir", f->scenarios_dir, "folder of scenario *.json files (default: bench/scenarios)");
  cmd->add_option("--compare", f->compare, "compare earlier --json-out files instead of running (first = baseline)")
      ->expected(1, -1);
  cmd->add_option("--json-out", f->json_out, "write the results as JSON");
  cmd->add_option("--md-out", f->md_out, "write the results as markdown tables");
  cmd->add_option("--chart-out", f->chart_out, "write the chart as FILE.svg and FILE.png");
  cmd->callback([f] {
    std::vector<nlohmann::json> configs;
    if (!f->compare.empty()) {
      configs = load_configs(f->compare, "scenarios");
    } else {
      auto scenarios = bench::load_scenarios(scenario_folder(f->scenarios_dir));
      for (const BenchTarget& t : f->target.resolve()) {
        std::fprintf(stderr, "running %zu scenarios against %s (%s)\n", scenarios.size(), t.url.c_str(), t.label.c_str());
        configs.push_back(bench::run_scenarios(t.endpoint, t.url, t.label, scenarios, f->options));
      }
    }
    nlohmann::json report = bench::scenario_report(configs);
    std::printf("%s", bench::scenario_text(report).c_str());
    std::fflush(stdout);
    if (!f->json_out.empty()) write_text_file(f->json_out, report.dump(2) + "\n");
    if (!f->md_out.empty()) write_text_file(f->md_out, bench::scenario_markdown(report));
    if (!f->chart_out.empty()) write_chart_files(bench::scenario_chart(report), f->chart_out);
    for (auto& c : configs)
      if (c["overall"]["requests"] == c["overall"]["failed"])
        throw Error("every request to " + c["url"].get<std::string>() + " failed");
  });
}

}  // namespace gptoss::cli
