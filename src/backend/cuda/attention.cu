// Paged attention with learned sinks and the sliding window, head_dim 64.
//
// One block per (token, kv head); one warp per query head of the GQA group, so
// the group's K/V tiles are loaded once into shared memory and used by all of
// its query heads. Keys go through in tiles of 32 with an online softmax; the
// sink joins the softmax at the end and is dropped. Works for prefill (tokens
// see the keys of their own step, already in the cache) and decode alike.
#include "backend/cuda/cuda_common.cuh"
#include "backend/cuda/cuda_kernels.h"
#include "backend/cuda/decode_rope.cuh"
#include "backend/cuda/launch.cuh"
#include "backend/cuda/paged_kv.cuh"

namespace gptoss::cuda {

namespace {

constexpr int kTile = 32;
constexpr int kHeadDim = 64;
constexpr int kWords = kHeadDim / 2;  // bf16 pairs per row

// With splits > 1 (flash-decoding) block z takes the z-th share of the keys
// and leaves its unnormalised partial (acc, max, sum) in `part`; combine_kernel
// then merges the shares and the sink. A decode token on a full-attention
// layer otherwise has only n_kv blocks to walk its whole context.
constexpr int kPart = kHeadDim + 2;  // floats per (token, head, split): acc, m, l

// The online softmax over keys [first, last] of kv head g for warp `warp`'s
// query head (q_sh[warp]); warps >= group only help load the tiles. Every
// thread of the block must call it (it synchronises).
struct SoftmaxState {
  float m = -INFINITY, l = 0.0f, acc0 = 0.0f, acc1 = 0.0f;
};

__device__ __forceinline__ SoftmaxState attend_keys(const float2 (*q_sh)[kWords], const uint16_t* cache, const TokenKv& tk,
                                                    bool sliding, int seq, int g, int KV, int group, int first,
                                                    int last) {
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  __shared__ uint32_t k_tile[kTile][kWords + 1];  // +1 word: conflict-free column reads
  __shared__ uint32_t v_tile[kTile][kWords];
  const float scale = rsqrtf(float(kHeadDim));
  // 32 keys x 16 chunks of 4 words (K and V) spread over the block.
  auto load_chunk = [&](int j0, int i) {
    const int jj = i >> 4, c = i & 15, j = j0 + jj;
    uint4 val = make_uint4(0, 0, 0, 0);
    if (i < kTile * 16 && j <= last) {
      const uint16_t* row = cache + kv_row_offset(tk, sliding, seq, j, KV, g, kHeadDim, c >= 8 ? 1 : 0);
      val = reinterpret_cast<const uint4*>(row)[c & 7];
    }
    return val;
  };
  auto store_chunk = [&](int i, uint4 val) {
    if (i >= kTile * 16) return;
    const int jj = i >> 4, c = i & 15;
    uint32_t* dst = c >= 8 ? &v_tile[jj][(c & 7) * 4] : &k_tile[jj][c * 4];
    dst[0] = val.x;
    dst[1] = val.y;
    dst[2] = val.z;
    dst[3] = val.w;
  };
  // The next tile's loads go out before the current tile is used, so a block
  // waits for memory once rather than once per tile (blocks of 256 threads or
  // more, as gpt-oss's 8 query heads per kv head give; smaller ones load each
  // tile when they need it). H100, synthetic:20b, 2026-11-23, mean of four
  // runs in two processes: tg128 421.5 -> 425.9 t/s, 16 sequences 2040 ->
  // 2129, 64 sequences 6842 -> 6861 (48 registers; capped at 40 for 6 blocks
  // per SM: 424 / 2063 / 6826; also loading the block-table entries a tile
  // further ahead: 421.6 / 2114 / 6770).
  constexpr int kAhead = 2;
  const int per = (kTile * 16 + int(blockDim.x) - 1) / int(blockDim.x);
  const bool ahead = per <= kAhead;
  uint4 next[kAhead];
  if (ahead) {
#pragma unroll
    for (int k = 0; k < kAhead; ++k)
      if (k < per) next[k] = load_chunk(first, threadIdx.x + k * blockDim.x);
  }
  SoftmaxState st;
  for (int j0 = first; j0 <= last; j0 += kTile) {
    __syncthreads();
    if (ahead) {
#pragma unroll
      for (int k = 0; k < kAhead; ++k)
        if (k < per) store_chunk(threadIdx.x + k * blockDim.x, next[k]);
      if (j0 + kTile <= last) {
#pragma unroll
        for (int k = 0; k < kAhead; ++k)
          if (k < per) next[k] = load_chunk(j0 + kTile, threadIdx.x + k * blockDim.x);
      }
    } else {
      for (int i = threadIdx.x; i < kTile * 16; i += blockDim.x) store_chunk(i, load_chunk(j0, i));
    }
    __syncthreads();
    if (warp >= group) continue;
    // Lane jj scores key j0 + jj.
    float s = 0.0f;
#pragma unroll 8
    for (int w = 0; w < kWords; ++w) {
      const uint32_t kw = k_tile[lane][w];
      const float2 qq = q_sh[warp][w];
      s += qq.x * bf2f(uint16_t(kw & 0xffff)) + qq.y * bf2f(uint16_t(kw >> 16));
    }
    s = (j0 + lane <= last) ? s * scale : -INFINITY;
    const float m_new = fmaxf(st.m, warp_max(s));
    const float p = (j0 + lane <= last) ? __expf(s - m_new) : 0.0f;
    const float corr = __expf(st.m - m_new);
    st.l = st.l * corr + warp_sum(p);
    st.acc0 *= corr;
    st.acc1 *= corr;
#pragma unroll 8
    for (int jj = 0; jj < kTile; ++jj) {
      const float pj = __shfl_sync(0xffffffffu, p, jj);
      const uint32_t vw = v_tile[jj][lane];
      st.acc0 += pj * bf2f(uint16_t(vw & 0xffff));
      st.acc1 += pj * bf2f(uint16_t(vw >> 16));
    }
    st.m = m_new;
  }
  return st;
}

// Keys [first, last] of split z out of `splits` (all of them when splits == 1).
__device__ __forceinline__ void split_range(int splits, int z, int& first, int& last) {
  if (splits <= 1) return;
  const int share = ((last - first + splits) / splits + kTile - 1) / kTile * kTile;
  first += z * share;
  last = min(last, first + share - 1);  // may end before it starts: an empty share
}

// Head h's output from one softmax state and the sink.
__device__ __forceinline__ void write_head(const SoftmaxState& st, float sink, uint16_t* out_head) {
  const float m_fin = fmaxf(st.m, sink);
  const float corr = __expf(st.m - m_fin);
  const float denom = st.l * corr + __expf(sink - m_fin);
  const uint32_t packed = uint32_t(f2bf(st.acc0 * corr / denom)) | (uint32_t(f2bf(st.acc1 * corr / denom)) << 16);
  reinterpret_cast<uint32_t*>(out_head)[threadIdx.x & 31] = packed;
}

__device__ __forceinline__ void write_partial(const SoftmaxState& st, float* p) {
  const int lane = threadIdx.x & 31;
  p[2 * lane] = st.acc0;
  p[2 * lane + 1] = st.acc1;
  if (lane == 0) p[kHeadDim] = st.m, p[kHeadDim + 1] = st.l;
}

// One warp: merges head h's split partials p[splits][kPart] with the sink.
// __ldcg: partials written by other blocks of the same grid are read from L2.
__device__ __forceinline__ void merge_splits(const float* p, int splits, float sink, uint16_t* out_head) {
  const int lane = threadIdx.x & 31;
  float M = sink;
  for (int s = 0; s < splits; ++s) M = fmaxf(M, __ldcg(p + s * kPart + kHeadDim));
  float denom = __expf(sink - M), acc0 = 0.0f, acc1 = 0.0f;
  for (int s = 0; s < splits; ++s) {
    const float* ps = p + s * kPart;
    const float w = __expf(__ldcg(ps + kHeadDim) - M);  // 0 for an empty share (m = -inf)
    denom += __ldcg(ps + kHeadDim + 1) * w;
    acc0 += __ldcg(ps + 2 * lane) * w;
    acc1 += __ldcg(ps + 2 * lane + 1) * w;
  }
  const uint32_t packed = uint32_t(f2bf(acc0 / denom)) | (uint32_t(f2bf(acc1 / denom)) << 16);
  reinterpret_cast<uint32_t*>(out_head)[lane] = packed;
}

__global__ void attention_kernel(const uint16_t* q, const uint16_t* cache, const uint16_t* sinks, int n_heads,
                                 int n_kv, TokenKv tk, bool sliding, int window, uint16_t* out, int splits,
                                 float* part) {
  pdl_enter(Release::kAtEntry);
  const int t = blockIdx.x, g = blockIdx.y;
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const int group = n_heads / n_kv, h = g * group + warp;
  const int KV = n_kv * kHeadDim, Q = n_heads * kHeadDim;
  const int seq = tk.seq[t];
  int last = tk.pos[t];
  int first = sliding ? max(0, last - window + 1) : 0;
  split_range(splits, blockIdx.z, first, last);

  __shared__ float2 q_sh[32][kWords];
  const uint32_t* q32 = reinterpret_cast<const uint32_t*>(q + size_t(t) * Q + h * kHeadDim);
  if (warp < group) {
    uint32_t qw = q32[lane];
    q_sh[warp][lane] = make_float2(bf2f(uint16_t(qw & 0xffff)), bf2f(uint16_t(qw >> 16)));
  }
  const SoftmaxState st = attend_keys(q_sh, cache, tk, sliding, seq, g, KV, group, first, last);
  if (warp >= group) return;
  if (splits > 1)
    write_partial(st, part + ((size_t(t) * n_heads + h) * splits + blockIdx.z) * kPart);
  else
    write_head(st, bf2f(sinks[h]), out + size_t(t) * Q + h * kHeadDim);
}

// One warp per (token, head): merges the splits' partials with the sink.
__global__ void combine_kernel(const float* part, const uint16_t* sinks, int n_heads, int splits, uint16_t* out) {
  pdl_enter(Release::kAtEntry);
  const int t = blockIdx.x, h = blockIdx.y;
  merge_splits(part + (size_t(t) * n_heads + h) * splits * kPart, splits, bf2f(sinks[h]),
               out + size_t(t) * n_heads * kHeadDim + h * kHeadDim);
}

// Decode steps (one new token per sequence): rope, the KV-cache store,
// attention and the merge of the key splits in one launch. Block (t, g, z)
// ropes the q heads of kv group g itself (in bf16, as rope_store_kv stores
// them); the block whose share holds the token's own position also stores its
// k and v before reading the cache. The last block of (t, g) to finish merges
// the splits (a counter per (t, g), reset by that block).
__global__ void decode_attention_kernel(const float* qkv, const uint16_t* bias, const float* inv_freq,
                                        float att_factor, const uint16_t* sinks, int n_heads, int n_kv, TokenKv tk,
                                        bool sliding, int window, uint16_t* cache, uint16_t* out, int splits,
                                        float* part, int* counters) {
  pdl_enter(Release::kAtEntry);
  const int t = blockIdx.x, g = blockIdx.y, z = blockIdx.z;
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const int group = n_heads / n_kv, h = g * group + warp;
  const int KV = n_kv * kHeadDim, Q = n_heads * kHeadDim, half = kHeadDim / 2;
  const int seq = tk.seq[t], pos = tk.pos[t];
  int first = sliding ? max(0, pos - window + 1) : 0, last = pos;
  split_range(splits, z, first, last);
  const DecodeRope rope(qkv + size_t(t) * (Q + 2 * KV), bias, inv_freq, att_factor, pos);
  __shared__ float q_f[32][kHeadDim];
  if (warp < group) rope.rotate(h * kHeadDim, q_f[warp][lane], q_f[warp][lane + half]);
  if (first <= pos && pos <= last && warp == 0) {
    float k1, k2;
    rope.rotate(Q + g * kHeadDim, k1, k2);
    uint16_t* kdst = cache + kv_row_offset(tk, sliding, seq, pos, KV, g, kHeadDim, 0);
    uint16_t* vdst = kdst + size_t(tk.block_size) * KV;
    kdst[lane] = f2bf(k1);
    kdst[lane + half] = f2bf(k2);
    rope.plain(Q + KV + g * kHeadDim, vdst[lane], vdst[lane + half]);
  }
  __syncthreads();  // q_f complete; the block's own k/v stores visible to its loads
  __shared__ float2 q_sh[32][kWords];
  if (warp < group) q_sh[warp][lane] = make_float2(q_f[warp][2 * lane], q_f[warp][2 * lane + 1]);
  // attend_keys synchronises before it reads q_sh.
  const SoftmaxState st = attend_keys(q_sh, cache, tk, sliding, seq, g, KV, group, first, last);
  if (splits <= 1) {
    if (warp < group) write_head(st, bf2f(sinks[h]), out + size_t(t) * Q + h * kHeadDim);
    return;
  }
  float* head_part = part + (size_t(t) * n_heads + h) * splits * kPart;
  if (warp < group) write_partial(st, head_part + z * kPart);
  __threadfence();
  __syncthreads();
  __shared__ bool merge;
  if (threadIdx.x == 0) {
    int* counter = counters + t * n_kv + g;
    merge = atomicAdd(counter, 1) == splits - 1;
    if (merge) *counter = 0;  // ready for the next layer
  }
  __syncthreads();
  if (!merge || warp >= group) return;
  __threadfence();
  merge_splits(head_part, splits, bf2f(sinks[h]), out + size_t(t) * Q + h * kHeadDim);
}

}  // namespace

size_t attention_scratch_floats(int T, int n_heads, int splits) { return size_t(T) * n_heads * splits * kPart; }

void decode_attention(const float* qkv, const bf16_raw* bias, const float* inv_freq, float attention_factor, int T,
                      int n_heads, int n_kv, int head_dim, const TokenKv& tk, bool sliding, int window,
                      bf16_raw* layer_cache, const bf16_raw* sinks, bf16_raw* out, cudaStream_t s, int splits,
                      float* scratch, int* counters) {
  (void)head_dim;  // checked by the runner: 64
  if (T <= 0) return;
  if (!scratch || !counters) splits = 1;
  launch(decode_attention_kernel, dim3(T, n_kv, splits), (n_heads / n_kv) * 32, s, qkv, bias, inv_freq,
         attention_factor, sinks, n_heads, n_kv, tk, sliding, window, layer_cache, out, splits, scratch, counters);
}

void attention(const bf16_raw* q, const bf16_raw* layer_cache, int /*num_blocks*/, const bf16_raw* sinks, int T,
               int n_heads, int n_kv, int head_dim, const TokenKv& tk, bool sliding, int window, bf16_raw* out,
               cudaStream_t s, int splits, float* scratch) {
  (void)head_dim;  // checked by the runner: 64
  if (T <= 0) return;
  if (!scratch) splits = 1;
  dim3 grid(T, n_kv, splits);
  launch(attention_kernel, grid, (n_heads / n_kv) * 32, s, q, layer_cache, sinks, n_heads, n_kv, tk, sliding, window,
         out, splits, scratch);
  if (splits > 1) launch(combine_kernel, dim3(T, n_heads), 32, s, scratch, sinks, n_heads, splits, out);
}

}  // namespace gptoss::cuda
