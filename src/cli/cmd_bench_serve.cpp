// gptoss bench serve: a load generator for any OpenAI-compatible server, in
// the spirit of vLLM's benchmark_serving: fixed concurrency or Poisson
// arrivals, synthetic prompts of chosen lengths or a JSONL dataset, and TTFT,
// TPOT, inter-token latency and throughput from the streamed answers.
#include <cstdio>
#include <memory>

#include "bench/load_generator.h"
#include "bench/serve_metrics.h"
#include "bench/workload.h"
#include "cli/bench_targets.h"
#include "cli/commands.h"
#include "core/error.h"

namespace gptoss::cli {

namespace {

struct ServeBenchFlags {
  BenchTargetFlags target;
  int concurrency = 0;  // 0: 1 without --request-rate, 256 with it
  double request_rate = 0;
  size_t num_requests = 0;
  double duration_s = 0;
  bench::LengthSpec lengths;
  std::string dataset;
  uint64_t seed = 0;
  double temperature = -1;
  bool quiet = false;
  std::string json_out, md_out;
};

}  // namespace

void add_bench_serve_command(CLI::App& bench_cmd) {
  auto* cmd = bench_cmd.add_subcommand("serve", "load-test an OpenAI-compatible server (ours, llama-server, vLLM) over HTTP");
  auto f = std::make_shared<ServeBenchFlags>();
  f->target.add_to(*cmd, false);
  cmd->add_option("--concurrency", f->concurrency,
                  "clients sending requests back to back (with --request-rate: the most in flight; default 1, or 256 with a rate)");
  cmd->add_option("--request-rate", f->request_rate, "requests per second, Poisson arrivals (default: as fast as clients go)");
  cmd->add_option("--num-requests", f->num_requests, "requests to send (default 64, or the dataset's size)");
  cmd->add_option("--duration", f->duration_s, "seconds to keep sending (with --num-requests: whichever ends first)");
  cmd->add_option("--input-len", f->lengths.input_len, "prompt length in tokens (about: random words)")->capture_default_str();
  cmd->add_option("--output-len", f->lengths.output_len, "max_tokens per request")->capture_default_str();
  cmd->add_option("--range-ratio", f->lengths.range_ratio, "lengths drawn uniformly from len*(1-r)..len*(1+r)")
      ->check(CLI::Range(0.0, 1.0))
      ->capture_default_str();
  cmd->add_option("--dataset", f->dataset, "JSONL file of {\"prompt\": ..., \"max_tokens\": N} (instead of random prompts)");
  cmd->add_option("--seed", f->seed, "seed for prompts and arrivals")->capture_default_str();
  cmd->add_option("--temperature", f->temperature, "sampling temperature (default: the server's)");
  cmd->add_flag("--quiet", f->quiet, "no progress on stderr");
  cmd->add_option("--json-out", f->json_out, "write the results as JSON");
  cmd->add_option("--md-out", f->md_out, "write the results as markdown tables");
  cmd->callback([f] {
    auto targets = f->target.resolve();
    if (targets.size() != 1) throw Error("bench serve takes one --url (compare servers with bench scenarios or lengths)");
    const BenchTarget& t = targets[0];
    std::vector<bench::RequestSpec> dataset;
    if (!f->dataset.empty()) dataset = bench::load_dataset(f->dataset, f->lengths.output_len);
    bench::LoadOptions o;
    o.concurrency = f->concurrency > 0 ? f->concurrency : f->request_rate > 0 ? 256 : 1;
    o.request_rate = f->request_rate;
    o.duration_s = f->duration_s;
    o.num_requests = f->num_requests ? f->num_requests : f->duration_s > 0 ? 0 : dataset.empty() ? 64 : dataset.size();
    o.seed = f->seed;
    o.temperature = f->temperature;
    o.progress = !f->quiet;
    char rate[64] = "";
    if (f->request_rate > 0) std::snprintf(rate, sizeof rate, ", %g req/s (Poisson)", f->request_rate);
    std::fprintf(stderr, "benchmarking %s%s (model %s): %s, concurrency %d%s\n", t.endpoint.host.c_str(),
                 t.endpoint.path.c_str(), t.endpoint.model.c_str(),
                 dataset.empty() ? ("random prompts ~" + std::to_string(f->lengths.input_len) + " tokens -> " +
                                    std::to_string(f->lengths.output_len) + " tokens")
                                       .c_str()
                                 : f->dataset.c_str(),
                 o.concurrency, rate);
    bench::LoadRun run = bench::run_load(t.endpoint, o, [&](size_t i) {
      return dataset.empty() ? bench::synthetic_request(i, f->lengths, f->seed) : dataset[i % dataset.size()];
    });
    nlohmann::json m = bench::serve_metrics(run);
    std::printf("%s", bench::serve_text(m).c_str());
    std::fflush(stdout);
    nlohmann::json options = {{"endpoint", f->target.endpoint}, {"concurrency", o.concurrency},
                              {"request_rate", f->request_rate}, {"num_requests", o.num_requests},
                              {"duration_s", f->duration_s},     {"input_len", f->lengths.input_len},
                              {"output_len", f->lengths.output_len}, {"range_ratio", f->lengths.range_ratio},
                              {"dataset", f->dataset},           {"seed", f->seed},
                              {"eos_extras", t.endpoint.eos_extras}};
    nlohmann::json j = {{"kind", "serve"}, {"url", t.url}, {"model", t.endpoint.model}, {"options", options}, {"metrics", m}};
    if (!f->json_out.empty()) write_text_file(f->json_out, j.dump(2) + "\n");
    if (!f->md_out.empty())
      write_text_file(f->md_out, "Serving benchmark: " + t.url + ", model " + t.endpoint.model + ", concurrency " +
                                     std::to_string(o.concurrency) + "\n\n" + bench::serve_markdown(m));
    if (m["completed"].get<long>() == 0) throw Error("every request failed: " + (m["errors"].empty() ? std::string("?") : m["errors"][0].get<std::string>()));
  });
}

}  // namespace gptoss::cli
