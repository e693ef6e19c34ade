#include "backend/cpu/moe_cpu.h"

#include <algorithm>
#include <atomic>
#include <new>
#include <cstdlib>
#include <string>
#include <vector>

#include "backend/cpu/cpu_kernels.h"
#include "backend/cpu/mxfp4_simd.h"
#include "core/error.h"
#include "core/log.h"

namespace gptoss::cpu {

const Mxfp4Kernels* mxfp4_kernels_named(std::string_view path) {
  if (path == "scalar") return &mxfp4_kernels_scalar();
#if defined(__x86_64__)
  __builtin_cpu_init();  // in case we run before libgcc's constructor has
  if (path == "avx2")
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") ? mxfp4_kernels_avx2() : nullptr;
  if (path == "avx512")
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") ? mxfp4_kernels_avx512()
                                                                                    : nullptr;
#endif
  return nullptr;
}

namespace {

const Mxfp4Kernels& best_kernels() {
  for (const char* path : {"avx512", "avx2"})
    if (const Mxfp4Kernels* k = mxfp4_kernels_named(path)) return *k;
  return mxfp4_kernels_scalar();
}

const Mxfp4Kernels& pick_kernels() {
  const Mxfp4Kernels& best = best_kernels();
  const char* forced = std::getenv("GPTOSS_CPU_SIMD");
  if (!forced || !*forced) return best;
  if (const Mxfp4Kernels* k = mxfp4_kernels_named(forced)) return *k;
  log_warn(std::string("GPTOSS_CPU_SIMD=") + forced +
           " is not a SIMD path this CPU runs (scalar, avx2, avx512); the MoE kernels use " + best.name);
  return best;
}

const Mxfp4Kernels& dispatched_kernels() {
  static const Mxfp4Kernels& kernels = pick_kernels();
  return kernels;
}

// Tokens per pass: bounds the activation scratch (K * inter floats a token)
// while large enough that a pass reads each active expert's weights once for
// every batch but long prefills.
constexpr int kMaxTokensPerPass = 512;
// Reduction length of one dot_tile call: a tile of decoded rows this long
// (16 KB) stays in L1 while the tokens go past it.
constexpr int kReductionChunk = 1024;
// Tokens that go past one decoded tile: their activations (11.5 KB each at
// 20b shapes) should stay in L2.
constexpr int kTokenBlock = 64;

// Scratch rows start on cache lines: every row length is a multiple of 32
// floats, so all rows do, and no 64-byte load of a decoded row or an
// activation straddles two lines (those cost AVX-512 loads half their speed).
template <typename T>
struct CacheLineAllocator {
  using value_type = T;
  CacheLineAllocator() = default;
  template <typename U>
  CacheLineAllocator(const CacheLineAllocator<U>&) {}
  T* allocate(size_t n) { return static_cast<T*>(::operator new(n * sizeof(T), std::align_val_t(64))); }
  void deallocate(T* p, size_t) { ::operator delete(p, std::align_val_t(64)); }
  bool operator==(const CacheLineAllocator&) const { return true; }
};
using FloatBuffer = std::vector<float, CacheLineAllocator<float>>;

template <typename V>
auto* grown(V& v, size_t n) {
  if (v.size() < n) v.resize(n);
  return v.data();
}

// The (token, slot) pairs of a pass grouped by expert; pair p = t * K + k.
struct Routing {
  std::vector<int32_t> experts;  // the experts used, ascending
  std::vector<int> begin;        // pairs of experts[g] are pairs[begin[g] .. begin[g + 1])
  std::vector<int> pairs;        // ascending within an expert
  std::vector<int> cursor;       // counting-sort scratch, one per expert

