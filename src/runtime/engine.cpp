#include "runtime/engine.h"

#include <algorithm>

#include "core/log.h"
#include "core/mem_size.h"
#include "core/thread_pool.h"
#include "runtime/kv_sizing.h"

namespace gptoss {

namespace {
double seconds_between(std::chrono::steady_clock::time_point a, std::chrono::steady_clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}
}  // namespace

Engine::Engine(ModelRunner& runner, const EngineOptions& o) : runner_(runner), opt_(o) {
  if (opt_.max_num_seqs < 0) throw Error("--max-num-seqs must be at least 1 (0: chosen from the KV cache)");
  if (opt_.max_num_batched_tokens < 1) throw Error("--max-num-batched-tokens must be at least 1");
  if (opt_.max_model_len < 2) throw Error("the context length must be at least 2 tokens");
  // A step carries every running sequence and at most the runner's tokens:
  // larger settings would fail steps at run time, so they are lowered here.
  const int seq_cap = std::min(runner.max_step_seqs(), runner.max_logit_rows());
  const bool auto_seqs = opt_.max_num_seqs == 0;
  if (auto_seqs) opt_.max_num_seqs = std::min(EngineOptions::kAutoMaxNumSeqs, seq_cap);
  if (opt_.max_num_seqs > seq_cap) {
    log_warn("--max-num-seqs " + std::to_string(opt_.max_num_seqs) + " is more than a step of " + runner.device_name() +
             " holds: using " + std::to_string(seq_cap));
    opt_.max_num_seqs = seq_cap;
  }
  if (opt_.max_num_batched_tokens > runner.max_step_tokens()) {
    log_warn("--max-num-batched-tokens " + std::to_string(opt_.max_num_batched_tokens) + " is more than the " +
             std::to_string(runner.max_step_tokens()) + " tokens a step was sized for: using " +
             std::to_string(runner.max_step_tokens()));
    opt_.max_num_batched_tokens = runner.max_step_tokens();
  }
  const int step_tokens = std::min(runner.max_step_tokens(), opt_.max_num_batched_tokens);
  KvSizingInput in;
  in.block_size = opt_.block_size;
  in.max_num_seqs = opt_.max_num_seqs;
  in.max_num_batched_tokens = opt_.max_num_batched_tokens;
  in.max_step_tokens = step_tokens;
  in.budget_bytes = opt_.kv_cache_bytes;
  const auto devices = runner.device_memory();
  if (in.budget_bytes == 0 && opt_.gpu_memory_utilization > 0 && !devices.empty()) {
    if (opt_.gpu_memory_utilization > 1.0) throw Error("--gpu-memory-utilization must be in (0, 1]");
    // What is left under the cap once weights and activations (already
    // allocated) and every other process's memory are counted.
    const auto& d = devices.front();
    const double cap = opt_.gpu_memory_utilization * double(d.total);
    if (cap <= double(d.used))
      throw Error("--gpu-memory-utilization " + std::to_string(opt_.gpu_memory_utilization).substr(0, 4) + " allows " +
                  format_mem_size(uint64_t(cap)) + " but " + format_mem_size(d.used) + " of " +
                  format_mem_size(d.total) + " is already in use (weights, activations, other processes): raise it, "
                  "or give --kv-cache-size");
    in.budget_bytes = uint64_t(cap - double(d.used));
  }
  if (auto_seqs) {
    if (in.budget_bytes == 0) {
      opt_.max_num_seqs = std::min(opt_.max_num_seqs, EngineOptions::kDefaultMaxNumSeqs);
    } else {
      // Halve until the window rings take at most a quarter of the budget.
      const uint64_t wb = runner.window_block_bytes(opt_.block_size);
      auto window_bytes = [&](int n) {
        KvSizingInput t = in;
        t.max_num_seqs = n;
        return uint64_t(window_pool_blocks(runner.config(), t)) * wb;
      };
      while (opt_.max_num_seqs > 1 && window_bytes(opt_.max_num_seqs) > in.budget_bytes / 4) opt_.max_num_seqs /= 2;
    }
    in.max_num_seqs = opt_.max_num_seqs;
    log_info("--max-num-seqs " + std::to_string(opt_.max_num_seqs) +
             (in.budget_bytes ? " (chosen from the KV cache budget of " + format_mem_size(in.budget_bytes) + ")"
                              : " (no GPU memory budget)"));
  }
  if (in.budget_bytes == 0) {
    const uint64_t full = uint64_t(runner.full_block_bytes(opt_.block_size)) *
                          uint64_t((opt_.max_model_len + opt_.block_size - 1) / opt_.block_size) *
                          uint64_t(opt_.max_num_seqs);
    KvSizingInput probe = in;
    probe.budget_bytes = ~uint64_t(0) >> 2;
    const KvCacheConfig w = plan_kv_cache(runner, probe);
    in.budget_bytes = std::min<uint64_t>(full, 1ull << 30) +
                      uint64_t(w.num_window_blocks) * runner.window_block_bytes(opt_.block_size);
  }
  kv_ = plan_kv_cache(runner, in);
  if (opt_.fit_max_model_len) {
    const int64_t pool = int64_t(kv_.num_full_blocks) * kv_.block_size;
    if (pool < opt_.max_model_len) opt_.max_model_len = int(std::max<int64_t>(2, pool));
    log_info("context " + std::to_string(opt_.max_model_len) + " tokens (the model's, or what the KV cache holds)");
  }
  runner_.allocate_kv(kv_);
  blocks_ = std::make_unique<KvBlockManager>(kv_, runner.config().sliding_window, step_tokens, opt_.prefix_caching);
  scheduler_ = std::make_unique<Scheduler>(
      *blocks_, SchedulerConfig{opt_.max_num_seqs, opt_.max_num_batched_tokens, step_tokens, opt_.max_unread_tokens,
                                runner.max_logit_rows()});
  log_info("KV cache: " + describe_kv_cache(runner, kv_));
  stats_.kv = blocks_->usage();
  thread_ = std::thread([this] { loop(); });
}

Engine::~Engine() { stop(); }

std::shared_ptr<RequestStream> Engine::submit(GenerateRequest r) {
  const int V = runner_.config().vocab_size;
  const int plen = int(r.prompt.size());
  auto reject = [&](const std::string& why) {
    metrics_.requests_rejected++;
    throw RequestError(why);
  };
  if (plen == 0) reject("the prompt is empty");
  for (int32_t t : r.prompt)
    if (t < 0 || t >= V) reject("token id " + std::to_string(t) + " is outside the vocabulary (0.." + std::to_string(V - 1) + ")");
  for (const auto& [t, bias] : r.sampling.logit_bias)
    if (t < 0 || t >= V)
      reject("logit_bias names token id " + std::to_string(t) + ", outside the vocabulary (0.." + std::to_string(V - 1) + ")");
  // 0 only to score a prompt: nothing is generated.
  if (r.max_tokens < (r.prompt_logprobs >= 0 ? 0 : 1)) reject("max_tokens must be at least 1");
  if (r.prompt_logprobs > 20) reject("prompt_logprobs takes at most 20 alternatives");
  if (plen >= opt_.max_model_len)
    reject("the prompt has " + std::to_string(plen) + " tokens but the context length is " +
           std::to_string(opt_.max_model_len) + " (shorten the prompt, or start the server with a larger --ctx-size)");
  if (plen + r.max_tokens > opt_.max_model_len)
    reject("max_tokens " + std::to_string(r.max_tokens) + " plus the prompt's " + std::to_string(plen) +
           " tokens exceed the context length " + std::to_string(opt_.max_model_len) + " (ask for at most " +
           std::to_string(opt_.max_model_len - plen) + ")");
  if (!blocks_->fits(plen + r.max_tokens))
    reject("the KV cache holds " + std::to_string(kv_.num_full_blocks * kv_.block_size) + " tokens, fewer than the " +
           std::to_string(plen + r.max_tokens) + " this request may need (lower max_tokens, or raise --kv-cache-size)");
  auto stream = std::make_shared<RequestStream>();
  {
    std::lock_guard lock(mu_);
    if (stopping_) throw RequestError("the server is shutting down");
    // Accepted and not finished, less those running as of the last step: a
    // count that never depends on where between the threads a request is.
    const int queued = std::max(0, in_flight_ - stats_.running);
    if (opt_.max_queued_requests > 0 && queued >= opt_.max_queued_requests) {
      metrics_.requests_rejected++;
      throw EngineBusy(std::to_string(queued) + " requests are already waiting (--max-queued-requests " +
                       std::to_string(opt_.max_queued_requests) + "): retry later");
    }
    incoming_.push_back(std::make_unique<Sequence>(next_id_++, std::move(r), stream));
    in_flight_++;
  }
  metrics_.requests_submitted++;
  cv_.notify_one();
  return stream;
}

bool Engine::drain(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mu_);
  return idle_cv_.wait_for(lock, timeout, [&] { return in_flight_ == 0; });
}

