#pragma once
// Scenario benchmark: realistic prompts of five kinds (coding, reading
// comprehension, common-sense reasoning, math/logic, creative writing), in
// English and Chinese, sent through the chat API; tokens/s and time per
// scenario and overall, and speed-ups when several servers or configurations
// ran the same prompts.
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "bench/bar_line_chart.h"
#include "bench/openai_stream_client.h"

namespace gptoss::bench {

struct Scenario {
  std::string name;   // file stem, e.g. "coding"
  std::string title;  // for tables and charts
  std::vector<std::pair<std::string, std::vector<std::string>>> prompts;  // language -> prompts
};

// Every *.json in `dir` ({"title", "order", "prompts": {"en": [...], "zh": [...]}}),
// sorted by "order". Throws Error naming the file that is wrong.
std::vector<Scenario> load_scenarios(const std::string& dir);

struct ScenarioOptions {
  size_t prompts_per_language = 0;  // 0 = all
  int max_tokens = 1024;
  int concurrency = 1;
  double temperature = -1;
  std::vector<std::string> languages;  // empty = all in the files
};

// Runs every scenario against one server; returns one "config" object:
// {"label","url","model","scenarios":[{"name","title","languages":{lang: stats},
//  + stats}], "overall": stats} where stats = {"requests","failed",
// "prompt_tokens","completion_tokens","wall_s","tokens_per_s",
// "ttft_ms_mean","tpot_ms_mean"}.
nlohmann::json run_scenarios(const Endpoint& endpoint, const std::string& url, const std::string& label,
                             const std::vector<Scenario>& scenarios, const ScenarioOptions& options);

// {"kind":"scenarios","configs":[...],"comparison":{"baseline", "rows":[
//  {"scenario","title","tokens_per_s":[per config],"wall_s":[...],"speedup":[vs the first]}]}}
nlohmann::json scenario_report(const std::vector<nlohmann::json>& configs);

std::string scenario_text(const nlohmann::json& report);
std::string scenario_markdown(const nlohmann::json& report);
// Bars: tokens/s per config per scenario (and overall); line: speed-up of each
// later config over the first, on the right axis.
BarLineChart scenario_chart(const nlohmann::json& report);

}  // namespace gptoss::bench
