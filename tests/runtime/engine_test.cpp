// The engine on the tiny fixture model: a sequence gets the same greedy tokens
// alone and inside a batch of 16 (with chunked prefill, prefix reuse and
// preemption in play), cancellation frees its blocks, bad requests are refused.
#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <thread>

#include "core/thread_pool.h"
#include "format/model_source.h"
#include "model/cpu_runner.h"
#include "core/error.h"
#include "runtime/engine.h"
#include "runtime/kv_sizing.h"
#include "runtime/solo_session.h"
#include "pretend_gpu.h"

using namespace gptoss;
using namespace std::chrono_literals;

namespace {

ModelRunner& fixture_runner() {
  static ModelSource src = open_model(std::string(GPTOSS_FIXTURES_DIR) + "/tiny-gptoss");
  static CpuRunner runner(src, ThreadPool::global(), 256);
  return runner;
}

struct Result {
  std::vector<int32_t> tokens;
  StreamEvent done;
};

Result collect(RequestStream& s) {
  Result r;
  for (;;) {
    auto e = s.next(60s);
    if (!e) throw std::runtime_error("no event within 60 s");
    if (e->kind == StreamEvent::Kind::Finished) {
      r.done = *e;
      return r;
    }
    r.tokens.push_back(e->token.token);
  }
}

GenerateRequest greedy(std::vector<int32_t> prompt, int max_tokens) {
  GenerateRequest r;
  r.prompt = std::move(prompt);
  r.sampling.temperature = 0;
  r.max_tokens = max_tokens;
  return r;
}

// 16 prompts: half share a 150-token prefix (longer than the 128 window, so
// reuse needs the window blocks), lengths vary so chunks and decodes mix.
std::vector<std::vector<int32_t>> prompts() {
  std::mt19937 rng(7);
  std::uniform_int_distribution<int32_t> tok(0, 2000);
  std::vector<int32_t> shared(150);
  for (auto& t : shared) t = tok(rng);
  std::vector<std::vector<int32_t>> out;
  for (int i = 0; i < 16; ++i) {
    std::vector<int32_t> p = i % 2 ? shared : std::vector<int32_t>{};
    const int extra = 3 + 13 * i;
    for (int k = 0; k < extra; ++k) p.push_back(tok(rng));
    out.push_back(p);
  }
  return out;
}

std::vector<std::vector<int32_t>> run_alone(const std::vector<std::vector<int32_t>>& ps, int max_tokens) {
  std::vector<std::vector<int32_t>> out;
  for (auto& p : ps) {
    EngineOptions o;
    o.max_num_seqs = 1;
    o.prefix_caching = false;  // a fresh cache every time
    Engine e(fixture_runner(), o);
    out.push_back(collect(*e.submit(greedy(p, max_tokens))).tokens);
  }
  return out;
}

std::vector<std::vector<int32_t>> run_batched(Engine& e, const std::vector<std::vector<int32_t>>& ps, int max_tokens) {
  std::vector<std::shared_ptr<RequestStream>> streams;
  for (auto& p : ps) streams.push_back(e.submit(greedy(p, max_tokens)));
  std::vector<std::vector<int32_t>> out;
  for (auto& s : streams) {
    Result r = collect(*s);
    EXPECT_EQ(r.done.reason, FinishReason::Length);
    out.push_back(r.tokens);
  }
  return out;
}

}  // namespace

TEST(Engine, BatchedEqualsUnbatched) {
  const int max_tokens = 24;
  auto ps = prompts();
  auto alone = run_alone(ps, max_tokens);
  EngineOptions o;
  o.max_num_seqs = 16;
  o.max_num_batched_tokens = 96;  // prompts arrive in chunks next to decodes
  Engine e(fixture_runner(), o);
  auto batched = run_batched(e, ps, max_tokens);
  for (size_t i = 0; i < ps.size(); ++i) {
    EXPECT_EQ(alone[i].size(), size_t(max_tokens));
    EXPECT_EQ(batched[i], alone[i]) << "sequence " << i;
  }
  // The odd prompts share 150 tokens: later ones found them in the cache.
  EXPECT_GT(e.metrics().cached_prompt_tokens.load(), 0);
  // Again, now everything is cached: still the same tokens.
  auto again = run_batched(e, ps, max_tokens);
  for (size_t i = 0; i < ps.size(); ++i) EXPECT_EQ(again[i], alone[i]) << "sequence " << i;
  EXPECT_TRUE(e.drain(1s));
  EXPECT_EQ(e.stats().kv.full_used, 0);
  EXPECT_EQ(e.stats().kv.window_used, 0);
}

