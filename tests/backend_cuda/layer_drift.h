#pragma once
// One prefill of `prompt` in steps of `step` tokens with every layer's
// residual stream kept, and the measure two such runs are compared by: per
// token, max |a - ref| / max |ref| over the hidden vector; its median over
// tokens. synthetic:20b's random weights amplify any bf16 rounding about 1.25x
// per layer (damped_synthetic.h), so a runner is judged against the drift two
// correct runs of one GPU already show (step 16 vs one step: other kernels).
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "model/kv_layout.h"
#include "model/model_runner.h"

namespace gptoss::test {

struct LayerRun {
  std::vector<std::vector<float>> layers;  // [layer][token * hidden]
  std::vector<float> logits;               // [token * vocab], or [step * vocab]: each step's last token
};

// all_logits false: logits of each step's last token only (a runner gives
// at most 512 logits rows a step; the layers still hold every token).
inline LayerRun prefill_layers(ModelRunner& r, const std::vector<int32_t>& prompt, int step, bool all_logits = true) {
  const auto& c = r.config();
  const int T = int(prompt.size()), L = c.num_layers;
  const int nf = std::max(16, (T + 15) / 16), nw = std::max(32, window_ring_blocks(c.sliding_window, step, 16));
  r.allocate_kv({16, nf, nw});
  std::vector<int32_t> full(static_cast<size_t>(nf)), window(static_cast<size_t>(nw));
  for (int i = 0; i < nf; ++i) full[size_t(i)] = i;
  for (int i = 0; i < nw; ++i) window[size_t(i)] = i;
  LayerRun out;
  out.logits.resize(size_t(all_logits ? T : (T + step - 1) / step) * size_t(c.vocab_size));
  out.layers.resize(size_t(L));
  for (int p = 0; p < T; p += step) {
    ForwardBatch b;
    b.tokens.assign(prompt.begin() + p, prompt.begin() + std::min(T, p + step));
    b.seqs.push_back({SeqKv{full, window}, p, int(b.tokens.size()), all_logits});
    const size_t row = size_t(all_logits ? p : p / step);
    r.forward(b, &out.logits[row * size_t(c.vocab_size)], [&](int layer, const float* x, int rows) {
      auto& dst = out.layers[size_t(std::min(layer, L - 1))];
      dst.insert(dst.end(), x, x + size_t(rows) * size_t(c.hidden_size));
    });
  }
  return out;
}

// Median over tokens of max|a - ref| / max|ref|; *max_abs grows to max|ref|.
inline float median_rel_err(const std::vector<float>& a, const std::vector<float>& ref, int hidden,
                            float* max_abs) {
  const int T = int(ref.size() / size_t(hidden));
  std::vector<float> e;
  for (int t = 0; t < T; ++t) {
    float d = 0, m = 0;
    for (int i = 0; i < hidden; ++i) {
      const size_t k = size_t(t) * size_t(hidden) + size_t(i);
      d = std::max(d, std::fabs(a[k] - ref[k]));
      m = std::max(m, std::fabs(ref[k]));
    }
    e.push_back(d / m);
    *max_abs = std::max(*max_abs, m);
  }
  std::sort(e.begin(), e.end());
  return e[size_t(T / 2)];
}

}  // namespace gptoss::test