  void build(const int32_t* ids, int n_pairs, int n_experts) {
    cursor.assign(size_t(n_experts), 0);
    for (int p = 0; p < n_pairs; ++p) ++cursor[size_t(ids[p])];
    experts.clear();
    begin.assign(1, 0);
    for (int e = 0; e < n_experts; ++e) {
      const int n = cursor[size_t(e)];
      if (n == 0) continue;
      cursor[size_t(e)] = begin.back();
      experts.push_back(e);
      begin.push_back(begin.back() + n);
    }
    pairs.resize(size_t(n_pairs));
    for (int p = 0; p < n_pairs; ++p) pairs[size_t(cursor[size_t(ids[p])]++)] = p;
  }
};

// Lives on the thread that calls moe_forward: survives between calls so a
// steady stream of steps allocates nothing.
struct CallerScratch {
  Routing routing;
  FloatBuffer x_perm;    // [T, hidden] hidden states in the kernels' block order
  FloatBuffer act_perm;  // [T * K, inter] swiglu outputs in the kernels' block order
};

// Lives on each thread that runs units.
struct WorkerScratch {
  FloatBuffer tile;             // decoded weight rows [tile_rows, chunk]
  std::vector<float> dots;      // [pairs of one expert, R]
  std::vector<float> y;         // down outputs of a unit's rows [T * K, R]
  std::vector<float> gate_up;   // [R] one pair's gate/up values with bias
  std::vector<float> act;       // [R / 2]
  std::vector<const float*> x;  // activation row of each pair of one expert
};

WorkerScratch& worker_scratch() {
  thread_local WorkerScratch s;
  return s;
}

// dots[i * R + (r - r0)] = row r . x[i] for r in [r0, r1), i < n; no bias.
void rows_dot_activations(const Mxfp4Kernels& kern, const uint8_t* blocks, const uint8_t* scales, int dim, int r0,
                          int r1, const float* const* x, int n, float* dots, WorkerScratch& s) {
  const int n_blocks = dim / kMxfp4BlockValues, R = r1 - r0;
  const size_t row_bytes = size_t(n_blocks) * kMxfp4BlockBytes;
  if (n == 1) {
    // One token (decode steps): decoding into registers beats a round trip
    // through memory, and the row is used once anyway.
    for (int r = r0; r < r1; ++r)
      dots[r - r0] = kern.dot_row(blocks + size_t(r) * row_bytes, scales + size_t(r) * n_blocks, x[0], n_blocks);
    return;
  }
  // Several tokens: decode a tile of rows one reduction chunk at a time into
  // a buffer that stays in L1, and run every token of the block past it.
  // Each row is decoded once per block of kTokenBlock tokens.
  const int n_chunks = (dim + kReductionChunk - 1) / kReductionChunk;
  const int chunk = ((dim + n_chunks - 1) / n_chunks + 31) / 32 * 32;
  const int tile_rows = kern.tile_rows;
  float* tile = grown(s.tile, size_t(tile_rows) * size_t(chunk));
  std::fill_n(dots, size_t(n) * size_t(R), 0.0f);
  for (int tb = 0; tb < n; tb += kTokenBlock) {
    const int tb_end = std::min(n, tb + kTokenBlock);
    for (int rt = 0; rt < R; rt += tile_rows)
      for (int k0 = 0; k0 < dim; k0 += chunk) {
        const int len = std::min(chunk, dim - k0);
        for (int i = 0; i < tile_rows; ++i) {
          const size_t r = size_t(r0 + rt + i);
          kern.decode_row(blocks + r * row_bytes + size_t(k0 / 2), scales + r * n_blocks + size_t(k0 / 32),
                          len / kMxfp4BlockValues, tile + size_t(i) * size_t(chunk));
        }
        for (int t0 = tb; t0 < tb_end; t0 += kern.tile_tokens)
          kern.dot_tile(tile, size_t(chunk), x + t0, size_t(k0), std::min(kern.tile_tokens, tb_end - t0), len,
                        dots + size_t(t0) * size_t(R) + size_t(rt), size_t(R));
      }
  }
}

// Everything one pass of up to kMaxTokensPerPass tokens reads and writes.
struct Pass {
  const Mxfp4Kernels& kern;
  const MoeExperts& w;
  int T, K;
  const float* weights;  // [T, K]
  float* out;            // [T, hidden]
  const Routing& routing;
  const float* x_perm;
  float* act_perm;
  uint8_t position_of[32];  // inverse of kern.value_at