// Temperature sampling with a seed: the noise is keyed by (seed, token
// number), so a sequence draws the same tokens alone and in a batch. And the
// tokens are not simply the greedy ones.
TEST(Engine, SeededSamplingIsTheSameAloneAndBatched) {
  const int max_tokens = 16;
  auto ps = prompts();
  ps.resize(6);
  auto sampled = [&](size_t i) {
    GenerateRequest r = greedy(ps[i], max_tokens);
    r.sampling.temperature = 1.0f;
    r.sampling.seed = 1000 + i;
    return r;
  };
  std::vector<std::vector<int32_t>> alone;
  for (size_t i = 0; i < ps.size(); ++i) {
    EngineOptions o;
    o.max_num_seqs = 1;
    Engine e(fixture_runner(), o);
    alone.push_back(collect(*e.submit(sampled(i))).tokens);
  }
  auto greedy_tokens = run_alone(ps, max_tokens);
  EngineOptions o;
  o.max_num_seqs = 6;
  o.max_num_batched_tokens = 64;
  Engine e(fixture_runner(), o);
  std::vector<std::shared_ptr<RequestStream>> streams;
  for (size_t i = 0; i < ps.size(); ++i) streams.push_back(e.submit(sampled(i)));
  int differ = 0;
  for (size_t i = 0; i < ps.size(); ++i) {
    EXPECT_EQ(collect(*streams[i]).tokens, alone[i]) << "sequence " << i;
    differ += alone[i] != greedy_tokens[i];
  }
  EXPECT_GT(differ, 0);
}

// Counts the steps the engine queues while another is in flight (lookahead)
// and how many of their tokens are fed on the device.
class CountingRunner : public test::ForwardingRunner {
 public:
  using ForwardingRunner::ForwardingRunner;
  void submit(const ForwardBatch& b) override {
    ahead += r_.in_flight() > 0;
    fed += int(std::count_if(b.feed.begin(), b.feed.end(), [](int32_t f) { return f >= 0; }));
    r_.submit(b);
  }
  void collect(float* logits, int32_t* tokens) override { r_.collect(logits, tokens); }
  int in_flight() const override { return r_.in_flight(); }
  int ahead = 0, fed = 0;
};

TEST(Engine, LooksAheadWhenOnlyTheTokensInFlightAreUnknown) {
  auto ps = prompts();
  for (bool lookahead : {false, true}) {
    CountingRunner runner(fixture_runner());
    EngineOptions o;
    o.lookahead = lookahead;
    Engine e(runner, o);
    // Alone: each of the 19 decode steps is queued while the one before runs, its token fed.
    auto got = collect(*e.submit(greedy(ps[4], 20)));
    EXPECT_EQ(got.tokens, run_alone({ps[4]}, 20)[0]);
    EXPECT_EQ(runner.ahead, lookahead ? 19 : 0);
    EXPECT_EQ(runner.fed, runner.ahead);
    // A stop token on the 3rd token: the step queued after it is dropped.
    GenerateRequest r = greedy(ps[4], 20);
    r.stop_token_ids = {got.tokens[2]};
    Result stopped = collect(*e.submit(r));
    EXPECT_EQ(stopped.done.reason, FinishReason::Stop);
    EXPECT_EQ(stopped.tokens, std::vector<int32_t>(got.tokens.begin(), got.tokens.begin() + 3));
    // Log-probabilities need the host's logits: no lookahead.
    const int before = runner.ahead;
    GenerateRequest lp = greedy(ps[4], 8);
    lp.sampling.logprobs = true;
    EXPECT_EQ(collect(*e.submit(lp)).tokens, std::vector<int32_t>(got.tokens.begin(), got.tokens.begin() + 8));
    EXPECT_EQ(runner.ahead, before);
    EXPECT_TRUE(e.drain(1s));
    EXPECT_EQ(e.stats().kv.full_used, 0);
    EXPECT_EQ(runner.in_flight(), 0);
  }
}

// A runner whose steps hold fewer sequences and tokens than asked for (the
// CUDA runner: 256 sequences; the step size it was built with): the engine
// lowers its settings to what a step holds, so no step fails later, and
// every request of a batch larger than that still finishes exactly.
class SmallStepRunner : public test::ForwardingRunner {
 public:
  using ForwardingRunner::ForwardingRunner;
  int max_step_tokens() const override { return 64; }
  int max_step_seqs() const override { return 3; }
  void forward(const ForwardBatch& b, float* logits, const LayerTrace& t) override {
    if (b.seqs.size() > 3 || b.tokens.size() > 64) throw Error("step too large for this runner");
    r_.forward(b, logits, t);
  }
};