void Engine::stop() {
  {
    std::lock_guard lock(mu_);
    if (stopping_ && !thread_.joinable()) return;
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

EngineStats Engine::stats() const {
  std::lock_guard lock(mu_);
  return stats_;
}

void Engine::loop() {
  for (;;) {
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [&] { return stopping_ || !incoming_.empty() || !live_.empty() || !submitted_.empty(); });
      for (auto& s : incoming_) {
        scheduler_->add(s.get());
        live_.emplace(s->id, std::move(s));
      }
      // Still counted as queued until the step's stats say otherwise, so the
      // queue limit has no gap to slip through.
      stats_.waiting += int(incoming_.size());
      incoming_.clear();
      if (stopping_) break;
    }
    try {
      step();
    } catch (const std::exception& e) {  // never let one bad step take the server down
      log_error(std::string("engine step failed: ") + e.what());
      drop_submitted();
      std::vector<Sequence*> all;
      for (auto& [id, s] : live_) all.push_back(s.get());
      for (Sequence* s : all) finish(s, FinishReason::Error, e.what());
    }
    std::lock_guard lock(mu_);
    stats_.running = int(scheduler_->running().size());
    stats_.waiting = int(scheduler_->waiting().size());
    stats_.held_back = scheduler_->held_back();
    stats_.kv = blocks_->usage();
  }
  drop_submitted();
  std::vector<Sequence*> all;
  for (auto& [id, s] : live_) all.push_back(s.get());
  for (Sequence* s : all) finish(s, FinishReason::Cancelled, "the server is shutting down");
}