  // Gate/up rows [r0, r1) (r0 even) of every used expert, then swiglu on
  // the row pairs, into act_perm. Owning whole gate/up pairs is what lets
  // swiglu run here instead of after another barrier.
  void gate_up_rows(int r0, int r1) const {
    WorkerScratch& s = worker_scratch();
    const int H = w.hidden, I = w.inter, R = r1 - r0;
    const size_t expert_rows = size_t(2) * size_t(I);
    float* gate_up = grown(s.gate_up, size_t(R));
    float* act = grown(s.act, size_t(R / 2));
    for (size_t g = 0; g < routing.experts.size(); ++g) {
      const size_t e = size_t(routing.experts[g]);
      const int* pairs = routing.pairs.data() + routing.begin[g];
      const int n = routing.begin[g + 1] - routing.begin[g];
      const float** x = grown(s.x, size_t(n));
      for (int i = 0; i < n; ++i) x[i] = x_perm + size_t(pairs[i] / K) * size_t(H);
      float* dots = grown(s.dots, size_t(n) * size_t(R));
      rows_dot_activations(kern, w.gu_blocks + e * expert_rows * size_t(H / 2),
                           w.gu_scales + e * expert_rows * size_t(H / 32), H, r0, r1, x, n, dots, s);
      const bf16_t* bias = w.gu_bias + e * expert_rows + size_t(r0);
      for (int i = 0; i < n; ++i) {
        for (int j = 0; j < R; ++j) gate_up[j] = dots[size_t(i) * size_t(R) + size_t(j)] + bf16_to_f32(bias[j]);
        swiglu_interleaved(gate_up, R / 2, w.alpha, w.limit, act);
        float* a = act_perm + size_t(pairs[i]) * size_t(I);
        for (int j = 0; j < R / 2; ++j) {
          const int v = r0 / 2 + j;
          a[(v & ~31) + position_of[v & 31]] = act[j];
        }
      }
    }
  }