TEST(Engine, LowersSettingsToWhatAStepHolds) {
  SmallStepRunner runner(fixture_runner());
  EngineOptions o;
  o.max_num_seqs = 16;
  o.max_num_batched_tokens = 4096;
  o.lookahead = false;
  Engine e(runner, o);
  EXPECT_EQ(e.options().max_num_seqs, 3);
  EXPECT_EQ(e.options().max_num_batched_tokens, 64);
  auto ps = prompts();
  ps.resize(8);
  EXPECT_EQ(run_batched(e, ps, 6), run_alone(ps, 6));
}

TEST(Engine, PreemptionKeepsResultsExact) {
  const int max_tokens = 40;
  auto ps = prompts();
  ps.resize(8);
  auto alone = run_alone(ps, max_tokens);
  EngineOptions o;
  o.max_num_seqs = 8;
  o.max_num_batched_tokens = 64;
  // Room for about 2.5 of the longest sequences' full-attention blocks.
  const int longest = int(ps.back().size()) + max_tokens;
  KvCacheConfig probe;
  {
    Engine sizing(fixture_runner(), o);
    probe = sizing.kv_config();
  }
  ModelRunner& r = fixture_runner();
  o.kv_cache_bytes = uint64_t(probe.num_window_blocks) * r.window_block_bytes(16) +
                     uint64_t(longest * 5 / 2 / 16) * r.full_block_bytes(16);
  Engine e(r, o);
  auto batched = run_batched(e, ps, max_tokens);
  for (size_t i = 0; i < ps.size(); ++i) EXPECT_EQ(batched[i], alone[i]) << "sequence " << i;
  EXPECT_GT(e.metrics().preemptions.load(), 0);
}

TEST(Engine, CancelFreesBlocks) {
  Engine e(fixture_runner(), EngineOptions{});
  auto s = e.submit(greedy(std::vector<int32_t>(40, 5), 3000));
  auto first = s->next(60s);
  ASSERT_TRUE(first);
  s->cancel();
  Result r = collect(*s);
  EXPECT_EQ(r.done.reason, FinishReason::Cancelled);
  EXPECT_TRUE(e.drain(5s));
  EXPECT_EQ(e.stats().kv.full_used, 0);
}

TEST(Engine, StopTokenEndsTheSequence) {
  Engine e(fixture_runner(), EngineOptions{});
  auto p = prompts()[3];
  auto base = collect(*e.submit(greedy(p, 8))).tokens;
  ASSERT_EQ(base.size(), 8u);
  GenerateRequest r = greedy(p, 8);
  r.stop_token_ids = {base[2]};
  Result got = collect(*e.submit(r));
  EXPECT_EQ(got.done.reason, FinishReason::Stop);
  EXPECT_EQ(got.tokens.back(), base[2]);
  EXPECT_LE(got.tokens.size(), 3u);
  EXPECT_EQ(got.done.prompt_tokens, int(p.size()));
  EXPECT_EQ(got.done.completion_tokens, int(got.tokens.size()));
}

TEST(Engine, RefusesImpossibleRequests) {
  EngineOptions o;
  o.max_model_len = 64;
  Engine e(fixture_runner(), o);
  EXPECT_THROW(e.submit(greedy(std::vector<int32_t>(64, 1), 1)), RequestError);
  EXPECT_THROW(e.submit(greedy(std::vector<int32_t>(10, 1), 60)), RequestError);
  EXPECT_THROW(e.submit(greedy({}, 1)), RequestError);
  EXPECT_THROW(e.submit(greedy({1, 99999}, 1)), RequestError);
  GenerateRequest biased = greedy({1, 2}, 1);
  biased.sampling.logit_bias = {{99999, 1.0f}};
  EXPECT_THROW(e.submit(biased), RequestError);
  EXPECT_NO_THROW(collect(*e.submit(greedy(std::vector<int32_t>(10, 1), 54))));
}

// A logit_bias of +100 on one token makes every greedy token that one, on the
// engine's path (the bias needs the host's logits, also between pipelined steps).
TEST(Engine, LogitBiasForcesAToken) {
  Engine e(fixture_runner(), EngineOptions{});
  GenerateRequest r = greedy({1, 2, 3}, 6);
  r.sampling.logit_bias = {{77, 100.0f}};
  const Result got = collect(*e.submit(r));
  EXPECT_EQ(got.tokens, std::vector<int32_t>(6, 77));
}

