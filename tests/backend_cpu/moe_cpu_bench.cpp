// MoE expert throughput at gpt-oss-20b shapes (H = I = 2880, E = 32, K = 4)
// on every SIMD path this CPU runs, and with the reference kernels the CPU
// runner used before (not a test).
//   moe_cpu_bench [--threads N] [--seconds S] [--layers L] [--path P] [--tokens T]
// For T = 1 (a decode step) and T = 64 (a batch) it prints the median and
// best milliseconds per call and, from the median, GB/s of expert weights
// read (blocks, scales and biases of the experts the call uses, each counted
// once per call) and GFLOP/s. Calls rotate over L layers of random weights,
// 424 MB each, so that weights come from memory rather than a large L3, and
// over fresh random routings.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "backend/cpu/cpu_kernels.h"
#include "backend/cpu/moe_cpu.h"
#include "backend/cpu/mxfp4_simd.h"

using namespace gptoss;
using namespace gptoss::cpu;
using clk = std::chrono::steady_clock;

namespace {

constexpr int kHidden = 2880, kInter = 2880, kExperts = 32, kSlots = 4;

struct Layer {
  std::vector<uint8_t> gu_blocks, gu_scales, dn_blocks, dn_scales;
  std::vector<bf16_t> gu_bias, dn_bias;
  MoeExperts view() const {
    return {gu_blocks.data(), gu_scales.data(), gu_bias.data(), dn_blocks.data(), dn_scales.data(), dn_bias.data(),
            kExperts, kHidden, kInter, 1.702f, 7.0f};
  }
};

size_t expert_bytes() {
  const size_t gu_rows = 2 * size_t(kInter), dn_rows = size_t(kHidden);
  return gu_rows * (kHidden / 2 + kHidden / 32 + 2) + dn_rows * (kInter / 2 + kInter / 32 + 2);
}

void fill_random(std::vector<uint8_t>& v, size_t n, uint64_t seed) {
  v.resize(n);
  std::mt19937_64 rng(seed);
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const uint64_t r = rng();
    std::memcpy(&v[i], &r, 8);
  }
  for (; i < n; ++i) v[i] = uint8_t(rng());
}

Layer random_layer(uint64_t seed) {
  Layer L;
  const size_t gu_rows = size_t(kExperts) * 2 * kInter, dn_rows = size_t(kExperts) * kHidden;
  fill_random(L.gu_blocks, gu_rows * kHidden / 2, seed);
  fill_random(L.dn_blocks, dn_rows * kInter / 2, seed + 1);
  std::mt19937 rng{uint32_t(seed)};
  L.gu_scales.resize(gu_rows * kHidden / 32);
  L.dn_scales.resize(dn_rows * kInter / 32);
  for (auto& s : L.gu_scales) s = uint8_t(115 + rng() % 10);
  for (auto& s : L.dn_scales) s = uint8_t(115 + rng() % 10);
  L.gu_bias.assign(gu_rows, f32_to_bf16(0.01f));
  L.dn_bias.assign(dn_rows, f32_to_bf16(0.01f));
  return L;
}

// K distinct experts per token, as a router picks them.
struct Routing {
  std::vector<int32_t> ids;
  std::vector<float> weights;
  size_t bytes_read;  // weights of the distinct experts used
};

Routing random_routing(int T, std::mt19937& rng) {
  Routing r;
  std::vector<int32_t> all(kExperts);
  std::vector<bool> used(kExperts, false);
  for (int t = 0; t < T; ++t) {
    for (int e = 0; e < kExperts; ++e) all[size_t(e)] = e;
    std::shuffle(all.begin(), all.end(), rng);
    float sum = 0.0f;
    for (int k = 0; k < kSlots; ++k) {
      r.ids.push_back(all[size_t(k)]);
      used[size_t(all[size_t(k)])] = true;
      r.weights.push_back(1.0f + float(rng() % 100) / 100.0f);
      sum += r.weights.back();
    }
    for (int k = 0; k < kSlots; ++k) r.weights[r.weights.size() - 1 - size_t(k)] /= sum;
  }
  r.bytes_read = size_t(std::count(used.begin(), used.end(), true)) * expert_bytes();
  return r;
}