  // Down rows [r0, r1) of every used expert, then the weighted sum over
  // slots for those output columns of every token.
  void down_rows(int r0, int r1) const {
    WorkerScratch& s = worker_scratch();
    const int H = w.hidden, I = w.inter, R = r1 - r0;
    float* y = grown(s.y, size_t(T) * size_t(K) * size_t(R));
    for (size_t g = 0; g < routing.experts.size(); ++g) {
      const size_t e = size_t(routing.experts[g]);
      const int* pairs = routing.pairs.data() + routing.begin[g];
      const int n = routing.begin[g + 1] - routing.begin[g];
      const float** x = grown(s.x, size_t(n));
      for (int i = 0; i < n; ++i) x[i] = act_perm + size_t(pairs[i]) * size_t(I);
      float* dots = grown(s.dots, size_t(n) * size_t(R));
      rows_dot_activations(kern, w.dn_blocks + e * size_t(H) * size_t(I / 2),
                           w.dn_scales + e * size_t(H) * size_t(I / 32), I, r0, r1, x, n, dots, s);
      const bf16_t* bias = w.dn_bias + e * size_t(H) + size_t(r0);
      for (int i = 0; i < n; ++i)
        for (int j = 0; j < R; ++j)
          y[size_t(pairs[i]) * size_t(R) + size_t(j)] = dots[size_t(i) * size_t(R) + size_t(j)] + bf16_to_f32(bias[j]);
    }
    for (int t = 0; t < T; ++t) {
      float* o = out + size_t(t) * size_t(H) + size_t(r0);
      const float* yt = y + size_t(t) * size_t(K) * size_t(R);
      const float* wt = weights + size_t(t) * size_t(K);
      for (int j = 0; j < R; ++j) o[j] = wt[0] * yt[j];
      for (int k = 1; k < K; ++k)
        for (int j = 0; j < R; ++j) o[j] += wt[k] * yt[size_t(k) * size_t(R) + size_t(j)];
    }
  }
};

// Rows per unit of work: a few units per thread so that uneven finishing
// evens out, a multiple of 8 (whole row tiles and gate/up pairs), and at most
// 64 to bound a unit's per-pair outputs ([T * K, R] floats).
int rows_per_unit(int rows, int threads) {
  const int r = rows / (threads * 4) / 8 * 8;
  return std::clamp(r, 8, 64);
}

// fn(unit) for every unit in [0, n_units), handed out one at a time to the
// pool's threads: one barrier, and a slow thread just takes fewer units.
template <typename Fn>
void for_each_unit(ThreadPool& pool, int n_units, const Fn& fn) {
  std::atomic<int> next{0};
  const int workers = std::min(pool.size(), n_units);
  pool.parallel_for(size_t(workers), [&](size_t, size_t) {
    for (int u; (u = next.fetch_add(1, std::memory_order_relaxed)) < n_units;) fn(u);
  });
}

void run_pass(const Mxfp4Kernels& kern, const MoeExperts& w, const float* h, int T, const int32_t* ids,
              const float* weights, int K, float* out, ThreadPool& pool, CallerScratch& cs) {
  const int H = w.hidden, I = w.inter;
  cs.routing.build(ids, T * K, w.num_experts);

  float* x_perm = grown(cs.x_perm, size_t(T) * size_t(H));
  auto permute_tokens = [&](size_t t0, size_t t1) {
    for (size_t t = t0; t < t1; ++t)
      for (int b = 0; b < H; b += kMxfp4BlockValues) {
        const float* src = h + t * size_t(H) + size_t(b);
        float* dst = x_perm + t * size_t(H) + size_t(b);
        for (int p = 0; p < kMxfp4BlockValues; ++p) dst[p] = src[kern.value_at[p]];
      }
  };
  if (T >= 16)
    pool.parallel_for(size_t(T), permute_tokens);
  else
    permute_tokens(0, size_t(T));

  Pass pass{kern, w, T, K, weights, out, cs.routing, x_perm, grown(cs.act_perm, size_t(T) * size_t(K) * size_t(I)),
            {}};
  for (int p = 0; p < 32; ++p) pass.position_of[kern.value_at[p]] = uint8_t(p);

  const int threads = pool.size();
  const int gu_rows = 2 * I, gu_unit = rows_per_unit(gu_rows, threads);
  for_each_unit(pool, (gu_rows + gu_unit - 1) / gu_unit,
                [&](int u) { pass.gate_up_rows(u * gu_unit, std::min(gu_rows, (u + 1) * gu_unit)); });
  const int dn_unit = rows_per_unit(H, threads);
  for_each_unit(pool, (H + dn_unit - 1) / dn_unit,
                [&](int u) { pass.down_rows(u * dn_unit, std::min(H, (u + 1) * dn_unit)); });
}

}  // namespace

void moe_forward_with(const Mxfp4Kernels& kern, const MoeExperts& w, const float* h, int T, const int32_t* ids,
                      const float* weights, int K, float* out, ThreadPool& pool) {
  if (T <= 0) return;
  if (w.hidden <= 0 || w.inter <= 0 || w.hidden % kMxfp4BlockValues != 0 || w.inter % kMxfp4BlockValues != 0)
    throw Error("moe_forward: hidden (" + std::to_string(w.hidden) + ") and intermediate (" +
                std::to_string(w.inter) + ") sizes must be positive multiples of 32");
  for (size_t p = 0; p < size_t(T) * size_t(std::max(K, 0)); ++p)
    if (ids[p] < 0 || ids[p] >= w.num_experts)
      throw Error("moe_forward: expert id " + std::to_string(ids[p]) + " (token " + std::to_string(p / size_t(K)) +
                  ", slot " + std::to_string(p % size_t(K)) + ") is outside 0.." +
                  std::to_string(w.num_experts - 1));
  if (K <= 0) {
    std::fill_n(out, size_t(T) * size_t(w.hidden), 0.0f);
    return;
  }
  thread_local CallerScratch scratch;
  for (int t0 = 0; t0 < T; t0 += kMaxTokensPerPass) {
    const int n = std::min(kMaxTokensPerPass, T - t0);
    run_pass(kern, w, h + size_t(t0) * size_t(w.hidden), n, ids + size_t(t0) * size_t(K),
             weights + size_t(t0) * size_t(K), K, out + size_t(t0) * size_t(w.hidden), pool, scratch);
  }
}

void moe_forward(const MoeExperts& w, const float* h, int T, const int32_t* ids, const float* weights, int K,
                 float* out, ThreadPool& pool) {
  moe_forward_with(dispatched_kernels(), w, h, T, ids, weights, K, out, pool);
}

const char* moe_simd_path() { return dispatched_kernels().name; }

}  // namespace gptoss::cpu