// With one running slot and room for two waiting, a fourth request is told
// to come back later (EngineBusy), and is accepted again once the queue drains.
TEST(Engine, QueueLimitRefusesWithEngineBusy) {
  EngineOptions o;
  o.max_num_seqs = 1;
  o.max_queued_requests = 2;
  Engine e(fixture_runner(), o);
  auto running = e.submit(greedy(std::vector<int32_t>(20, 5), 3000));
  // Two tokens: the engine's counts are refreshed after the step that made
  // the first, so by the second they show this sequence running.
  ASSERT_TRUE(running->next(60s));
  ASSERT_TRUE(running->next(60s));
  auto w1 = e.submit(greedy(std::vector<int32_t>(20, 6), 4));
  auto w2 = e.submit(greedy(std::vector<int32_t>(20, 7), 4));
  EXPECT_THROW(e.submit(greedy(std::vector<int32_t>(20, 8), 4)), EngineBusy);
  running->cancel();
  collect(*running);
  EXPECT_EQ(collect(*w1).done.reason, FinishReason::Length);
  EXPECT_EQ(collect(*w2).done.reason, FinishReason::Length);
  ASSERT_TRUE(e.drain(5s));
  EXPECT_EQ(collect(*e.submit(greedy(std::vector<int32_t>(20, 8), 4))).done.reason, FinishReason::Length);
}

// A sequence that fails inside the engine ends alone with an error; the others
// in the same batch finish normally and every block comes back.
TEST(Engine, OneFailingSequenceDoesNotStopTheOthers) {
  Engine e(fixture_runner(), EngineOptions{});
  auto ps = prompts();
  std::vector<std::shared_ptr<RequestStream>> streams;
  for (int i = 0; i < 4; ++i) {
    GenerateRequest r = greedy(ps[i], 12);
    if (i == 1) r.debug_fail_after_tokens = 3;
    streams.push_back(e.submit(r));
  }
  for (int i = 0; i < 4; ++i) {
    Result r = collect(*streams[i]);
    if (i == 1) {
      EXPECT_EQ(r.done.reason, FinishReason::Error);
      EXPECT_NE(r.done.error.find("injected fault"), std::string::npos);
      EXPECT_EQ(r.tokens.size(), 3u);
    } else {
      EXPECT_EQ(r.done.reason, FinishReason::Length);
      EXPECT_EQ(r.tokens.size(), 12u);
    }
  }
  ASSERT_TRUE(e.drain(5s));
  EXPECT_EQ(e.stats().kv.full_used, 0);
  EXPECT_EQ(e.metrics().finished_error.load(), 1);
}


TEST(Engine, KvCacheSizedFromGpuMemoryUtilization) {
  const size_t MiB = 1 << 20;
  test::PretendGpu gpu(fixture_runner(), 60 * MiB, 100 * MiB);
  EngineOptions o;
  o.max_num_seqs = 4;
  o.gpu_memory_utilization = 0.9;  // 90 MiB allowed, 60 in use: 30 MiB of KV cache
  Engine engine(gpu, o);
  const KvCacheConfig& kv = engine.kv_config();
  const size_t bytes = size_t(kv.num_full_blocks) * gpu.full_block_bytes(kv.block_size) +
                       size_t(kv.num_window_blocks) * gpu.window_block_bytes(kv.block_size);
  EXPECT_LE(bytes, 30 * MiB);
  EXPECT_GT(bytes, 29 * MiB);
  engine.stop();
  o.gpu_memory_utilization = 0.5;  // less than is already in use: a clear refusal
  try {
    Engine too_small(gpu, o);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("already in use"), std::string::npos) << e.what();
  }
}

