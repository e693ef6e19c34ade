// Continuous batching decisions: admission, chunked prefill, decode priority,
// preemption by recompute. The model is not run: steps are simulated.
#include <gtest/gtest.h>

#include <memory>
#include <numeric>

#include "runtime/scheduler.h"

using namespace gptoss;

namespace {

struct Harness {
  KvBlockManager blocks;
  Scheduler sched;
  std::vector<std::unique_ptr<Sequence>> seqs;

  Harness(KvCacheConfig kv, SchedulerConfig sc, int window = 8)
      : blocks(kv, window, sc.max_step_tokens), sched(blocks, sc) {}

  Sequence* add(int prompt_len, int first_token = 1) {
    GenerateRequest r;
    r.prompt.resize(size_t(prompt_len));
    std::iota(r.prompt.begin(), r.prompt.end(), first_token);
    seqs.push_back(std::make_unique<Sequence>(seqs.size() + 1, r, std::make_shared<RequestStream>()));
    sched.add(seqs.back().get());
    return seqs.back().get();
  }
  // Runs the plan as the engine would, sampling token 7.
  StepPlan step() {
    StepPlan p = sched.schedule();
    for (auto& it : p.items) {
      it.seq->num_computed += it.n_tokens;
      blocks.commit(it.seq->blocks, it.seq->tokens, it.seq->num_computed);
      if (it.sample) it.seq->tokens.push_back(7);
    }
    return p;
  }
};

}  // namespace

TEST(Scheduler, AdmitsUpToMaxNumSeqs) {
  Harness h({4, 256, 64}, {2, 64, 64});
  for (int i = 0; i < 5; ++i) h.add(5, 100 * i);
  StepPlan p = h.step();
  EXPECT_EQ(p.items.size(), 2u);
  EXPECT_EQ(h.sched.running().size(), 2u);
  EXPECT_EQ(h.sched.waiting().size(), 3u);
  h.sched.remove(h.seqs[0].get());
  p = h.step();
  EXPECT_EQ(h.sched.running().size(), 2u);  // the third joined
  EXPECT_EQ(p.items.size(), 2u);
}

TEST(Scheduler, ChunkedPrefillRespectsTokenBudget) {
  Harness h({4, 256, 64}, {8, 4, 4});
  Sequence* s = h.add(10);
  StepPlan p = h.step();
  ASSERT_EQ(p.items.size(), 1u);
  EXPECT_EQ(p.items[0].n_tokens, 4);
  EXPECT_FALSE(p.items[0].sample);
  p = h.step();
  EXPECT_EQ(p.items[0].n_tokens, 4);
  p = h.step();
  EXPECT_EQ(p.items[0].n_tokens, 2);
  EXPECT_TRUE(p.items[0].sample);
  EXPECT_EQ(s->num_output(), 1);
  p = h.step();  // decode
  EXPECT_EQ(p.items[0].n_tokens, 1);
  EXPECT_TRUE(p.items[0].sample);
}

TEST(Scheduler, DecodesGoBeforePromptChunks) {
  Harness h({4, 256, 64}, {8, 4, 4});
  Sequence* a = h.add(3);
  h.step();  // a prefilled, sampled
  Sequence* b = h.add(20, 50);
  h.step();  // b admitted with 3 tokens next to a's decode
  StepPlan p = h.step();
  ASSERT_EQ(p.items.size(), 2u);
  EXPECT_EQ(p.items[0].seq, a);
  EXPECT_EQ(p.items[0].n_tokens, 1);
  EXPECT_EQ(p.items[1].seq, b);
  EXPECT_EQ(p.items[1].n_tokens, 3);
}

TEST(Scheduler, PreemptsNewestWhenKvRunsOut) {
  // 6 full blocks of 4 tokens; two sequences of 8-token prompts use 4; decoding
  // grows them until one must give way.
  Harness h({4, 6, 64}, {8, 64, 64});
  Sequence* a = h.add(8, 1);
  Sequence* b = h.add(8, 100);
  h.step();
  EXPECT_EQ(h.sched.running().size(), 2u);
  bool preempted = false;
  for (int i = 0; i < 12 && !preempted; ++i) {
    StepPlan p = h.step();
    if (!p.preempted.empty()) {
      preempted = true;
      EXPECT_EQ(p.preempted[0], b);
      EXPECT_EQ(b->state, SeqState::Waiting);
      EXPECT_EQ(b->num_computed, 0);
      EXPECT_TRUE(b->blocks.full.empty());
      EXPECT_EQ(h.sched.waiting().front(), b);
    }
  }
  ASSERT_TRUE(preempted);
  // a keeps going; once it finishes, b comes back and recomputes its tokens
  // (prompt and what it had sampled), reusing cached blocks.
  int b_tokens = int(b->tokens.size());
  h.sched.remove(a);
  StepPlan p = h.step();
  ASSERT_EQ(p.items.size(), 1u);
  EXPECT_EQ(p.items[0].seq, b);
  EXPECT_EQ(b->num_computed + (p.items[0].sample ? 0 : 0), b_tokens);
  EXPECT_TRUE(p.items[0].sample);
}

