#include "runtime/sampler.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>

namespace gptoss {

namespace {
uint64_t fresh_seed() {
  std::random_device rd;
  return (uint64_t(rd()) << 32) ^ rd();
}
}  // namespace

Sampler::Sampler(const SamplingParams& p) : p_(p), seed_(p.seed ? *p.seed : fresh_seed()) {}

bool Sampler::needs_logits() const {
  if (p_.logprobs || p_.top_logprobs > 0) return true;
  if (forced_done_ < p_.forced_tokens.size()) return false;
  if (!p_.logit_bias.empty()) return true;
  if (!counts_.empty() && (p_.frequency_penalty != 0.0f || p_.presence_penalty != 0.0f)) return true;
  // Truncation needs the sorted logits; plain temperature sampling does not.
  return p_.temperature > 0.0f && (p_.top_p < 1.0f || p_.top_k > 0 || p_.min_p > 0.0f);
}

TokenChoice Sampler::device_choice(uint32_t ahead) const {
  return TokenChoice{std::max(p_.temperature, 0.0f), seed_, drawn_ + ahead};
}

bool Sampler::runner_decides() const {
  return forced_done_ >= p_.forced_tokens.size() && p_.frequency_penalty == 0.0f && p_.presence_penalty == 0.0f &&
         !needs_logits();
}

SampledToken Sampler::from_runner(int32_t chosen) {
  SampledToken out;
  out.token = forced_done_ < p_.forced_tokens.size() ? p_.forced_tokens[forced_done_++] : chosen;
  drawn_++;
  return out;
}

float log_sum_exp(const float* logits, int V) {
  const float m = *std::max_element(logits, logits + V);
  double s = 0;
  for (int i = 0; i < V; ++i) s += std::exp(double(logits[i] - m));
  return m + float(std::log(s));
}

std::vector<TokenLogprob> top_logprobs(const float* logits, int V, float lse, int k) {
  std::vector<int32_t> ids(static_cast<size_t>(V));
  std::iota(ids.begin(), ids.end(), 0);
  k = std::min(k, V);
  std::partial_sort(ids.begin(), ids.begin() + k, ids.end(), [&](int32_t a, int32_t b) { return logits[a] > logits[b]; });
  std::vector<TokenLogprob> out;
  for (int i = 0; i < k; ++i) out.push_back({ids[size_t(i)], logits[ids[size_t(i)]] - lse});
  return out;
}

SampledToken Sampler::sample(float* logits, int V, const uint32_t* mask) {
  SampledToken out;
  // Log-probabilities are reported under the model's own distribution, before
  // penalties and truncation, as the OpenAI API does.
  const float lse = p_.logprobs || p_.top_logprobs > 0 ? log_sum_exp(logits, V) : 0.0f;
  auto report = [&](int32_t tok) {
    out.token = tok;
    if (!(p_.logprobs || p_.top_logprobs > 0)) return;
    out.logprob = logits[tok] - lse;
    if (p_.top_logprobs > 0) out.top = top_logprobs(logits, V, lse, p_.top_logprobs);
  };
  if (forced_done_ < p_.forced_tokens.size()) {
    report(p_.forced_tokens[forced_done_++]);
    drawn_++;
    return out;
  }
  std::vector<float> original;
  if (p_.logprobs || p_.top_logprobs > 0) original.assign(logits, logits + V);
  for (const auto& [tok, bias] : p_.logit_bias)
    if (tok >= 0 && tok < V) logits[tok] += bias;
  for (auto& [tok, n] : counts_) {
    if (tok < 0 || tok >= V) continue;
    logits[tok] -= p_.frequency_penalty * float(n) + (n > 0 ? p_.presence_penalty : 0.0f);
  }
  // Disallowed tokens leave the distribution before truncation, so top-p and
  // min-p are taken over what may be said.
  if (mask)
    for (int i = 0; i < V; ++i)
      if (!mask_allows(mask, i)) logits[i] = -INFINITY;
  int32_t chosen;
  if (p_.temperature <= 0.0f) {
    chosen = int32_t(std::max_element(logits, logits + V) - logits);  // masked ones are -inf
  } else {
    // Only the candidates that survive top-k / min-p / top-p are ever sorted,
    // and top-p sorts a growing prefix: a 200K vocabulary is never fully sorted.
    idx_.resize(size_t(V));
    std::iota(idx_.begin(), idx_.end(), 0);
    auto by_logit = [&](int32_t a, int32_t b) { return logits[a] > logits[b]; };
    int n = V;
    if (p_.top_k > 0 && p_.top_k < V) {
      std::nth_element(idx_.begin(), idx_.begin() + p_.top_k, idx_.end(), by_logit);
      n = p_.top_k;
    }
    float m = logits[idx_[0]];
    for (int i = 1; i < n; ++i) m = std::max(m, logits[idx_[size_t(i)]]);
    const double inv_t = 1.0 / double(p_.temperature);
    auto weight = [&](int32_t tok) { return std::exp(double(logits[tok] - m) * inv_t); };
    double sum = 0;
    if (p_.top_p < 1.0f)
      for (int i = 0; i < n; ++i) sum += weight(idx_[size_t(i)]);
    int keep = n;
    if (p_.min_p > 0.0f)  // relative to the most likely token, whose weight is 1
      keep = int(std::partition(idx_.begin(), idx_.begin() + n, [&](int32_t t) { return weight(t) >= p_.min_p; }) -
                 idx_.begin());
    keep = std::max(keep, 1);
    if (p_.top_p < 1.0f) {
      int sorted = 0, k = 0;
      double c = 0;
      for (int want = std::min(keep, 64);; want = std::min(keep, want * 8)) {
        std::partial_sort(idx_.begin() + sorted, idx_.begin() + want, idx_.begin() + keep, by_logit);
        sorted = want;
        while (k < sorted && c < p_.top_p * sum) c += weight(idx_[size_t(k++)]);
        if (c >= p_.top_p * sum || sorted == keep) break;
      }
      keep = std::max(1, k);
    }
    // The draw among the kept tokens, as the runner would make it over all.
    chosen = choose_token_among(logits, keep, row_choice(device_choice()), [&](int j) { return idx_[size_t(j)]; }, mask);
  }
  drawn_++;
  if (!original.empty()) std::copy(original.begin(), original.end(), logits);
  report(chosen);
  return out;
}

}  // namespace gptoss