void Engine::step() {
  std::vector<Sequence*> cancelled;
  for (auto& [id, s] : live_)
    if (s->stream->cancelled()) cancelled.push_back(s.get());
  for (Sequence* s : cancelled) finish(s, FinishReason::Cancelled);
  if (live_.empty() && submitted_.empty()) return;

  if (submitted_.empty()) {
    StepPlan plan = scheduler_->schedule();
    metrics_.preemptions += int64_t(plan.preempted.size());
    for (Sequence* s : plan.preempted)
      log_debug("preempted request " + std::to_string(s->id) + " (KV cache full); it will be recomputed");
    // Nothing to run: memory is being freed by others, or every sequence is
    // paused until its reader catches up (which tells nobody: poll).
    if (plan.empty()) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
      return;
    }
    submit_step(plan.items, false);
  }
  look_ahead();
  collect_step();
}

// Queues the step after the one in flight when its plan cannot depend on
// that step's tokens (Scheduler::plan_ahead): each sequence's next token is
// the one being chosen now, fed on the device, so the GPU goes from step to
// step without waiting for the host. A sequence that stops on the token in
// flight (a stop token) has computed one step too many, which is dropped.
// A constrained sequence's step goes with the mask of the step in flight (a
// guess, made only inside free text or a long string, where the next mask
// is the same one); collect_step() checks it and redoes the step when it
// was wrong.
void Engine::look_ahead() {
  if (!opt_.lookahead || submitted_.size() != 1) return;
  {
    std::lock_guard lock(mu_);
    if (!incoming_.empty() || stopping_) return;
  }
  const SubmittedStep& cur = submitted_.front();
  std::vector<ScheduledSeq> current;
  std::vector<bool> goes_on;
  for (size_t i = 0; i < cur.items.size(); ++i) {
    if (!live_.count(cur.ids[i])) continue;
    Sequence& s = *cur.items[i].seq;
    if (cur.host_sampled[i] || !s.sampler.runner_decides() || s.stream->cancelled() || s.discard_steps > 0) return;
    // A constrained sequence only where its mask is likely to stay the same.
    if (s.constrained() && cur.items[i].sample && (!cur.masks[i] || !s.constraint->steady())) return;
    current.push_back(cur.items[i]);
    // Ends by length with the token in flight: no next token.
    goes_on.push_back(s.num_output() + 1 < s.max_tokens && int(s.tokens.size()) + 1 < opt_.max_model_len);
  }
  StepPlan plan = scheduler_->plan_ahead(current, goes_on);
  if (!plan.empty()) submit_step(plan.items, true);
}

