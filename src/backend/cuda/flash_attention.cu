// Prefill attention on tensor cores (FlashAttention-2 style), with the learned
// sinks, the sliding window and the paged cache; head_dim 64.
//
// attention.cu gives each (token, kv head) a block that walks every key on
// CUDA cores: a prompt of T tokens re-reads the keys T times and does its
// dot products in float32 FMAs. Here a block takes kTokens consecutive tokens
// x the GQA group of one kv head as the rows of an mma.m16n8k16 (a warp: 16
// rows = 16 / group tokens x group heads), so each key tile, loaded once into
// shared memory, serves every query head of every token of the block. The
// tiles are double-buffered with cp.async; S = Q K^T and O += P V run on the
// tensor cores with the softmax online in registers (base 2). The sink joins
// the softmax at the end, as in attention.cu.
//
// The tokens of a step need not share a sequence: a block walks each run of
// equal sequence ids among its tokens in turn (a prefill chunk is one run; a
// mixed step's decode tokens cost a pass each, which is why small steps keep
// attention.cu). Keys outside a row's range [first, pos] score -inf.
#include <climits>
#include <stdexcept>

#include "backend/cuda/async_copy.cuh"
#include "backend/cuda/cuda_common.cuh"
#include "backend/cuda/cuda_kernels.h"
#include "backend/cuda/launch.cuh"
#include "backend/cuda/paged_kv.cuh"