// --max-num-seqs 0: up to 256 where the KV cache holds their window rings in
// a quarter of it, fewer (halved) where it does not, 64 without a GPU budget.
TEST(Engine, ChoosesMaxNumSeqsFromTheKvCache) {
  const size_t MiB = 1 << 20;
  int chosen_big = 0;
  for (size_t kv_mib : {size_t(400), size_t(30), size_t(4)}) {
    test::PretendGpu gpu(fixture_runner(), 60 * MiB, (60 + kv_mib) * MiB * 10 / 9 + MiB / 2);
    EngineOptions o;
    o.max_num_seqs = 0;
    o.gpu_memory_utilization = 0.9;
    Engine engine(gpu, o);
    const int n = engine.options().max_num_seqs;
    const KvCacheConfig& kv = engine.kv_config();
    const uint64_t budget = uint64_t(kv.num_full_blocks) * gpu.full_block_bytes(kv.block_size) +
                            uint64_t(kv.num_window_blocks) * gpu.window_block_bytes(kv.block_size);
    auto window_bytes = [&](int seqs) {
      KvSizingInput in;
      in.max_num_seqs = seqs;
      in.max_num_batched_tokens = engine.options().max_num_batched_tokens;
      in.max_step_tokens = std::min(in.max_num_batched_tokens, gpu.max_step_tokens());
      return uint64_t(window_pool_blocks(gpu.config(), in)) * gpu.window_block_bytes(16);
    };
    EXPECT_LE(n, EngineOptions::kAutoMaxNumSeqs) << kv_mib << " MiB";
    // The largest of 256, 128, ... whose rings fit a quarter (or 1).
    if (n > 1) EXPECT_LE(window_bytes(n), budget / 4) << kv_mib << " MiB: " << n << " sequences";
    if (n < EngineOptions::kAutoMaxNumSeqs) EXPECT_GT(window_bytes(2 * n), budget / 4) << kv_mib << " MiB";
    if (kv_mib == 400) chosen_big = n;
    if (kv_mib == 4) EXPECT_LT(n, chosen_big);
    // The chosen batch runs.
    auto ps = prompts();
    ps.resize(4);
    EXPECT_EQ(run_batched(engine, ps, 4), run_alone(ps, 4));
  }
  EngineOptions cpu;
  cpu.max_num_seqs = 0;
  Engine e(fixture_runner(), cpu);
  EXPECT_EQ(e.options().max_num_seqs, EngineOptions::kDefaultMaxNumSeqs);
}

// fit_max_model_len (a GPU server without --ctx-size): the model's context
// where the full-attention pool holds it, else what the pool holds.
TEST(Engine, FitsTheContextToTheKvCache) {
  const size_t MiB = 1 << 20;
  for (size_t kv_mib : {size_t(400), size_t(6)}) {
    test::PretendGpu gpu(fixture_runner(), 60 * MiB, (60 + kv_mib) * MiB * 10 / 9 + MiB / 2);
    EngineOptions o;
    o.max_num_seqs = 4;
    o.gpu_memory_utilization = 0.9;
    o.max_model_len = 131072;
    o.fit_max_model_len = true;
    Engine engine(gpu, o);
    const int pool = engine.kv_config().num_full_blocks * engine.kv_config().block_size;
    EXPECT_EQ(engine.options().max_model_len, std::min(131072, pool)) << kv_mib << " MiB";
    if (kv_mib == 6) EXPECT_LT(engine.options().max_model_len, 131072);
    // A request up to that length is taken; one past it is refused.
    const int len = engine.options().max_model_len;
    EXPECT_THROW(engine.submit(greedy(std::vector<int32_t>(size_t(len), 7), 1)), Error);
    auto ok = collect(*engine.submit(greedy({1, 2, 3}, 2)));
    EXPECT_EQ(ok.tokens.size(), 2u);
  }
}