void Engine::submit_step(const std::vector<ScheduledSeq>& items, bool fed) {
  // Masks of the constrained sequences that sample this step: built on the
  // thread pool, or for a fed step the in-flight step's (see look_ahead).
  std::vector<std::shared_ptr<const constrain::TokenMask>> masks(items.size());
  std::vector<size_t> build;
  for (size_t k = 0; k < items.size(); ++k) {
    const ScheduledSeq& it = items[k];
    if (!it.sample || !it.seq->constrained()) continue;
    if (!fed) {
      build.push_back(k);
      continue;
    }
    const SubmittedStep& prev = submitted_.front();
    const size_t item = size_t(std::find(prev.ids.begin(), prev.ids.end(), it.seq->id) - prev.ids.begin());
    masks[k] = prev.masks[item];
  }
  if (!build.empty())
    ThreadPool::global().parallel_for(build.size(), [&](size_t b, size_t e) {
      for (size_t j = b; j < e; ++j) masks[build[j]] = items[build[j]].seq->constraint->next_mask();
    });
  ForwardBatch batch;
  SubmittedStep st;
  st.fed = fed;
  if (fed) metrics_.lookahead_steps++;
  int rows = 0;
  for (const ScheduledSeq& it : items) {
    Sequence& s = *it.seq;
    BatchSeq b;
    b.kv = s.blocks.kv();
    b.n_tokens = it.n_tokens;
    if (fed) {
      // One token after the in-flight step's: its last row there.
      const SubmittedStep& prev = submitted_.front();
      const size_t item = size_t(std::find(prev.ids.begin(), prev.ids.end(), s.id) - prev.ids.begin());
      b.pos0 = s.num_computed + prev.items[item].n_tokens;
      batch.tokens.push_back(0);
      batch.feed.push_back(int32_t(prev.last_row[item]));
      b.choice = s.sampler.device_choice(1);
    } else {
      batch.tokens.insert(batch.tokens.end(), s.tokens.begin() + s.num_computed,
                          s.tokens.begin() + s.num_computed + it.n_tokens);
      b.pos0 = s.num_computed;
      b.choice = s.sampler.device_choice();
      b.all_logits = s.wants_prompt_rows();
      // The token is chosen from the last row, with the counter it has alone.
      if (b.all_logits) b.choice.counter -= uint32_t(it.n_tokens - 1);
    }
    const bool host_sampled = it.sample && s.sampler.needs_logits();
    b.want_logits = host_sampled || b.all_logits;
    b.mask = masks[st.ids.size()] ? masks[st.ids.size()]->data() : nullptr;
    batch.seqs.push_back(b);
    st.ids.push_back(s.id);
    st.host_sampled.push_back(host_sampled);
    st.all_logits.push_back(b.all_logits);
    st.first_row.push_back(rows);
    rows += b.all_logits ? it.n_tokens : 1;
    st.last_row.push_back(rows - 1);
  }
  st.items = items;
  st.masks = std::move(masks);
  st.rows = batch.logits_rows();
  runner_.submit(batch);
  metrics_.steps++;
  metrics_.step_tokens += batch.total_tokens();
  submitted_.push_back(std::move(st));
}

