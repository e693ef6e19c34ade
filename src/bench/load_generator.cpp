#include "bench/load_generator.h"

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <mutex>
#include <random>
#include <thread>

#include "core/error.h"

namespace gptoss::bench {

namespace {

using Clock = std::chrono::steady_clock;

struct Shared {
  std::mutex mu;
  size_t next = 0;
  double next_arrival_s = 0;
  std::mt19937_64 rng;
  std::vector<RequestRecord> done;
  std::atomic<int> running{0};
  std::atomic<size_t> errors{0};
  std::atomic<long> tokens{0};
};

void print_progress(const LoadOptions& o, Shared& s, double elapsed, bool final) {
  size_t n;
  {
    std::lock_guard lock(s.mu);
    n = s.done.size();
  }
  char total[48] = "";
  if (o.num_requests) std::snprintf(total, sizeof total, "/%zu", o.num_requests);
  std::fprintf(stderr, "%s%s%zu%s done, %d running, %zu errors, %.1f s, %.1f output tok/s%s",
               isatty(2) ? "\r\033[K" : "", o.label.empty() ? "" : (o.label + ": ").c_str(), n, total,
               s.running.load(), s.errors.load(), elapsed, elapsed > 0 ? double(s.tokens.load()) / elapsed : 0.0,
               isatty(2) && !final ? "" : "\n");
  std::fflush(stderr);
}

}  // namespace

LoadRun run_load(const Endpoint& endpoint, const LoadOptions& o, const std::function<RequestSpec(size_t)>& spec_for) {
  if (o.concurrency < 1) throw Error("--concurrency must be at least 1");
  if (o.num_requests == 0 && o.duration_s <= 0) throw Error("give --num-requests and/or --duration");
  Shared s;
  s.rng.seed(o.seed + 12345);
  const auto t0 = Clock::now();
  auto elapsed = [&] { return std::chrono::duration<double>(Clock::now() - t0).count(); };

  // A client takes the next ticket (request index and arrival time), waits for
  // the arrival, sends, and repeats; with a rate the tickets follow a Poisson
  // process, and a request arriving while every client is busy waits for one.
  auto client = [&] {
    StreamClient http(endpoint);
    for (;;) {
      size_t i;
      double arrival;
      RequestSpec spec;
      {
        std::lock_guard lock(s.mu);
        if (o.num_requests && s.next >= o.num_requests) return;
        if (o.duration_s > 0 && std::max(elapsed(), s.next_arrival_s) >= o.duration_s) return;
        i = s.next++;
        arrival = s.next_arrival_s;
        if (o.request_rate > 0) s.next_arrival_s += std::exponential_distribution<double>(o.request_rate)(s.rng);
        spec = spec_for(i);
      }
      std::this_thread::sleep_until(t0 + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(arrival)));
      RequestRecord rec;
      rec.index = i;
      rec.sent_s = elapsed();
      rec.approx_input_tokens = spec.approx_input_tokens;
      ++s.running;
      rec.result = http.send(spec, o.temperature);
      --s.running;
      if (!rec.result.ok) ++s.errors;
      s.tokens += rec.result.completion_tokens;
      std::lock_guard lock(s.mu);
      s.done.push_back(std::move(rec));
    }
  };

  std::atomic<bool> finished{false};
  std::thread progress;
  if (o.progress)
    progress = std::thread([&] {
      const auto period = std::chrono::milliseconds(isatty(2) ? 250 : 5000);
      auto next = Clock::now() + period;
      while (!finished) {
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
        if (Clock::now() >= next) {
          print_progress(o, s, elapsed(), false);
          next += period;
        }
      }
    });
  std::vector<std::thread> clients;
  for (int c = 0; c < o.concurrency; ++c) clients.emplace_back(client);
  for (auto& t : clients) t.join();
  finished = true;
  if (progress.joinable()) progress.join();
  LoadRun run;
  run.wall_s = elapsed();
  if (o.progress) print_progress(o, s, run.wall_s, true);
  run.records = std::move(s.done);
  return run;
}

}  // namespace gptoss::bench