// Backpressure: a stream nobody reads stops at max_unread_tokens (the engine
// makes no more tokens for it, the others go on), then finishes with the same
// tokens once read. A request that opts out runs to the end unread.
TEST(Engine, PausesASequenceWhoseReaderIsBehind) {
  EngineOptions o;
  o.max_unread_tokens = 8;
  Engine e(fixture_runner(), o);
  auto p = prompts()[2];
  auto stuck = e.submit(greedy(p, 60));
  const auto deadline = std::chrono::steady_clock::now() + 60s;
  while (stuck->unread_tokens() < 8 && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(5ms);
  ASSERT_EQ(stuck->unread_tokens(), 8);
  // Others are served meanwhile.
  Result other = collect(*e.submit(greedy(prompts()[5], 20)));
  EXPECT_EQ(other.tokens.size(), 20u);
  std::this_thread::sleep_for(100ms);
  EXPECT_EQ(stuck->unread_tokens(), 8);
  EXPECT_EQ(e.metrics().generation_tokens.load(), 8 + 20);
  EXPECT_EQ(e.stats().held_back, 1);
  EXPECT_GT(e.stats().kv.full_used, 0);  // it keeps its blocks while paused
  Result r = collect(*stuck);
  EXPECT_EQ(r.done.reason, FinishReason::Length);
  EXPECT_EQ(r.tokens, run_alone({p}, 60)[0]);

  GenerateRequest whole = greedy(p, 30);
  whole.pause_for_reader = false;
  auto s = e.submit(whole);
  ASSERT_TRUE(e.drain(60s));
  EXPECT_EQ(collect(*s).tokens.size(), 30u);
}

// Prompt log-probabilities (what /v1/completions' echo + logprobs reports):
// for a prompt cut into chunks of 7 tokens, computed beside other sequences
// (one that shares its prefix, which must not serve it from the prefix
// cache), each entry is the log-softmax of one sequence's own logits at that
// position, computed alone on a runner of its own; the token after the prompt
// is the same as without them.
TEST(Engine, PromptLogprobsEqualTheSequencesOwnLogits) {
  static ModelSource src = open_model(std::string(GPTOSS_FIXTURES_DIR) + "/tiny-gptoss");
  CpuRunner alone(src, ThreadPool::global(), 256);
  std::mt19937 rng(11);
  std::uniform_int_distribution<int32_t> tok(0, 2000);
  std::vector<int32_t> prompt(40);
  for (auto& t : prompt) t = tok(rng);
  SoloSession solo(alone, 64);
  const std::vector<float> logits = solo.feed(prompt, /*all_logits=*/true);
  const int V = alone.config().vocab_size;

  EngineOptions o;
  o.max_num_batched_tokens = 7;
  Engine e(fixture_runner(), o);
  // A sequence with the same prompt first, so its blocks are in the prefix cache.
  Result warm = collect(*e.submit(greedy(prompt, 2)));
  GenerateRequest r = greedy(prompt, 2);
  r.prompt_logprobs = 3;
  auto other = e.submit(greedy(std::vector<int32_t>(prompt.begin(), prompt.begin() + 20), 8));
  auto s = e.submit(r);
  std::vector<SampledToken> lp;
  std::vector<int32_t> out;
  int prompt_events = 0;
  for (;;) {
    auto ev = s->next(60s);
    ASSERT_TRUE(ev) << "no event within 60 s";
    if (ev->kind == StreamEvent::Kind::Finished) break;
    if (ev->kind == StreamEvent::Kind::PromptLogprobs) {
      EXPECT_TRUE(out.empty()) << "the prompt's log-probabilities come before the first token";
      lp = ev->prompt;
      prompt_events++;
      continue;
    }
    out.push_back(ev->token.token);
  }
  collect(*other);
  EXPECT_EQ(prompt_events, 1);
  EXPECT_EQ(out, warm.tokens);
  ASSERT_EQ(lp.size(), prompt.size() - 1);
  for (size_t i = 0; i < lp.size(); ++i) {
    const float* row = &logits[i * size_t(V)];
    double sum = 0;
    const float mx = *std::max_element(row, row + V);
    for (int v = 0; v < V; ++v) sum += std::exp(double(row[v] - mx));
    const float lse = mx + float(std::log(sum));
    EXPECT_EQ(lp[i].token, prompt[i + 1]);
    EXPECT_NEAR(lp[i].logprob, row[prompt[i + 1]] - lse, 1e-3) << "position " << i;
    ASSERT_EQ(lp[i].top.size(), 3u);
    EXPECT_EQ(lp[i].top[0].token, int32_t(std::max_element(row, row + V) - row)) << "position " << i;
    EXPECT_NEAR(lp[i].top[0].logprob, mx - lse, 1e-3);
    EXPECT_GE(lp[i].top[0].logprob, lp[i].top[1].logprob);
  }
  // max_tokens 0: the prompt scored, nothing generated (allowed only with prompt_logprobs).
  r.max_tokens = 0;
  auto scored = e.submit(r);
  auto first = scored->next(60s);
  ASSERT_TRUE(first);
  ASSERT_EQ(first->kind, StreamEvent::Kind::PromptLogprobs);
  ASSERT_EQ(first->prompt.size(), lp.size());
  for (size_t i = 0; i < lp.size(); ++i) EXPECT_NEAR(first->prompt[i].logprob, lp[i].logprob, 1e-5);
  auto done = scored->next(60s);
  ASSERT_TRUE(done);
  EXPECT_EQ(done->kind, StreamEvent::Kind::Finished);
  EXPECT_EQ(done->reason, FinishReason::Length);
  EXPECT_EQ(done->completion_tokens, 0);
  EXPECT_THROW(e.submit(greedy(prompt, 0)), RequestError);
}