namespace gptoss::cuda {

namespace {

constexpr int kHeadDim = 64;
constexpr int kKeys = 64;    // keys per shared-memory tile
constexpr int kWarps = 8;
constexpr int kThreads = kWarps * 32;
constexpr int kChunks = kHeadDim / 8;  // 16-byte chunks per key row

// Shared tiles of kKeys rows x 128 bytes, chunk c of row r stored at c ^ (r & 7)
// so that ldmatrix's eight 16-byte row reads hit eight different bank groups.
struct Tiles {
  uint4 k[2][kKeys * kChunks];
  uint4 v[2][kKeys * kChunks];
};

__device__ __forceinline__ int swz(int row, int chunk) { return row * kChunks + (chunk ^ (row & 7)); }

// Keys [j0, j0 + kKeys) of kv head g of sequence seq into stage `st`; keys past
// `hi` are zero (their scores are masked, and zero values keep p * v finite).
__device__ __forceinline__ void load_tile(Tiles& sh, int st, const uint16_t* cache, const TokenKv& tk, bool sliding,
                                          int seq, int g, int KV, int j0, int hi) {
  for (int i = threadIdx.x; i < 2 * kKeys * kChunks; i += kThreads) {
    const int v = i / (kKeys * kChunks), r = (i / kChunks) % kKeys, c = i % kChunks;
    const int j = j0 + r;
    const bool valid = j <= hi;
    const uint16_t* src = valid ? cache + kv_row_offset<true>(tk, sliding, seq, j, KV, g, kHeadDim, v) + c * 8 : cache;
    cp_async16(v ? &sh.v[st][swz(r, c)] : &sh.k[st][swz(r, c)], src, valid);
  }
}

template <int kGroup>
__global__ void __launch_bounds__(kThreads, 2) flash_attention_kernel(const uint16_t* q, const uint16_t* cache,
                                                                   const uint16_t* sinks, int T, int n_heads, int n_kv,
                                                                   TokenKv tk, bool sliding, int window,
                                                                   uint16_t* out) {
  pdl_enter(Release::kAtEntry);
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  constexpr int kTokensPerWarp = 16 / kGroup, kTokens = kWarps * kTokensPerWarp;
  __shared__ Tiles sh;
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, gr = lane >> 2, tq = lane & 3;
  const int g = blockIdx.y, t0 = blockIdx.x * kTokens, t_end = min(T, t0 + kTokens);
  const int KV = n_kv * kHeadDim, Q = n_heads * kHeadDim;
  // This thread's two rows (gr, gr + 8): token and head of each.
  int row_t[2], row_h[2];
#pragma unroll
  for (int i = 0; i < 2; ++i) {
    const int r = gr + 8 * i;
    row_t[i] = t0 + warp * kTokensPerWarp + r / kGroup;
    row_h[i] = g * kGroup + r % kGroup;
  }
  // Q as A fragments for the 4 k-steps of head_dim 64 (zero for rows past T).
  uint32_t qa[4][4];
#pragma unroll
  for (int kk = 0; kk < 4; ++kk)
#pragma unroll
    for (int i = 0; i < 4; ++i) {
      const int r = i & 1, col = 16 * kk + 2 * tq + (i >> 1) * 8;
      qa[kk][i] = row_t[r] < T
                      ? *reinterpret_cast<const uint32_t*>(q + size_t(row_t[r]) * Q + row_h[r] * kHeadDim + col)
                      : 0u;
    }
  constexpr float kScale = 0.125f * 1.4426950408889634f;  // 1/sqrt(64), in base 2

  for (int run0 = t0; run0 < t_end;) {
    // The run of tokens of one sequence starting at run0, and its key range.
    const int seq = tk.seq[run0];
    int run1 = run0, lo = INT_MAX, hi = -1, min_pos = INT_MAX;
    while (run1 < t_end && tk.seq[run1] == seq) {
      const int p = tk.pos[run1];
      lo = min(lo, sliding ? max(0, p - window + 1) : 0);
      hi = max(hi, p);
      min_pos = min(min_pos, p);
      ++run1;
    }
    // Keys in [max_first, min_pos] are inside every run row's range: tiles
    // wholly there (nearly all of a long prompt's) need no mask.
    const int max_first = sliding ? max(0, hi - window + 1) : 0;
    int first[2], last[2];
    bool in_run[2];
#pragma unroll
    for (int i = 0; i < 2; ++i) {
      in_run[i] = row_t[i] >= run0 && row_t[i] < run1;
      last[i] = in_run[i] ? tk.pos[row_t[i]] : -1;
      first[i] = sliding ? max(0, last[i] - window + 1) : 0;
    }
    const bool warp_active = __any_sync(0xffffffffu, in_run[0] || in_run[1]);
    float m[2] = {-INFINITY, -INFINITY}, l[2] = {0.0f, 0.0f}, o[8][4];
#pragma unroll
    for (int n = 0; n < 8; ++n) o[n][0] = o[n][1] = o[n][2] = o[n][3] = 0.0f;

    const int n_tiles = (hi - lo + kKeys) / kKeys;
    __syncthreads();  // the previous run's last tile is no longer read
    load_tile(sh, 0, cache, tk, sliding, seq, g, KV, lo, hi);
    cp_async_commit();
    for (int it = 0; it < n_tiles; ++it) {
      const int st = it & 1, j0 = lo + it * kKeys;
      if (it + 1 < n_tiles) {
        load_tile(sh, st ^ 1, cache, tk, sliding, seq, g, KV, j0 + kKeys, hi);
        cp_async_commit();
        cp_async_wait<1>();
      } else {
        cp_async_wait<0>();
      }
      __syncthreads();
      if (warp_active) {
        // S = Q K^T for 64 keys: 8 n-tiles of 8 keys.
        float s[8][4];
#pragma unroll
        for (int n = 0; n < 8; ++n) {
          s[n][0] = s[n][1] = s[n][2] = s[n][3] = 0.0f;
#pragma unroll
          for (int half = 0; half < 2; ++half) {
            // Matrices: dims chunk 4*half + (lane / 8) of keys 8n .. 8n + 7.
            uint32_t b[4];
            ldmatrix_x4(b, &sh.k[st][swz(8 * n + (lane & 7), 4 * half + (lane >> 3))]);
            mma_bf16_16816(s[n], qa[2 * half][0], qa[2 * half][1], qa[2 * half][2], qa[2 * half][3], b[0], b[1]);
            mma_bf16_16816(s[n], qa[2 * half + 1][0], qa[2 * half + 1][1], qa[2 * half + 1][2], qa[2 * half + 1][3],
                           b[2], b[3]);
          }
        }
        // Mask, then the online softmax per row (rows gr: s[n][0..1], gr + 8: s[n][2..3]).
        float mx[2] = {-INFINITY, -INFINITY};
        if (j0 >= max_first && j0 + kKeys - 1 <= min_pos) {  // the same for every thread of the block
#pragma unroll
          for (int n = 0; n < 8; ++n)
#pragma unroll
            for (int e = 0; e < 4; ++e) {
              s[n][e] *= kScale;
              mx[e >> 1] = fmaxf(mx[e >> 1], s[n][e]);
            }
        } else {
#pragma unroll
          for (int n = 0; n < 8; ++n)
#pragma unroll
            for (int e = 0; e < 4; ++e) {
              const int i = e >> 1, j = j0 + 8 * n + 2 * tq + (e & 1);
              const float v = (j >= first[i] && j <= last[i]) ? s[n][e] * kScale : -INFINITY;
              s[n][e] = v;
              mx[i] = fmaxf(mx[i], v);
            }
        }
        float corr[2], base[2];
#pragma unroll
        for (int i = 0; i < 2; ++i) {
          mx[i] = fmaxf(mx[i], __shfl_xor_sync(0xffffffffu, mx[i], 1));
          mx[i] = fmaxf(mx[i], __shfl_xor_sync(0xffffffffu, mx[i], 2));
          const float m_new = fmaxf(m[i], mx[i]);
          base[i] = m_new == -INFINITY ? 0.0f : m_new;  // a row with no key yet stays at zero
          corr[i] = exp2f(m[i] - base[i]);
          m[i] = m_new;
        }
        float rs[2] = {0.0f, 0.0f};
#pragma unroll
        for (int n = 0; n < 8; ++n)
#pragma unroll
          for (int e = 0; e < 4; ++e) {
            const float p = exp2f(s[n][e] - base[e >> 1]);
            s[n][e] = p;
            rs[e >> 1] += p;
          }
#pragma unroll
        for (int i = 0; i < 2; ++i) {
          rs[i] += __shfl_xor_sync(0xffffffffu, rs[i], 1);
          rs[i] += __shfl_xor_sync(0xffffffffu, rs[i], 2);
          l[i] = l[i] * corr[i] + rs[i];
        }
#pragma unroll
        for (int n = 0; n < 8; ++n) o[n][0] *= corr[0], o[n][1] *= corr[0], o[n][2] *= corr[1], o[n][3] *= corr[1];
        // O += P V: P's accumulators are already the A fragments of keys 16kk .. 16kk + 15.
#pragma unroll
        for (int kk = 0; kk < 4; ++kk) {
          const uint32_t a0 = pack_bf16x2(s[2 * kk][0], s[2 * kk][1]), a1 = pack_bf16x2(s[2 * kk][2], s[2 * kk][3]);
          const uint32_t a2 = pack_bf16x2(s[2 * kk + 1][0], s[2 * kk + 1][1]),
                         a3 = pack_bf16x2(s[2 * kk + 1][2], s[2 * kk + 1][3]);
#pragma unroll
          for (int dp = 0; dp < 4; ++dp) {
            // Matrices: keys 16kk + 8 (lane / 8 & 1) .., dims chunk 2 dp + (lane / 16).
            uint32_t b[4];
            ldmatrix_x4_trans(b, &sh.v[st][swz(16 * kk + ((lane >> 3) & 1) * 8 + (lane & 7), 2 * dp + (lane >> 4))]);
            mma_bf16_16816(o[2 * dp], a0, a1, a2, a3, b[0], b[1]);
            mma_bf16_16816(o[2 * dp + 1], a0, a1, a2, a3, b[2], b[3]);
          }
        }
      }
      __syncthreads();  // stage st is refilled by the next iteration's prefetch
    }
    // The run's rows: the sink joins the softmax, then out = O / denominator.
#pragma unroll
    for (int i = 0; i < 2; ++i) {
      if (!in_run[i]) continue;
      const float sink = bf2f(sinks[row_h[i]]) * 1.4426950408889634f;
      const float m_fin = fmaxf(m[i], sink);
      const float c = exp2f(m[i] - m_fin);
      const float inv = c / (l[i] * c + exp2f(sink - m_fin));
      uint32_t* dst = reinterpret_cast<uint32_t*>(out + size_t(row_t[i]) * Q + row_h[i] * kHeadDim);
#pragma unroll
      for (int n = 0; n < 8; ++n) dst[(8 * n + 2 * tq) / 2] = pack_bf16x2(o[n][2 * i] * inv, o[n][2 * i + 1] * inv);
    }
    run0 = run1;
  }
#endif
}

template <int kGroup>
void launch_flash(const bf16_raw* q, const bf16_raw* cache, const bf16_raw* sinks, int T, int n_heads, int n_kv,
                  const TokenKv& tk, bool sliding, int window, bf16_raw* out, cudaStream_t s) {
  constexpr int kTokens = kWarps * (16 / kGroup);
  launch(flash_attention_kernel<kGroup>, dim3((T + kTokens - 1) / kTokens, n_kv), kThreads, s, q, cache, sinks, T,
         n_heads, n_kv, tk, sliding, window, out);
}

}  // namespace

bool flash_attention_supported(int n_heads, int n_kv, int head_dim) {
  if (head_dim != kHeadDim || n_kv <= 0 || n_heads % n_kv != 0) return false;
  const int group = n_heads / n_kv;
  if (group != 1 && group != 2 && group != 4 && group != 8 && group != 16) return false;
  int dev = 0, major = 0;
  if (cudaGetDevice(&dev) != cudaSuccess) return false;
  if (cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, dev) != cudaSuccess) return false;
  return major >= 8;  // bf16 mma, ldmatrix and cp.async
}

void flash_attention(const bf16_raw* q, const bf16_raw* layer_cache, const bf16_raw* sinks, int T, int n_heads,
                     int n_kv, const TokenKv& tk, bool sliding, int window, bf16_raw* out, cudaStream_t s) {
  if (T <= 0) return;
  switch (n_heads / n_kv) {
    case 1: return launch_flash<1>(q, layer_cache, sinks, T, n_heads, n_kv, tk, sliding, window, out, s);
    case 2: return launch_flash<2>(q, layer_cache, sinks, T, n_heads, n_kv, tk, sliding, window, out, s);
    case 4: return launch_flash<4>(q, layer_cache, sinks, T, n_heads, n_kv, tk, sliding, window, out, s);
    case 8: return launch_flash<8>(q, layer_cache, sinks, T, n_heads, n_kv, tk, sliding, window, out, s);
    case 16: return launch_flash<16>(q, layer_cache, sinks, T, n_heads, n_kv, tk, sliding, window, out, s);
    default: throw std::invalid_argument("flash_attention: GQA group must be 1, 2, 4, 8 or 16");
  }
}

}  // namespace gptoss::cuda