void Engine::collect_step() {
  SubmittedStep st = std::move(submitted_.front());
  submitted_.pop_front();
  const int V = runner_.config().vocab_size;
  logits_.resize(size_t(st.rows) * size_t(V));
  chosen_.resize(size_t(st.rows));
  runner_.collect(logits_.data(), chosen_.data());

  // Sequences cancelled (or failed) since the step was queued are skipped.
  std::vector<size_t> live;
  for (size_t i = 0; i < st.items.size(); ++i)
    if (live_.count(st.ids[i]) && !redo_row(st, i)) live.push_back(i);
  // Sampling over a 200K vocabulary takes about a millisecond per sequence:
  // done for all sequences of the step at once, on the thread pool.
  sampled_.assign(st.items.size(), SampledToken{});
  std::vector<size_t> full;
  for (size_t i : live) {
    const ScheduledSeq& it = st.items[i];
    if (st.all_logits[i]) take_prompt_logprobs(st, i);
    if (!it.sample) continue;
    if (st.host_sampled[i]) full.push_back(i);
    else sampled_[i] = it.seq->sampler.from_runner(chosen_[size_t(st.last_row[i])]);
  }
  if (!full.empty())
    ThreadPool::global().parallel_for(full.size(), [&](size_t b, size_t e) {
      for (size_t j = b; j < e; ++j) {
        const size_t i = full[j];
        sampled_[i] = st.items[i].seq->sampler.sample(&logits_[size_t(st.last_row[i]) * size_t(V)], V,
                                                      st.masks[i] ? st.masks[i]->data() : nullptr);
      }
    });

  const auto now = Sequence::Clock::now();
  for (size_t i : live) {
    const ScheduledSeq& it = st.items[i];
    const uint64_t id = st.ids[i];
    Sequence& s = *it.seq;
    if (!s.prompt_counted) {
      s.prompt_counted = true;
      metrics_.prompt_tokens += s.prompt_len;
      metrics_.cached_prompt_tokens += s.cached_prompt_tokens;
    }
    s.num_computed += it.n_tokens;
    blocks_->commit(s.blocks, s.tokens, s.num_computed);
    if (s.prompt_logprobs >= 0 && !s.prompt_lp_sent && s.num_computed >= s.prompt_len) {
      StreamEvent e;
      e.kind = StreamEvent::Kind::PromptLogprobs;
      e.prompt = std::move(s.prompt_lp);
      s.prompt_lp_sent = true;
      s.stream->push(std::move(e));
    }
    if (!it.sample) continue;
    if (s.max_tokens == 0) {  // a prompt scored, nothing to generate
      finish(&s, FinishReason::Length);
      continue;
    }
    // What goes wrong with one sequence here (its sampler, its stream) ends
    // that sequence alone; the rest of the batch carries on.
    try {
      if (s.debug_fail_after_tokens >= 0 && s.num_output() >= s.debug_fail_after_tokens)
        throw std::runtime_error("injected fault after " + std::to_string(s.num_output()) + " tokens (gptoss_debug.fail_after_tokens)");
      emit(s, std::move(sampled_[i]), now);
    } catch (const std::exception& e) {
      log_error("request " + std::to_string(id) + " failed: " + e.what());
      if (live_.count(id)) finish(&s, FinishReason::Error, e.what());  // unless it already finished
    }
  }
}

// Row j of item i holds the distribution after position pos0 + j: the
// log-probability of the prompt's next token there, and the top
// alternatives. A position already taken (a prompt recomputed after a
// preemption) is not taken again.
void Engine::take_prompt_logprobs(const SubmittedStep& st, size_t i) {
  Sequence& s = *st.items[i].seq;
  if (s.prompt_lp_sent) return;
  const int V = runner_.config().vocab_size, k = s.prompt_logprobs;
  const int pos0 = s.num_computed, n = st.last_row[i] - st.first_row[i] + 1;
  const int from = int(s.prompt_lp.size()) - pos0, to = std::min(n, s.prompt_len - 1 - pos0);
  if (from < 0 || from >= to) return;
  std::vector<SampledToken> got(size_t(to - from));
  ThreadPool::global().parallel_for(got.size(), [&](size_t b, size_t e) {
    for (size_t q = b; q < e; ++q) {
      const int j = from + int(q);
      const float* row = &logits_[size_t(st.first_row[i] + j) * size_t(V)];
      const float lse = log_sum_exp(row, V);
      SampledToken& t = got[q];
      t.token = s.tokens[size_t(pos0 + j + 1)];
      t.logprob = row[t.token] - lse;
      if (k > 0) t.top = top_logprobs(row, V, lse, k);
    }
  });
  for (auto& t : got) s.prompt_lp.push_back(std::move(t));
}

