#pragma once
// Continuous batching: each step, running sequences bring their next tokens
// (one when decoding, a chunk of the prompt when prefilling), then waiting
// sequences join while --max-num-seqs, the --max-num-batched-tokens budget
// and free KV blocks allow. When a running sequence cannot get a block, the
// most recently admitted one is preempted: its blocks are freed and it waits
// at the front of the queue to be recomputed (the prefix cache usually gives
// most of its blocks back). A sequence whose reader has not taken
// max_unread_tokens of its tokens yet sits steps out (backpressure, see
// SchedulerConfig). Nothing here runs the model.
#include <deque>
#include <vector>

#include "runtime/kv_block_manager.h"
#include "runtime/sequence.h"

namespace gptoss {

struct SchedulerConfig {
  int max_num_seqs = 64;
  int max_num_batched_tokens = 2048;  // new tokens per step, all sequences together
  int max_step_tokens = 2048;         // new tokens per step for one sequence
  // Backpressure for slow readers (an HTTP client that stops reading leaves
  // its handler blocked in a socket write while tokens pile up in its
  // RequestStream). Such a sequence is paused rather than cancelled: it keeps
  // its KV blocks and batch slot (and is the first to be preempted when
  // blocks run short), resumes as soon as the reader catches up, and the
  // others' steps go on without it. So memory per request stays at this many
  // events, a slow but live client still gets its whole answer, and a dead
  // one is cancelled when its write fails (the server's write timeout).
  // Cancelling instead would also cut off n > 1 streams, whose later choices
  // wait unread while earlier ones are sent. 0: no limit.
  int max_unread_tokens = 0;
  // Logits rows a step may return: one per item, or one per token of a
  // chunk whose prompt log-probabilities are asked for. 0: no limit.
  int max_logit_rows = 0;
};

struct ScheduledSeq {
  Sequence* seq;
  int n_tokens;  // tokens [seq->num_computed, + n_tokens) go into this step
  bool sample;   // the step reaches the end of the sequence: sample a token
};

struct StepPlan {
  std::vector<ScheduledSeq> items;
  std::vector<Sequence*> preempted;
  bool empty() const { return items.empty(); }
};

class Scheduler {
 public:
  Scheduler(KvBlockManager& blocks, const SchedulerConfig& cfg);

  void add(Sequence* seq);       // joins the back of the waiting queue
  StepPlan schedule();
  // The step after the one in flight, planned before its tokens are known
  // (Engine's lookahead): each of `current` (the in-flight step's items)
  // for which goes_on is true (the others end with the token in flight),
  // one token further, at position num_computed + n_tokens. Empty unless
  // that is what schedule() would plan once the step is done: nobody waits,
  // every running sequence is in `current` and samples, no reader is
  // behind, and every block comes without preempting anyone.
  StepPlan plan_ahead(const std::vector<ScheduledSeq>& current, const std::vector<bool>& goes_on);
  void remove(Sequence* seq);    // finished or cancelled: frees its blocks

  const std::deque<Sequence*>& waiting() const { return waiting_; }
  const std::vector<Sequence*>& running() const { return running_; }
  int64_t total_preemptions() const { return preemptions_; }
  // Sequences paused now because their reader is behind.
  int held_back() const;

 private:
  void preempt(Sequence* seq);
  // in_flight: tokens of the sequence's that a step in flight will add.
  bool reader_behind(const Sequence* seq, int in_flight = 0) const;

  KvBlockManager& blocks_;
  SchedulerConfig cfg_;
  std::deque<Sequence*> waiting_;
  std::vector<Sequence*> running_;  // in admission order
  int64_t preemptions_ = 0;
};

}  // namespace gptoss