TEST(Scheduler, WaitsWhenNothingFits) {
  Harness h({4, 3, 64}, {8, 64, 64});
  h.add(10, 1);  // 3 blocks: all of them
  h.add(10, 100);
  StepPlan p = h.step();
  EXPECT_EQ(p.items.size(), 1u);
  EXPECT_EQ(h.sched.waiting().size(), 1u);
  EXPECT_TRUE(h.sched.waiting().front()->blocks.empty());
}

// Backpressure: a sequence whose reader has max_unread_tokens unread sits
// steps out (keeping its blocks) while the others go on, resumes once read,
// and is the one preempted when blocks run short; preempted, it stays queued
// without holding up a new request behind it.
TEST(Scheduler, PausesASequenceWhoseReaderIsBehind) {
  SchedulerConfig sc{8, 64, 64};
  sc.max_unread_tokens = 2;
  Harness h({4, 256, 64}, sc);
  Sequence* a = h.add(3, 1);
  Sequence* b = h.add(3, 100);
  h.step();
  StreamEvent tok;
  a->stream->push(tok);
  a->stream->push(tok);  // a's reader has 2 tokens unread: a pauses
  StepPlan p = h.step();
  ASSERT_EQ(p.items.size(), 1u);
  EXPECT_EQ(p.items[0].seq, b);
  EXPECT_EQ(h.sched.held_back(), 1);
  EXPECT_EQ(h.sched.running().size(), 2u);
  EXPECT_FALSE(a->blocks.full.empty());
  ASSERT_TRUE(a->stream->next(std::chrono::milliseconds(0)));
  EXPECT_EQ(a->stream->unread_tokens(), 1);
  p = h.step();  // read one: a decodes again
  EXPECT_EQ(p.items.size(), 2u);
  EXPECT_EQ(h.sched.held_back(), 0);
  // A reply built whole opts out: its unread tokens are expected.
  GenerateRequest whole;
  whole.prompt = {5, 6, 7};
  whole.pause_for_reader = false;
  Sequence w(99, whole, std::make_shared<RequestStream>());
  w.stream->push(tok);
  w.stream->push(tok);
  h.sched.add(&w);
  p = h.step();
  EXPECT_EQ(p.items.size(), 3u);
  h.sched.remove(&w);
}

TEST(Scheduler, APausedSequenceIsPreemptedFirstAndDoesNotBlockTheQueue) {
  // 6 blocks of 4 tokens; a (older, paused) and b hold 2 each; b grows.
  SchedulerConfig sc{2, 64, 64};
  sc.max_unread_tokens = 1;
  Harness h({4, 6, 64}, sc);
  Sequence* a = h.add(8, 1);
  Sequence* b = h.add(8, 100);
  h.step();
  a->stream->push(StreamEvent{});
  bool preempted = false;
  for (int i = 0; i < 12 && !preempted; ++i) {
    StepPlan p = h.step();
    for (auto& it : p.items) EXPECT_NE(it.seq, a);
    if (!p.preempted.empty()) {
      preempted = true;
      EXPECT_EQ(p.preempted[0], a);  // the paused one, though b is newer
    }
  }
  ASSERT_TRUE(preempted);
  EXPECT_EQ(h.sched.waiting().front(), a);
  // A new request queues behind a; a is still behind, so c goes first.
  h.sched.remove(b);
  Sequence* c = h.add(4, 200);
  StepPlan p = h.step();
  ASSERT_EQ(p.items.size(), 1u);
  EXPECT_EQ(p.items[0].seq, c);
  EXPECT_EQ(h.sched.waiting().front(), a);
  EXPECT_EQ(h.sched.held_back(), 1);
  // Read: a comes back and recomputes.
  ASSERT_TRUE(a->stream->next(std::chrono::milliseconds(0)));
  p = h.step();
  ASSERT_EQ(p.items.size(), 2u);
  EXPECT_EQ(p.items[1].seq, a);
}