// Whether row i of a collected step is dropped: it was queued after a wrong
// mask guess, or is that guess. A token chosen with the mask of the step
// before, where this state has another, is not taken: the next step computes
// the position again and chooses with the right mask (and the same noise,
// so the tokens are those of a run without lookahead); a step already
// queued after it is dropped too.
bool Engine::redo_row(const SubmittedStep& st, size_t i) {
  Sequence& s = *st.items[i].seq;
  if (s.discard_steps > 0) {
    s.discard_steps--;
    return true;
  }
  if (!st.fed || !st.items[i].sample || !st.masks[i] || !s.constrained() || s.constraint->next_mask() == st.masks[i])
    return false;
  for (const SubmittedStep& later : submitted_)
    s.discard_steps += int(std::count(later.ids.begin(), later.ids.end(), s.id));
  metrics_.lookahead_redone++;
  return true;
}

// After a failed step: whatever the runner still holds is collected and dropped.
void Engine::drop_submitted() {
  submitted_.clear();
  std::vector<float> logits;
  std::vector<int32_t> tokens;
  while (runner_.in_flight() > 0) {
    logits.resize(size_t(runner_.max_logit_rows()) * size_t(runner_.config().vocab_size));
    tokens.resize(size_t(runner_.max_logit_rows()));
    try {
      runner_.collect(logits.data(), tokens.data());
    } catch (const std::exception& e) {
      log_error(std::string("dropping a failed step: ") + e.what());
    }
  }
}

void Engine::emit(Sequence& s, SampledToken tok, Sequence::Clock::time_point now) {
  s.sampler.observe(tok.token);
  if (s.constraint) s.constraint->advance(tok.token);
  s.tokens.push_back(tok.token);
  metrics_.generation_tokens++;
  if (!s.has_output_time) metrics_.ttft_seconds.observe(seconds_between(s.arrival, now));
  else metrics_.inter_token_seconds.observe(seconds_between(s.last_token, now));
  s.has_output_time = true;
  s.last_token = now;
  StreamEvent e;
  e.token = tok;
  s.stream->push(std::move(e));
  if (s.is_stop_token(tok.token)) finish(&s, FinishReason::Stop);
  else if (s.num_output() >= s.max_tokens || int(s.tokens.size()) >= opt_.max_model_len) finish(&s, FinishReason::Length);
}

void Engine::finish(Sequence* s, FinishReason reason, const std::string& error) {
  scheduler_->remove(s);
  s->state = SeqState::Finished;
  s->finish = reason;
  switch (reason) {
    case FinishReason::Stop: metrics_.finished_stop++; break;
    case FinishReason::Length: metrics_.finished_length++; break;
    case FinishReason::Cancelled: metrics_.finished_cancelled++; break;
    default: metrics_.finished_error++; break;
  }
  metrics_.e2e_seconds.observe(seconds_between(s->arrival, Sequence::Clock::now()));
  StreamEvent e;
  e.kind = StreamEvent::Kind::Finished;
  e.reason = reason;
  e.error = error;
  e.prompt_tokens = s->prompt_len;
  e.cached_tokens = s->cached_prompt_tokens;
  e.completion_tokens = s->num_output();
  s->stream->push(std::move(e));
  live_.erase(s->id);  // destroys s
  std::lock_guard lock(mu_);
  stats_.running = int(scheduler_->running().size());
  stats_.waiting = int(scheduler_->waiting().size());
  stats_.held_back = scheduler_->held_back();
  stats_.kv = blocks_->usage();
  if (--in_flight_ == 0) idle_cv_.notify_all();
}

}  // namespace gptoss
