#pragma once
// Sampling a token as an arg-max: argmax_i(logit_i / T + G_i), with G_i
// independent Gumbel(0, 1) noise, is an exact draw from softmax(logits / T)
// (the Gumbel-max trick). So the GPU can sample a 200K vocabulary in the same
// pass that finds the greedy token, and only a token id leaves the device.
// The noise comes from a counter-based generator (Philox4x32-10), keyed by
// the request's seed and indexed by (token number, vocabulary entry): any
// row, any entry, in any order, on the host or the device, gets the same
// value, so a seed gives the same tokens wherever the logits are the same.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>

#include "core/host_device.h"

namespace gptoss {

// How a logits row's token is chosen: temperature 0 is the arg-max; above,
// a sample at that temperature, from noise stream (seed, counter). counter
// is the token's number in its sequence, so every token draws fresh noise.
struct TokenChoice {
  float temperature = 0.0f;
  uint64_t seed = 0;
  uint32_t counter = 0;
};

// What the device reads per logits row: 16 bytes, no padding.
struct RowChoice {
  float inv_temperature;  // 0: arg-max
  uint32_t seed_lo, seed_hi, counter;
};

inline RowChoice row_choice(const TokenChoice& c, uint32_t row_offset = 0) {
  return RowChoice{c.temperature > 0.0f ? 1.0f / c.temperature : 0.0f, uint32_t(c.seed), uint32_t(c.seed >> 32),
                   c.counter + row_offset};
}

GPTOSS_HD uint32_t mulhilo32(uint32_t a, uint32_t b, uint32_t* hi) {
  const uint64_t p = uint64_t(a) * b;
  *hi = uint32_t(p >> 32);
  return uint32_t(p);
}

// Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3").
struct Philox4 {
  uint32_t v[4];
};
GPTOSS_HD Philox4 philox4x32_10(uint32_t c0, uint32_t c1, uint32_t c2, uint32_t c3, uint32_t k0, uint32_t k1) {
  for (int r = 0; r < 10; ++r) {
    uint32_t hi0, hi1;
    const uint32_t lo0 = mulhilo32(0xD2511F53u, c0, &hi0);
    const uint32_t lo1 = mulhilo32(0xCD9E8D57u, c2, &hi1);
    const uint32_t n0 = hi1 ^ c1 ^ k0, n2 = hi0 ^ c3 ^ k1;
    c0 = n0, c1 = lo1, c2 = n2, c3 = lo0;
    k0 += 0x9E3779B9u;
    k1 += 0xBB67AE85u;
  }
  return Philox4{{c0, c1, c2, c3}};
}

// Gumbel(0, 1) noise for vocabulary entry i of the row drawing with `c`.
// One Philox call serves four neighbouring entries. The uniform is strictly
// inside (0, 1), and fmaf/logf are the same operations on host and device.
GPTOSS_HD float gumbel_noise(const RowChoice& c, uint32_t i) {
  const Philox4 r = philox4x32_10(i >> 2, c.counter, 0x67707473u /* "gpts" */, 0u, c.seed_lo, c.seed_hi);
  const uint32_t bits = r.v[i & 3];
  const float u = float(bits >> 9) * 1.1920928955078125e-7f + 5.9604644775390625e-8f;  // (2k + 1) / 2^24, exact
#if defined(__CUDA_ARCH__)
  return -logf(-logf(u));
#else
  return -std::log(-std::log(u));
#endif
}

// The value whose arg-max over i is the chosen token.
GPTOSS_HD float choice_key(const RowChoice& c, float logit, uint32_t i) {
  if (c.inv_temperature <= 0.0f) return logit;
#if defined(__CUDA_ARCH__)
  return fmaf(logit, c.inv_temperature, gumbel_noise(c, i));
#else
  return std::fma(logit, c.inv_temperature, gumbel_noise(c, i));
#endif
}

// A float's bits as an unsigned number in the float's order (-0 just below +0).
GPTOSS_HD uint32_t float_order(float v) {
  uint32_t b;
  memcpy(&b, &v, 4);
  return (b & 0x80000000u) ? ~b : (b | 0x80000000u);
}

// The chosen token among candidates cand(0..n-1) (host), compared as the
// device compares: NaN logits are never chosen, equal keys go to the lowest
// index; with a mask, only allowed tokens are. Noise lies in [g(u_min), g(u_max)], about [-2.8, 16.6], so a token
// whose logit / T is further than that span (plus rounding) below the
// largest cannot win: only the few near the top draw noise, and the result
// is the same as drawing for all.
// A token mask (constrained decoding): bit t of words[t / 32] allows token t.
GPTOSS_HD bool mask_allows(const uint32_t* mask, int32_t t) { return !mask || ((mask[t >> 5] >> (t & 31)) & 1u); }

template <typename Cand>
int32_t choose_token_among(const float* logits, int n, const RowChoice& c, Cand cand, const uint32_t* mask = nullptr) {
  float top = -INFINITY;
  for (int j = 0; j < n; ++j)
    if (mask_allows(mask, cand(j))) top = std::max(top, logits[cand(j)]);  // max() drops NaN
  float cutoff = -INFINITY;
  if (c.inv_temperature > 0.0f && std::isfinite(top)) {
    static const float span = -std::log(-std::log(1.0f - 5.9604644775390625e-8f)) +
                              std::log(-std::log(5.9604644775390625e-8f));  // g(u_max) - g(u_min)
    cutoff = top * c.inv_temperature - span - 0.01f * (1.0f + std::fabs(top * c.inv_temperature));
  }
  int32_t best = -1;
  uint32_t best_key = 0;
  for (int j = 0; j < n; ++j) {
    const int32_t i = cand(j);
    const float l = logits[i];
    if (l != l || (c.inv_temperature > 0.0f && l * c.inv_temperature < cutoff) || !mask_allows(mask, i)) continue;
    const uint32_t k = float_order(choice_key(c, l, uint32_t(i)));
    if (best < 0 || k > best_key || (k == best_key && i < best)) best = i, best_key = k;
  }
  return best < 0 ? 0 : best;
}

inline int32_t choose_token(const float* logits, int n, const RowChoice& c, const uint32_t* mask = nullptr) {
  return choose_token_among(logits, n, c, [](int j) { return int32_t(j); }, mask);
}

}  // namespace gptoss

