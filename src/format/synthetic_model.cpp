// Random weights at gpt-oss shapes, with the statistics of tests/fixtures/tools/make_synth.py
// (dense ~N(0, 0.02), norms ~1 + N(0, 0.1), sinks ~N(0, 1), router ~N(0, 0.05),
// uniform MXFP4 nibbles, scales 2^(121-127 +- 1)), so speed measured on them is
// the speed on real checkpoints. Deterministic for a seed, whatever the thread count.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "core/bf16.h"
#include "core/thread_pool.h"
#include "format/model_source.h"
#include "format/tensor_plan.h"

namespace gptoss {

namespace {

uint64_t splitmix(uint64_t& s) {
  uint64_t z = (s += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

enum class Fill { Normal, Ones, Nibbles, Scales };

// Fills in chunks of 64 Ki elements, each seeded from (tensor seed, chunk).
void fill_tensor(uint8_t* data, int64_t n, Fill kind, float std, uint64_t seed) {
  const int64_t chunk = 1 << 16;
  const int64_t chunks = (n + chunk - 1) / chunk;
  ThreadPool::global().parallel_for(size_t(chunks), [&](size_t b, size_t e) {
    for (size_t c = b; c < e; ++c) {
      uint64_t s = seed * 0x100000001b3ull + c;
      int64_t lo = int64_t(c) * chunk, hi = std::min(n, lo + chunk);
      for (int64_t i = lo; i < hi; ++i) {
        uint64_t r = splitmix(s);
        switch (kind) {
          case Fill::Nibbles: data[i] = uint8_t(r); break;
          case Fill::Scales: data[i] = uint8_t(121 + int(r % 3) - 1); break;
          default: {
            // Irwin-Hall of 4 uniforms: close enough to a normal for weights.
            float u = float(r & 0xffff) + float((r >> 16) & 0xffff) + float((r >> 32) & 0xffff) + float(r >> 48);
            float z = (u / 65536.0f - 2.0f) * 1.7320508f;
            float v = kind == Fill::Ones ? 1.0f + 0.1f * z : std * z;
            uint16_t h = f32_to_bf16(v);
            std::memcpy(data + 2 * i, &h, 2);
          }
        }
      }
    }
  });
}

}  // namespace

ModelSource make_synthetic_model(const ModelConfig& c, const std::string& name, uint64_t seed,
                                 const LoadProgress& progress) {
  ModelSource src;
  src.config = c;
  src.name = name;
  src.weights = std::make_shared<WeightStore>();
  src.weights->origin = name;
  auto& w = *src.weights;
  uint64_t tensor_seed = seed * 1000003ull + 17;
  auto plan = plan_tensors(c);
  for (size_t i = 0; i < plan.size(); ++i) {
    const PlannedTensor& t = plan[i];
    uint8_t* p = w.add_owned(t.name, t.dtype, t.shape, name);
    const int64_t count = int64_t(t.bytes() / dtype_size(t.dtype));
    switch (t.role) {
      case TensorRole::Norm: fill_tensor(p, count, Fill::Ones, 0, ++tensor_seed); break;
      case TensorRole::Sink: fill_tensor(p, count, Fill::Normal, 1.0f, ++tensor_seed); break;
      case TensorRole::Router: fill_tensor(p, count, Fill::Normal, 0.05f, ++tensor_seed); break;
      case TensorRole::ExpertBlocks: fill_tensor(p, count, Fill::Nibbles, 0, ++tensor_seed); break;
      case TensorRole::ExpertScales: fill_tensor(p, count, Fill::Scales, 0, ++tensor_seed); break;
      default: fill_tensor(p, count, Fill::Normal, 0.02f, ++tensor_seed);
    }
    if (progress) progress(i + 1, plan.size());
  }
  return src;
}

}  // namespace gptoss
