#include "bench/scenario_suite.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "bench/latency_stats.h"
#include "bench/load_generator.h"
#include "core/error.h"

namespace gptoss::bench {

namespace fs = std::filesystem;

std::vector<Scenario> load_scenarios(const std::string& dir) {
  if (!fs::is_directory(dir)) throw Error("scenario folder " + dir + " not found (pass --scenarios-dir)");
  std::vector<std::pair<double, Scenario>> found;
  for (auto& entry : fs::directory_iterator(dir)) {
    if (entry.path().extension() != ".json") continue;
    const std::string where = entry.path().string();
    std::ifstream in(entry.path());
    auto j = nlohmann::json::parse(in, nullptr, false);
    if (j.is_discarded() || !j.is_object() || !j.contains("prompts") || !j["prompts"].is_object())
      throw Error(where + ": expected {\"title\": ..., \"prompts\": {\"en\": [...], ...}}");
    Scenario s;
    s.name = entry.path().stem().string();
    s.title = j.value("title", s.name);
    for (auto& [lang, list] : j["prompts"].items()) {
      if (!list.is_array() || list.empty()) throw Error(where + ": prompts." + lang + " must be a non-empty array");
      std::vector<std::string> ps;
      for (auto& p : list) {
        if (!p.is_string()) throw Error(where + ": prompts." + lang + " must hold strings");
        ps.push_back(p);
      }
      s.prompts.emplace_back(lang, std::move(ps));
    }
    found.emplace_back(j.value("order", 1e9), std::move(s));
  }
  if (found.empty()) throw Error("no scenario files (*.json) in " + dir);
  std::sort(found.begin(), found.end(), [](auto& a, auto& b) { return std::tie(a.first, a.second.name) < std::tie(b.first, b.second.name); });
  std::vector<Scenario> out;
  for (auto& f : found) out.push_back(std::move(f.second));
  return out;
}

namespace {

struct Totals {
  long requests = 0, failed = 0, prompt_tokens = 0, completion_tokens = 0;
  double wall_s = 0;
  std::vector<double> ttft, tpot;

