#include "runtime/scheduler.h"

#include <algorithm>

namespace gptoss {

Scheduler::Scheduler(KvBlockManager& blocks, const SchedulerConfig& cfg) : blocks_(blocks), cfg_(cfg) {}

void Scheduler::add(Sequence* seq) {
  seq->state = SeqState::Waiting;
  waiting_.push_back(seq);
}

void Scheduler::remove(Sequence* seq) {
  blocks_.release(seq->blocks);
  std::erase(running_, seq);
  std::erase(waiting_, seq);
}

void Scheduler::preempt(Sequence* seq) {
  blocks_.release(seq->blocks);
  seq->num_computed = 0;
  seq->state = SeqState::Waiting;
  seq->preemptions++;
  preemptions_++;
  std::erase(running_, seq);
  waiting_.push_front(seq);
}

bool Scheduler::reader_behind(const Sequence* seq, int in_flight) const {
  return cfg_.max_unread_tokens > 0 && seq->pause_for_reader && seq->stream &&
         seq->stream->unread_tokens() + in_flight >= cfg_.max_unread_tokens;
}

StepPlan Scheduler::schedule() {
  StepPlan plan;
  int budget = cfg_.max_num_batched_tokens;
  // Logits rows left in this step: n tokens of a sequence take n rows when
  // its prompt's log-probabilities are asked for (fewer tokens then, if
  // need be), else one. 0 tokens: the sequence sits this step out.
  int rows_left = cfg_.max_logit_rows > 0 ? cfg_.max_logit_rows : 1 << 30;
  auto fit_rows = [&](const Sequence* seq, int n) {
    if (rows_left <= 0) return 0;
    return seq->wants_prompt_rows() ? std::min(n, rows_left) : n;
  };
  auto take_rows = [&](const Sequence* seq, int n) { rows_left -= seq->wants_prompt_rows() ? n : 1; };
  // Running sequences first: decoding ones (one token each) before prompt
  // chunks, so a long prompt never stalls the others; oldest first within each.
  std::vector<Sequence*> order;
  for (Sequence* s : running_) if (s->pending() == 1) order.push_back(s);
  for (Sequence* s : running_) if (s->pending() != 1) order.push_back(s);
  for (Sequence* seq : order) {
    if (budget <= 0) break;
    if (seq->state != SeqState::Running) continue;  // preempted earlier in this loop
    if (reader_behind(seq)) continue;  // keeps its blocks, unless others need them (below)
    const int n = fit_rows(seq, std::min({seq->pending(), budget, cfg_.max_step_tokens}));
    if (n <= 0) continue;
    bool self_preempted = false;
    while (!blocks_.prepare_step(seq->blocks, seq->num_computed, n)) {
      // The newest sequence that has no place in this step yet makes room;
      // a paused one first (its reader is not taking tokens anyway).
      Sequence* victim = nullptr;
      for (bool paused_only : {true, false})
        for (auto it = running_.rbegin(); it != running_.rend() && !victim; ++it) {
          bool scheduled = std::any_of(plan.items.begin(), plan.items.end(), [&](auto& x) { return x.seq == *it; });
          if (!scheduled && (!paused_only || reader_behind(*it))) victim = *it;
        }
      plan.preempted.push_back(victim);
      preempt(victim);
      if (victim == seq) {
        self_preempted = true;
        break;
      }
    }
    if (self_preempted) continue;
    plan.items.push_back({seq, n, seq->num_computed + n == int(seq->tokens.size())});
    take_rows(seq, n);
    budget -= n;
  }
  // Then waiting ones, in order, while there is room (not after a preemption:
  // memory is short, and the preempted must go first).
  // A preempted sequence whose reader is behind stays queued without holding
  // up the others: recomputing it now would only make tokens nobody reads.
  for (size_t i = 0; plan.preempted.empty() && i < waiting_.size() && budget > 0 &&
                     int(running_.size()) < cfg_.max_num_seqs;) {
    Sequence* seq = waiting_[i];
    if (reader_behind(seq)) {
      ++i;
      continue;
    }
    // A prompt whose log-probabilities are asked for is computed whole: a
    // cached prefix would have none.
    if (seq->num_computed == 0 && seq->blocks.empty() && seq->prompt_logprobs < 0) {
      seq->num_computed = blocks_.match_prefix(seq->tokens, seq->blocks);
      if (seq->preemptions == 0) seq->cached_prompt_tokens = seq->num_computed;
    }
    const int n = fit_rows(seq, std::min({seq->pending(), budget, cfg_.max_step_tokens}));
    if (n <= 0) break;
    if (!blocks_.prepare_step(seq->blocks, seq->num_computed, n)) {
      blocks_.release(seq->blocks);
      seq->num_computed = 0;
      break;
    }
    waiting_.erase(waiting_.begin() + ptrdiff_t(i));
    seq->state = SeqState::Running;
    running_.push_back(seq);
    plan.items.push_back({seq, n, seq->num_computed + n == int(seq->tokens.size())});
    take_rows(seq, n);
    budget -= n;
  }
  return plan;
}

StepPlan Scheduler::plan_ahead(const std::vector<ScheduledSeq>& current, const std::vector<bool>& goes_on) {
  if (!waiting_.empty() || current.size() != running_.size() || goes_on.size() != current.size()) return {};
  for (const ScheduledSeq& it : current)
    if (!it.sample || it.seq->state != SeqState::Running || reader_behind(it.seq, 1)) return {};
  StepPlan plan;
  for (size_t i = 0; i < current.size(); ++i) {
    if (!goes_on[i]) continue;
    const ScheduledSeq& it = current[i];
    // Blocks prepared here stay with the sequence: its next step needs them anyway.
    if (!blocks_.prepare_step(it.seq->blocks, it.seq->num_computed + it.n_tokens, 1)) return {};
    plan.items.push_back({it.seq, 1, true});
  }
  return plan;
}

int Scheduler::held_back() const {
  auto behind = [&](const Sequence* s) { return reader_behind(s); };
  return int(std::count_if(running_.begin(), running_.end(), behind) +
             std::count_if(waiting_.begin(), waiting_.end(), behind));
}

}  // namespace gptoss
