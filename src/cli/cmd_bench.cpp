// gptoss bench: in-process throughput like llama-bench (pp N, tg N) and
// llama-batched-bench (decode with B sequences at once), with the
// speed-of-light estimate: weight and KV bytes a decode step must read,
// against the device's memory bandwidth.
#include <algorithm>
#include <climits>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <numeric>
#include <sstream>

#include "cli/commands.h"
#include "cli/model_loading.h"
#include "core/error.h"
#include "core/mem_size.h"
#ifdef GPTOSS_WITH_CUDA
#include "model/cuda_runner.h"
#endif

namespace gptoss::cli {

namespace {

struct BenchFlags {
  ModelFlags model;
  std::vector<int> pp = {512, 2048};
  std::vector<int> tg = {128};
  std::vector<int> batch = {1, 4, 16, 64};
  int batch_prompt = 512, batch_gen = 128;
  int repeat = 3;
  int max_step = 2048;
  bool pipelined = true;
  std::string json_out, md_out;
};

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

struct Stat {
  double mean = 0, sd = 0;
};
Stat stats(const std::vector<double>& v) {
  Stat s;
  for (double x : v) s.mean += x;
  s.mean /= double(v.size());
  for (double x : v) s.sd += (x - s.mean) * (x - s.mean);
  s.sd = v.size() > 1 ? std::sqrt(s.sd / double(v.size() - 1)) : 0;
  return s;
}

// Bytes one decode step must read for `batch` sequences at context `ctx`:
// all dense weights (the unembedding as the runner reads it), the experts
// the batch touches (expected distinct experts under uniform routing), and
// the KV cache.
double decode_bytes(const ModelRunner& r, int batch, double ctx) {
  const ModelConfig& c = r.config();
  const double H = c.hidden_size, I = c.intermediate_size, E = c.num_experts, K = c.experts_per_token;
  const double Q = c.q_dim(), KV = c.kv_dim();
  const double dense = 2 * ((Q + 2 * KV) * H + Q + 2 * KV + H * Q + H + E * H + E + 2 * H + c.num_heads);
  const double expert = 2 * I * H / 2 + 2 * I * H / 32 + 2 * 2 * I + H * I / 2 + H * I / 32 + 2 * H;
  const double touched = E * (1 - std::pow(1 - K / E, batch));
  double kv = 0;
  for (int l = 0; l < c.num_layers; ++l)
    kv += batch * (c.is_sliding(l) ? std::min(ctx, double(c.sliding_window)) : ctx) * KV * 2 * 2;
  return c.num_layers * (dense + touched * expert) + kv + r.unembedding_bytes(batch) + 2 * H + batch * 2 * H;
}

// Sequences with contiguous block ids, for benchmarks.
struct BenchKv {
  std::vector<std::vector<int32_t>> full, window;
  BenchKv(ModelRunner& r, int seqs, int ctx) {
    const int bs = 16, nf = (ctx + bs - 1) / bs;
    const int nw = window_ring_blocks(r.config().sliding_window, r.max_step_tokens(), bs);
    r.allocate_kv({bs, seqs * nf, seqs * nw});
    for (int s = 0; s < seqs; ++s) {
      full.emplace_back(size_t(nf));
      window.emplace_back(size_t(nw));
      std::iota(full.back().begin(), full.back().end(), s * nf);
      std::iota(window.back().begin(), window.back().end(), s * nw);
    }
  }
  SeqKv seq(int s) const { return SeqKv{full[size_t(s)], window[size_t(s)]}; }
};

std::vector<int32_t> prompt_tokens(int n, int vocab, int salt) {
  std::vector<int32_t> t(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) t[size_t(i)] = int32_t((uint64_t(i) * 2654435761u + uint64_t(salt) * 97u) % uint64_t(std::min(vocab, 199998)));
  return t;
}

// Prefills `seqs` sequences of n tokens each, in steps of at most max_step
// tokens, as the server chunks a long prompt. Returns the seconds spent on
// the steps that start at position `late_from` or later.
double prefill(ModelRunner& r, const BenchKv& kv, int seqs, int n, int late_from = INT_MAX) {
  const int V = r.config().vocab_size, step = r.max_step_tokens();
  std::vector<float> logits;
  double late = 0;
  for (int s = 0; s < seqs; ++s) {
    auto toks = prompt_tokens(n, V, s);
    for (int p = 0; p < n; p += step) {
      ForwardBatch b;
      const int m = std::min(step, n - p);
      b.tokens.assign(toks.begin() + p, toks.begin() + p + m);
      b.seqs.push_back({kv.seq(s), p, m, false, false, {}});
      logits.resize(size_t(V));
      int32_t next = 0;
      const auto t0 = Clock::now();
      r.forward_sample(b, logits.data(), &next);  // returns once the step's token is on the host
      if (p >= late_from) late += seconds_since(t0);
    }
  }
  return late;
}

// Times `steps` greedy decode steps of `seqs` sequences starting at position
// pos0, the runner choosing each token (its arg-max), as the server does for
// greedy requests. Pipelined (as the server's lookahead): step i + 1 is
// queued, its tokens fed from step i's on the device, before step i's tokens
// are read; else one step at a time.
double decode(ModelRunner& r, const BenchKv& kv, int seqs, int pos0, int steps, bool pipelined) {
  const int V = r.config().vocab_size;
  std::vector<float> logits(size_t(seqs) * V);
  std::vector<int32_t> next(static_cast<size_t>(seqs));
  ForwardBatch b;
  for (int s = 0; s < seqs; ++s) {
    b.tokens.push_back((s * 31 + 7) % V);
    b.seqs.push_back({kv.seq(s), pos0, 1, false, false, {}});
  }
  r.submit(b);  // warm-up (and graph capture); what the first fed step feeds from
  r.collect(logits.data(), next.data());
  auto t0 = Clock::now();
  if (pipelined) {
    for (int s = 0; s < seqs; ++s) b.feed.push_back(s);
    for (int i = 1; i <= steps; ++i) {
      for (int s = 0; s < seqs; ++s) b.seqs[size_t(s)].pos0 = pos0 + i;
      r.submit(b);
      if (i > 1) r.collect(logits.data(), next.data());
    }
    r.collect(logits.data(), next.data());
    return seconds_since(t0);
  }
  for (int i = 1; i <= steps; ++i) {
    for (int s = 0; s < seqs; ++s) {
      b.seqs[size_t(s)].pos0 = pos0 + i;
      b.tokens[size_t(s)] = next[size_t(s)];
    }
    r.forward_sample(b, logits.data(), next.data());
  }
  return seconds_since(t0);
}

}  // namespace

void add_bench_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("bench", "measure prefill and decode throughput (like llama-bench / batched-bench)");
  auto f = std::make_shared<BenchFlags>();
  f->model.add_to(*cmd, true);
  f->model.ctx_size = 0;
  cmd->add_option("-p,--pp", f->pp, "prompt lengths to time (prefill)")->delimiter(',')->capture_default_str();
  cmd->add_option("-g,--tg", f->tg, "generation lengths to time (batch 1 decode)")->delimiter(',')->capture_default_str();
  cmd->add_option("-b,--batch", f->batch, "concurrent sequences for batched decode")->delimiter(',')->capture_default_str();
  cmd->add_option("--batch-prompt", f->batch_prompt, "prompt tokens per sequence in batched decode")->capture_default_str();
  cmd->add_option("--batch-gen", f->batch_gen, "generated tokens per sequence in batched decode")->capture_default_str();
  cmd->add_option("-r,--repeat", f->repeat, "repetitions of each measurement")->capture_default_str();
  cmd->add_option("--max-step-tokens", f->max_step, "largest prefill step")->capture_default_str();
  cmd->add_flag("--pipeline,!--no-pipeline", f->pipelined,
                "queue each decode step before the previous one's tokens are read, fed on the device (as the server does)")
      ->capture_default_str();
  cmd->add_option("--json,--json-out", f->json_out, "write results as JSON to this file");
  cmd->add_option("--markdown,--md-out", f->md_out, "write results as a markdown table to this file");
#ifdef GPTOSS_BENCH_CLIENT
  add_bench_serve_command(*cmd);
  add_bench_scenarios_command(*cmd);
  add_bench_lengths_command(*cmd);
#endif
  cmd->callback([f, cmd] {
    if (!cmd->get_subcommands().empty()) return;  // `bench serve` etc. ran instead
    ModelSource src = load_model(f->model);
    RunnerOptions o;
    o.device = resolve_device(f->model.device);
    auto runner = load_runner(f->model, src, f->max_step);
    {
      const auto mem = runner->device_memory();  // per GPU: tensor parallelism should balance these
      for (size_t i = 0; i < mem.size(); ++i)
        std::fprintf(stderr, "GPU %zu memory in use after loading: %s of %s\n", i, format_mem_size(mem[i].used).c_str(),
                     format_mem_size(mem[i].total).c_str());
    }
    double peak = 0, copy_bw = 0;
#ifdef GPTOSS_WITH_CUDA
    if (const int dev = cuda_device_index(o.device); dev >= 0) {
      peak = datasheet_bandwidth(dev);
      copy_bw = measure_copy_bandwidth(dev);
    }
#endif
    nlohmann::json results = nlohmann::json::array();
    std::ostringstream md;
    md << "| model | device | test | t/s | ± | % of bandwidth |\n|---|---|---|---:|---:|---:|\n";
    auto report = [&](const std::string& test, const std::vector<double>& tps, double bytes_per_s) {
      Stat s = stats(tps);
      double pct = peak > 0 && bytes_per_s > 0 ? 100.0 * bytes_per_s / peak : 0;
      char line[256];
      std::snprintf(line, sizeof line, "%-14s %10.1f t/s ± %6.1f", test.c_str(), s.mean, s.sd);
      std::string extra;
      if (bytes_per_s > 0) {
        char b[160];
        std::snprintf(b, sizeof b, "   %.0f GB/s read", bytes_per_s / 1e9);
        extra = b;
        if (peak > 0) {
          std::snprintf(b, sizeof b, " = %.0f%% of %.2f TB/s peak", pct, peak / 1e12);
          extra += b;
        }
      }
      std::printf("%s%s\n", line, extra.c_str());
      std::fflush(stdout);
      results.push_back({{"test", test}, {"tokens_per_s", s.mean}, {"stddev", s.sd}, {"runs", tps},
                         {"bytes_per_s", bytes_per_s}, {"pct_of_peak_bandwidth", pct}});
      char row[256];
      std::snprintf(row, sizeof row, "| %s | %s | %s | %.1f | %.1f | %s |\n", src.name.c_str(),
                    runner->device_name().c_str(), test.c_str(), s.mean, s.sd,
                    pct > 0 ? (std::to_string(int(std::lround(pct))) + "%").c_str() : "");
      md << row;
    };
    std::printf("model %s on %s", src.name.c_str(), runner->device_name().c_str());
    if (peak > 0) std::printf(", datasheet bandwidth %.2f TB/s", peak / 1e12);
    if (copy_bw > 0) std::printf(", measured copy %.2f TB/s", copy_bw / 1e12);
    std::printf("\n");

    for (int n : f->pp) {
      if (n < 1) continue;
      // Prompts longer than a step run in steps of --max-step-tokens, as the
      // server chunks them; their second half is also reported on its own
      // (the rate deep into a long context, where attention dominates).
      const int step = runner->max_step_tokens(), late_from = n > step ? (n / 2 / step) * step : INT_MAX;
      if (n > step) std::fprintf(stderr, "pp%d: %d steps of up to %d tokens\n", n, (n + step - 1) / step, step);
      BenchKv kv(*runner, 1, n + 1);
      std::vector<double> tps, late_tps;
      for (int r = 0; r <= f->repeat; ++r) {
        auto t0 = Clock::now();
        const double late = prefill(*runner, kv, 1, n, late_from);
        double s = seconds_since(t0);
        if (r > 0) tps.push_back(n / s);  // the first run warms up
        if (r > 0 && late > 0) late_tps.push_back((n - late_from) / late);
      }
      report("pp" + std::to_string(n), tps, 0);
      if (!late_tps.empty()) report("pp" + std::to_string(n) + " @" + std::to_string(late_from) + "+", late_tps, 0);
    }
    for (int n : f->tg) {
      if (n < 1) continue;  // -g 0: no single-sequence decode
      BenchKv kv(*runner, 1, std::max(n + 2, f->model.ctx_size));  // --ctx-size: KV capacity to reserve
      std::vector<double> tps;
      double bytes = 0;
      for (int r = 0; r < f->repeat; ++r) {
        double s = decode(*runner, kv, 1, 0, n, f->pipelined);
        tps.push_back(n / s);
        bytes = decode_bytes(*runner, 1, n / 2.0) * n / s;
      }
      report("tg" + std::to_string(n), tps, bytes);
    }
    for (int b : f->batch) {
      if (b < 1 || f->batch_gen < 1) continue;  // -b 0 or --batch-gen 0: no batched decode
      BenchKv kv(*runner, b, f->batch_prompt + f->batch_gen + 2);
      std::fprintf(stderr, "batched decode: prefilling %d x %d tokens...\n", b, f->batch_prompt);
      prefill(*runner, kv, b, f->batch_prompt);
      std::vector<double> tps;
      double bytes = 0;
      for (int r = 0; r < f->repeat; ++r) {
        double s = decode(*runner, kv, b, f->batch_prompt, f->batch_gen, f->pipelined);
        tps.push_back(double(b) * f->batch_gen / s);
        bytes = decode_bytes(*runner, b, f->batch_prompt + f->batch_gen / 2.0) * f->batch_gen / s;
      }
      report("decode b" + std::to_string(b) + " (" + std::to_string(f->batch_prompt) + "+" + std::to_string(f->batch_gen) + ")",
             tps, bytes);
    }
    std::printf("decode step reads %s at batch 1 (weights + KV)\n", format_mem_size(uint64_t(decode_bytes(*runner, 1, 64))).c_str());
    if (!f->json_out.empty()) {
      nlohmann::json j = {{"model", src.name}, {"device", runner->device_name()}, {"peak_bandwidth", peak},
                          {"copy_bandwidth", copy_bw}, {"results", results}};
      std::ofstream(f->json_out) << j.dump(2) << "\n";
    }
    if (!f->md_out.empty()) std::ofstream(f->md_out) << md.str();
  });
}

}  // namespace gptoss::cli