// What CpuRunner::moe did before moe_forward: the reference kernels, one
// expert at a time over the tokens routed to it.
void reference_moe(const MoeExperts& w, const float* h, int T, const int32_t* ids, const float* weights, int K,
                   float* out, ThreadPool& pool) {
  const int H = w.hidden, I = w.inter;
  std::vector<std::vector<int>> pairs_of(size_t(w.num_experts));
  for (int p = 0; p < T * K; ++p) pairs_of[size_t(ids[p])].push_back(p);
  std::vector<float> y(size_t(T) * K * H), hx, yx;
  for (int e = 0; e < w.num_experts; ++e) {
    const auto& pairs = pairs_of[size_t(e)];
    if (pairs.empty()) continue;
    const int n = int(pairs.size());
    hx.resize(size_t(n) * H);
    yx.resize(size_t(n) * H);
    for (int i = 0; i < n; ++i) std::copy_n(h + size_t(pairs[size_t(i)] / K) * H, H, &hx[size_t(i) * H]);
    const size_t gu_rows = 2 * size_t(I);
    mxfp4_expert(hx.data(), n, H, I, w.gu_blocks + e * gu_rows * (H / 2), w.gu_scales + e * gu_rows * (H / 32),
                 w.gu_bias + e * gu_rows, w.dn_blocks + size_t(e) * H * (I / 2), w.dn_scales + size_t(e) * H * (I / 32),
                 w.dn_bias + size_t(e) * H, w.alpha, w.limit, yx.data(), pool);
    for (int i = 0; i < n; ++i) std::copy_n(&yx[size_t(i) * H], H, &y[size_t(pairs[size_t(i)]) * H]);
  }
  for (int t = 0; t < T; ++t) {
    float* o = out + size_t(t) * H;
    std::fill_n(o, H, 0.0f);
    for (int k = 0; k < K; ++k) {
      const float* yk = &y[(size_t(t) * K + k) * H];
      for (int i = 0; i < H; ++i) o[i] += weights[t * K + k] * yk[i];
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  int threads = 0, n_layers = 4, only_tokens = 0;
  double seconds = 3.0;
  std::string only_path;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string a = argv[i];
    if (a == "--threads") threads = std::atoi(argv[i + 1]);
    else if (a == "--seconds") seconds = std::atof(argv[i + 1]);
    else if (a == "--layers") n_layers = std::max(1, std::atoi(argv[i + 1]));
    else if (a == "--path") only_path = argv[i + 1];
    else if (a == "--tokens") only_tokens = std::atoi(argv[i + 1]);
    else {
      std::fprintf(stderr, "usage: %s [--threads N] [--seconds S] [--layers L] [--path P] [--tokens T]\n", argv[0]);
      return 2;
    }
  }
  ThreadPool pool(threads);
  std::printf("moe_cpu_bench: H=I=%d E=%d K=%d, %d threads, %d layers of %.0f MB, dispatched path %s\n", kHidden,
              kExperts, kSlots, pool.size(), n_layers, double(expert_bytes()) * kExperts / 1e6, moe_simd_path());
  std::vector<Layer> layers;
  for (int l = 0; l < n_layers; ++l) layers.push_back(random_layer(uint64_t(1000 + 17 * l)));

  std::printf("%-9s %4s %6s %10s %10s %8s %9s\n", "path", "T", "calls", "median ms", "best ms", "GB/s", "GFLOP/s");
  for (const char* path : {"reference", "scalar", "avx2", "avx512"}) {
    if (!only_path.empty() && only_path != path) continue;
    const bool reference = std::string(path) == "reference";
    const Mxfp4Kernels* kernels = reference ? nullptr : mxfp4_kernels_named(path);
    if (!reference && !kernels) {
      std::printf("%-9s (not supported on this CPU)\n", path);
      continue;
    }
    for (int T : {1, 64}) {
      if (only_tokens > 0) T = only_tokens;
      std::mt19937 rng{uint32_t(T)};
      std::vector<Routing> routings;
      for (int i = 0; i < 16; ++i) routings.push_back(random_routing(T, rng));
      std::vector<float> h(size_t(T) * kHidden), out(h.size());
      std::normal_distribution<float> n01;
      for (auto& v : h) v = n01(rng);

      auto call = [&](int i) {
        const Routing& r = routings[size_t(i) % routings.size()];
        const MoeExperts w = layers[size_t(i) % layers.size()].view();
        if (reference)
          reference_moe(w, h.data(), T, r.ids.data(), r.weights.data(), kSlots, out.data(), pool);
        else
          moe_forward_with(*kernels, w, h.data(), T, r.ids.data(), r.weights.data(), kSlots, out.data(), pool);
        return r.bytes_read;
      };
      call(0);  // scratch buffers grow on the first call
      std::vector<double> times;
      double total_s = 0.0, bytes_per_call = 0.0;
      while (times.size() < 3 || total_s < seconds) {
        const auto t0 = clk::now();
        bytes_per_call += double(call(int(times.size()) + 1));
        times.push_back(std::chrono::duration<double>(clk::now() - t0).count());
        total_s += times.back();
      }
      bytes_per_call /= double(times.size());
      std::sort(times.begin(), times.end());
      const double median = times[times.size() / 2];
      // 2 flops per weight and token-slot pair: 3 matrices of H x I.
      const double flops = 2.0 * 3.0 * kHidden * kInter * T * kSlots;
      std::printf("%-9s %4d %6zu %10.3f %10.3f %8.2f %9.1f\n", path, T, times.size(), 1e3 * median, 1e3 * times[0],
                  bytes_per_call / median / 1e9, flops / median / 1e9);
      std::fflush(stdout);
      if (only_tokens > 0) break;
    }
  }
  return 0;
}
