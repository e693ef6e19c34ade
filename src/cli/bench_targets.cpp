#include "cli/bench_targets.h"

#include <cstdio>
#include <fstream>

#include "core/error.h"

namespace gptoss::cli {

void BenchTargetFlags::add_to(CLI::App& cmd, bool several) {
  cmd.add_option("--url", urls,
                 several ? "server base URL(s), comma-separated to compare (e.g. http://127.0.0.1:8000)"
                         : "server base URL (e.g. http://127.0.0.1:8000 or .../v1)")
      ->delimiter(',');
  cmd.add_option("--model", models, "model name to put in requests (one, or one per --url)")->delimiter(',');
  if (several) cmd.add_option("--label", labels, "names for the servers in tables and charts (one per --url)")->delimiter(',');
  cmd.add_option("--api-key", api_key, "sent as a bearer token")->envname("OPENAI_API_KEY");
  cmd.add_option("--endpoint", endpoint, "chat (/v1/chat/completions) or completions (/v1/completions)")
      ->check(CLI::IsMember({"chat", "completions"}))
      ->capture_default_str();
  cmd.add_flag("--eos-extras,!--no-eos-extras", eos_extras,
               "send ignore_eos and min_tokens (vLLM/SGLang extensions; ours ignores unknown fields) so answers run to max_tokens")
      ->capture_default_str();
  cmd.add_option("--timeout", timeout_s, "seconds to wait for a response to make progress")->capture_default_str();
  cmd.add_option("--extra-body", extra_body, "JSON object merged into every request body (e.g. '{\"temperature\":0}')");
}

std::vector<BenchTarget> BenchTargetFlags::resolve() const {
  if (urls.empty()) throw Error("give --url (the server to benchmark, e.g. http://127.0.0.1:8000)");
  if (models.empty()) throw Error("give --model (the model name the server expects in requests)");
  auto pick = [&](const std::vector<std::string>& v, size_t i, const char* what) -> std::string {
    if (v.size() == 1) return v[0];
    if (v.size() != urls.size())
      throw Error(std::string("give one ") + what + " for all servers or one per --url (" + std::to_string(urls.size()) + ")");
    return v[i];
  };
  nlohmann::json extra = nlohmann::json::object();
  if (!extra_body.empty()) {
    extra = nlohmann::json::parse(extra_body, nullptr, false);
    if (extra.is_discarded() || !extra.is_object()) throw Error("--extra-body must be a JSON object");
  }
  std::vector<BenchTarget> out;
  for (size_t i = 0; i < urls.size(); ++i) {
    BenchTarget t;
    t.url = urls[i];
    t.endpoint = bench::make_endpoint(urls[i], pick(models, i, "--model"), endpoint == "chat");
    t.endpoint.api_key = api_key;
    t.endpoint.eos_extras = eos_extras;
    t.endpoint.timeout_s = timeout_s;
    t.endpoint.extra_body = extra;
    if (!labels.empty()) {
      t.label = pick(labels, i, "--label");
    } else {
      // host:port, made unique when two URLs share it
      t.label = t.endpoint.host.substr(t.endpoint.host.find("://") + 3);
      for (auto& o : out)
        if (o.label == t.label) t.label += "#" + std::to_string(i + 1);
    }
    out.push_back(std::move(t));
  }
  return out;
}

std::vector<nlohmann::json> load_configs(const std::vector<std::string>& files, const std::string& kind) {
  std::vector<nlohmann::json> configs;
  for (auto& f : files) {
    std::ifstream in(f);
    if (!in) throw Error("cannot open " + f);
    auto j = nlohmann::json::parse(in, nullptr, false);
    if (j.is_discarded() || !j.is_object() || !j.contains("kind") || j["kind"] != kind || !j.contains("configs"))
      throw Error(f + " is not the --json-out of a `gptoss bench " + kind + "` run");
    for (auto& c : j["configs"]) configs.push_back(c);
  }
  return configs;
}

void write_text_file(const std::string& path, const std::string& text) {
  std::ofstream out(path);
  out << text;
  if (!out) throw Error("cannot write " + path);
  std::fprintf(stderr, "wrote %s\n", path.c_str());
}

void write_chart_files(const bench::BarLineChart& chart, const std::string& path) {
  std::string png = bench::write_chart(chart, path);
  std::string svg = path.ends_with(".svg") || path.ends_with(".png") ? path.substr(0, path.size() - 4) + ".svg" : path + ".svg";
  std::fprintf(stderr, "wrote %s%s%s\n", svg.c_str(), png.empty() ? "" : " and ", png.c_str());
}

}  // namespace gptoss::cli