  void add(const Totals& o) {
    requests += o.requests;
    failed += o.failed;
    prompt_tokens += o.prompt_tokens;
    completion_tokens += o.completion_tokens;
    wall_s += o.wall_s;
    ttft.insert(ttft.end(), o.ttft.begin(), o.ttft.end());
    tpot.insert(tpot.end(), o.tpot.begin(), o.tpot.end());
  }
  nlohmann::json json() const {
    return {{"requests", requests},
            {"failed", failed},
            {"prompt_tokens", prompt_tokens},
            {"completion_tokens", completion_tokens},
            {"wall_s", wall_s},
            {"tokens_per_s", wall_s > 0 ? double(completion_tokens) / wall_s : 0.0},
            {"ttft_ms_mean", summarize(ttft).mean * 1000},
            {"tpot_ms_mean", summarize(tpot).mean * 1000}};
  }
};

Totals run_prompts(const Endpoint& e, const std::vector<std::string>& prompts, const ScenarioOptions& o,
                   const std::string& progress_label) {
  LoadOptions lo;
  lo.concurrency = std::max(1, std::min<int>(o.concurrency, int(prompts.size())));
  lo.num_requests = prompts.size();
  lo.temperature = o.temperature;
  lo.label = progress_label;
  LoadRun run = run_load(e, lo, [&](size_t i) {
    RequestSpec s;
    s.prompt = prompts[i];
    s.max_tokens = o.max_tokens;
    s.approx_input_tokens = int(prompts[i].size() / 4);
    return s;
  });
  Totals t;
  t.wall_s = run.wall_s;
  for (auto& rec : run.records) {
    const StreamResult& r = rec.result;
    ++t.requests;
    if (!r.ok) {
      ++t.failed;
      std::fprintf(stderr, "%s: request failed: %s\n", progress_label.c_str(), r.error.c_str());
      continue;
    }
    t.prompt_tokens += std::max(0, r.prompt_tokens);
    t.completion_tokens += r.completion_tokens;
    if (!r.chunk_times_s.empty()) t.ttft.push_back(r.ttft_s);
    if (r.completion_tokens > 1) t.tpot.push_back((r.latency_s - r.ttft_s) / (r.completion_tokens - 1));
  }
  return t;
}

std::string fmt(const char* f, double v) {
  char b[64];
  std::snprintf(b, sizeof b, f, v);
  return b;
}

}  // namespace

nlohmann::json run_scenarios(const Endpoint& e, const std::string& url, const std::string& label,
                             const std::vector<Scenario>& scenarios, const ScenarioOptions& o) {
  nlohmann::json out = {{"label", label}, {"url", url}, {"model", e.model}, {"max_tokens", o.max_tokens},
                        {"concurrency", o.concurrency}, {"scenarios", nlohmann::json::array()}};
  Totals overall;
  for (const Scenario& s : scenarios) {
    Totals scenario;
    nlohmann::json langs = nlohmann::json::object();
    for (auto& [lang, all] : s.prompts) {
      if (!o.languages.empty() && std::find(o.languages.begin(), o.languages.end(), lang) == o.languages.end()) continue;
      std::vector<std::string> prompts = all;
      if (o.prompts_per_language && prompts.size() > o.prompts_per_language) prompts.resize(o.prompts_per_language);
      Totals t = run_prompts(e, prompts, o, label + " " + s.name + "/" + lang);
      langs[lang] = t.json();
      scenario.add(t);
    }
    nlohmann::json js = scenario.json();
    js["name"] = s.name;
    js["title"] = s.title;
    js["languages"] = langs;
    out["scenarios"].push_back(js);
    overall.add(scenario);
  }
  out["overall"] = overall.json();
  return out;
}

nlohmann::json scenario_report(const std::vector<nlohmann::json>& configs) {
  if (configs.empty()) throw Error("no scenario results to report");
  nlohmann::json rows = nlohmann::json::array();
  auto row_for = [&](const std::string& name, const std::string& title, auto&& pick) {
    nlohmann::json r = {{"scenario", name}, {"title", title}, {"tokens_per_s", nlohmann::json::array()},
                        {"wall_s", nlohmann::json::array()}, {"speedup", nlohmann::json::array()}};
    double base = 0;
    for (size_t c = 0; c < configs.size(); ++c) {
      const nlohmann::json* st = pick(configs[c]);
      const double tps = st ? (*st)["tokens_per_s"].get<double>() : 0.0;
      if (c == 0) base = tps;
      r["tokens_per_s"].push_back(tps);
      r["wall_s"].push_back(st ? (*st)["wall_s"].get<double>() : 0.0);
      r["speedup"].push_back(base > 0 ? tps / base : 0.0);
    }
    rows.push_back(r);
  };
  for (auto& s : configs[0]["scenarios"]) {
    const std::string name = s["name"];
    row_for(name, s.value("title", name), [&](const nlohmann::json& cfg) -> const nlohmann::json* {
      for (auto& x : cfg["scenarios"])
        if (x["name"] == name) return &x;
      return nullptr;
    });
  }
  row_for("overall", "Overall", [](const nlohmann::json& cfg) { return &cfg["overall"]; });
  std::string base = configs[0]["label"];
  return {{"kind", "scenarios"}, {"configs", configs}, {"comparison", {{"baseline", base}, {"rows", rows}}}};
}

std::string scenario_markdown(const nlohmann::json& rep) {
  const auto& cfgs = rep["configs"];
  std::string s = "| scenario |";
  std::string sep = "|---|";
  for (auto& c : cfgs) {
    s += " " + c["label"].get<std::string>() + " tok/s | " + c["label"].get<std::string>() + " time (s) |";
    sep += "---:|---:|";
  }
  for (size_t c = 1; c < cfgs.size(); ++c) {
    s += " speed-up " + cfgs[c]["label"].get<std::string>() + " |";
    sep += "---:|";
  }
  s += "\n" + sep + "\n";
  for (auto& r : rep["comparison"]["rows"]) {
    const bool overall = r["scenario"] == "overall";
    std::string b = overall ? "**" : "";
    s += "| " + b + r["title"].get<std::string>() + b + " |";
    for (size_t c = 0; c < cfgs.size(); ++c)
      s += " " + fmt("%.1f", r["tokens_per_s"][c]) + " | " + fmt("%.1f", r["wall_s"][c]) + " |";
    for (size_t c = 1; c < cfgs.size(); ++c) s += " " + fmt("%.2f", r["speedup"][c]) + "x |";
    s += "\n";
  }
  // Per-language detail, for each config.
  for (auto& c : cfgs) {
    s += "\n" + c["label"].get<std::string>() + " (" + c["url"].get<std::string>() + ", model " +
         c["model"].get<std::string>() + ") by language:\n\n| scenario | language | requests | failed | output tokens | time (s) | tok/s | TTFT mean (ms) |\n|---|---|---:|---:|---:|---:|---:|---:|\n";
    for (auto& sc : c["scenarios"])
      for (auto& [lang, st] : sc["languages"].items())
        s += "| " + sc["title"].get<std::string>() + " | " + lang + " | " + std::to_string(st["requests"].get<long>()) +
             " | " + std::to_string(st["failed"].get<long>()) + " | " + std::to_string(st["completion_tokens"].get<long>()) +
             " | " + fmt("%.2f", st["wall_s"]) + " | " + fmt("%.1f", st["tokens_per_s"]) + " | " +
             fmt("%.1f", st["ttft_ms_mean"]) + " |\n";
  }
  return s;
}

std::string scenario_text(const nlohmann::json& rep) {
  const auto& cfgs = rep["configs"];
  std::string s;
  char b[256];
  std::snprintf(b, sizeof b, "%-26s", "scenario");
  s += b;
  for (auto& c : cfgs) {
    std::snprintf(b, sizeof b, " %14s tok/s %8s", c["label"].get<std::string>().substr(0, 14).c_str(), "time");
    s += b;
  }
  if (cfgs.size() > 1) s += "   speed-up";
  s += "\n";
  for (auto& r : rep["comparison"]["rows"]) {
    std::snprintf(b, sizeof b, "%-26s", r["title"].get<std::string>().c_str());
    s += b;
    for (size_t c = 0; c < cfgs.size(); ++c) {
      std::snprintf(b, sizeof b, " %20.1f %7.1fs", r["tokens_per_s"][c].get<double>(), r["wall_s"][c].get<double>());
      s += b;
    }
    for (size_t c = 1; c < cfgs.size(); ++c) s += "   " + fmt("%.2fx", r["speedup"][c]);
    s += "\n";
  }
  return s;
}

BarLineChart scenario_chart(const nlohmann::json& rep) {
  const auto& cfgs = rep["configs"];
  BarLineChart ch;
  ch.title = "Output tokens/s by scenario";
  ch.subtitle = "model " + cfgs[0]["model"].get<std::string>() + ", up to " + std::to_string(cfgs[0].value("max_tokens", 0)) +
                " tokens per answer, English + Chinese prompts";
  ch.bar_axis_label = "output tokens/s";
  ch.bar_value_format = "%.1f";
  for (auto& c : cfgs) ch.bars.push_back({c["label"], {}});
  for (size_t c = 1; c < cfgs.size(); ++c)
    ch.lines.push_back({"speed-up " + cfgs[c]["label"].get<std::string>() + " vs " + cfgs[0]["label"].get<std::string>(), {}});
  ch.line_axis_label = "speed-up (x)";
  ch.line_value_format = "%.2fx";
  ch.line_reference = 1;
  for (auto& r : rep["comparison"]["rows"]) {
    ch.categories.push_back(r["title"]);
    for (size_t c = 0; c < cfgs.size(); ++c) ch.bars[c].values.push_back(r["tokens_per_s"][c]);
    for (size_t c = 1; c < cfgs.size(); ++c) ch.lines[c - 1].values.push_back(r["speedup"][c]);
  }
  return ch;
}

}  // namespace gptoss::bench
