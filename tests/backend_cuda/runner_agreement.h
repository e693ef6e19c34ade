#pragma once
// Two runners fed the same prompt, then `steps` tokens teacher-forced from the
// first (so one early near-tie cannot derail the rest): how often their greedy
// tokens agree and how far their logits drift apart.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "model/model_runner.h"
#include "runtime/solo_session.h"

namespace gptoss::test {

struct RunnerAgreement {
  int same = 0, steps = 0;
  float max_abs_diff = 0, max_abs_logit = 0;
  std::vector<float> step_diff;  // max |logit difference| at each step (prompt's last row first)
};

inline RunnerAgreement compare_runners(ModelRunner& a, ModelRunner& b, int prompt_len, int steps, int context = 256) {
  const int V = a.config().vocab_size;
  std::vector<int32_t> prompt;
  for (int i = 0; i < prompt_len; ++i) prompt.push_back((i * 7919 + 13) % V);
  SoloSession sa(a, context), sb(b, context);
  auto la = sa.feed(prompt), lb = sb.feed(prompt);
  RunnerAgreement r;
  r.steps = steps;
  for (int step = 0; step < steps; ++step) {
    float d = 0;
    for (int v = 0; v < V; ++v) {
      d = std::max(d, std::fabs(la[size_t(v)] - lb[size_t(v)]));
      r.max_abs_logit = std::max(r.max_abs_logit, std::fabs(la[size_t(v)]));
    }
    r.step_diff.push_back(d);
    r.max_abs_diff = std::max(r.max_abs_diff, d);
    const int ta = argmax(la.data(), V);
    r.same += ta == argmax(lb.data(), V);
    la = sa.feed(std::vector<int32_t>{ta});
    lb = sb.feed(std::vector<int32_t>{ta});
  }
  return r;
}

}  // namespace gptoss::test
