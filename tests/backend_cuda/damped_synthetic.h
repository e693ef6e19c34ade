#pragma once
// synthetic:20b's random weights make a chaotic network: bf16 roundings that
// differ between two correct engines (other kernels, another summation order,
// a tensor-parallel all-reduce) grow about 1.25x per layer, so final logits
// cannot be compared on it. The damped copy (embeddings x256, experts /16:
// every layer a small update of a large residual stream) keeps the shapes and
// kernels but lets errors stay small, so its logits can be held to a bound.
#include <cstdint>
#include <cstring>

#include "format/model_source.h"

namespace gptoss::test {

inline void damp_synthetic(ModelSource& src) {
  for (const auto& [name, t] : src.weights->tensors()) {
    auto* p = const_cast<uint8_t*>(t.data);
    if (name.size() > 7 && name.compare(name.size() - 7, 7, "_scales") == 0)
      for (size_t i = 0; i < t.nbytes; ++i) p[i] = uint8_t(p[i] - 4);
    if (name == "model.embed_tokens.weight")
      for (size_t i = 0; i < t.nbytes; i += 2) {
        uint16_t v;
        std::memcpy(&v, p + i, 2);
        if ((v & 0x7f80) != 0 && (v & 0x7f80) < 0x7000) v = uint16_t(v + (8 << 7));  // x 2^8, exact
        std::memcpy(p + i, &v, 2);
      }
  }
}

}  // namespace gptoss::test
