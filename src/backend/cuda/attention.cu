// Paged attention with learned sinks and the sliding window, head_dim 64.
//
// One block per (token, kv head); one warp per query head of the GQA group, so
// the group's K/V tiles are loaded once into shared memory and used by all of
// its query heads. Keys go through in tiles of 32 with an online softmax; the
// sink joins the softmax at the end and is dropped. Works for prefill (tokens
// see the keys of their own step, already in the cache) and decode alike.
#include "backend/cuda/cuda_common.cuh"
#include "backend/cuda/cuda_kernels.h"
#include "backend/cuda/launch.cuh"

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

__global__ void attention_kernel(const uint16_t* q, const uint16_t* cache, const uint16_t* sinks, int n_heads,
                                 int n_kv, TokenKv tk, bool sliding, int window, uint16_t* out, int splits,
                                 float* part) {
  pdl_enter();
  const int t = blockIdx.x, g = blockIdx.y;
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const int group = n_heads / n_kv, h = g * group + warp;
  const int KV = n_kv * kHeadDim, Q = n_heads * kHeadDim;
  const int seq = tk.seq[t];
  int last = tk.pos[t];
  int first = sliding ? max(0, last - window + 1) : 0;
  if (splits > 1) {
    const int share = ((last - first + splits) / splits + kTile - 1) / kTile * kTile;
    first += blockIdx.z * share;
    last = min(last, first + share - 1);  // may end before it starts: an empty share
  }

  __shared__ uint32_t k_tile[kTile][kWords + 1];  // +1 word: conflict-free column reads
  __shared__ uint32_t v_tile[kTile][kWords];
  __shared__ float2 q_sh[32][kWords];

  const uint32_t* q32 = reinterpret_cast<const uint32_t*>(q + size_t(t) * Q + h * kHeadDim);
  if (warp < group) {
    uint32_t qw = q32[lane];
    q_sh[warp][lane] = make_float2(bf2f(uint16_t(qw & 0xffff)), bf2f(uint16_t(qw >> 16)));
  }
  const float scale = rsqrtf(float(kHeadDim));
  float m = -INFINITY, l = 0.0f, acc0 = 0.0f, acc1 = 0.0f;

  for (int j0 = first; j0 <= last; j0 += kTile) {
    __syncthreads();
    // 32 keys x 16 chunks of 4 words (K and V) spread over the block.
    for (int i = threadIdx.x; i < kTile * 16; i += blockDim.x) {
      const int jj = i >> 4, c = i & 15, j = j0 + jj;
      const bool is_v = c >= 8;
      const int chunk = c & 7;
      uint4 val = make_uint4(0, 0, 0, 0);
      if (j <= last) {
        const int b = j / tk.block_size, r = j % tk.block_size;
        const int32_t block = sliding ? tk.window_table[seq * tk.window_pitch + b % tk.window_len[seq]]
                                      : tk.full_table[seq * tk.full_pitch + b];
        const uint16_t* row = cache + ((size_t(block) * 2 + (is_v ? 1 : 0)) * tk.block_size + r) * KV + g * kHeadDim;
        val = reinterpret_cast<const uint4*>(row)[chunk];
      }
      uint32_t* dst = is_v ? &v_tile[jj][chunk * 4] : &k_tile[jj][chunk * 4];
      dst[0] = val.x;
      dst[1] = val.y;
      dst[2] = val.z;
      dst[3] = val.w;
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
    const float m_new = fmaxf(m, warp_max(s));
    const float p = (j0 + lane <= last) ? __expf(s - m_new) : 0.0f;
    const float corr = __expf(m - m_new);
    l = l * corr + warp_sum(p);
    acc0 *= corr;
    acc1 *= corr;
#pragma unroll 8
    for (int jj = 0; jj < kTile; ++jj) {
      const float pj = __shfl_sync(0xffffffffu, p, jj);
      const uint32_t vw = v_tile[jj][lane];
      acc0 += pj * bf2f(uint16_t(vw & 0xffff));
      acc1 += pj * bf2f(uint16_t(vw >> 16));
    }
    m = m_new;
  }
  if (warp >= group) return;
  if (splits > 1) {
    float* p = part + ((size_t(t) * n_heads + h) * splits + blockIdx.z) * kPart;
    p[2 * lane] = acc0;
    p[2 * lane + 1] = acc1;
    if (lane == 0) p[kHeadDim] = m, p[kHeadDim + 1] = l;
    return;
  }
  const float sink = bf2f(sinks[h]);
  const float m_fin = fmaxf(m, sink);
  const float corr = __expf(m - m_fin);
  const float denom = l * corr + __expf(sink - m_fin);
  uint32_t packed = uint32_t(f2bf(acc0 * corr / denom)) | (uint32_t(f2bf(acc1 * corr / denom)) << 16);
  reinterpret_cast<uint32_t*>(out + size_t(t) * Q + h * kHeadDim)[lane] = packed;
}

// One warp per (token, head): merges the splits' partials with the sink.
__global__ void combine_kernel(const float* part, const uint16_t* sinks, int n_heads, int splits, uint16_t* out) {
  pdl_enter();
  const int t = blockIdx.x, h = blockIdx.y, lane = threadIdx.x;
  const float* p = part + (size_t(t) * n_heads + h) * splits * kPart;
  const float sink = bf2f(sinks[h]);
  float M = sink;
  for (int s = 0; s < splits; ++s) M = fmaxf(M, p[s * kPart + kHeadDim]);
  float denom = __expf(sink - M), acc0 = 0.0f, acc1 = 0.0f;
  for (int s = 0; s < splits; ++s) {
    const float* ps = p + s * kPart;
    const float w = __expf(ps[kHeadDim] - M);  // 0 for an empty share (m = -inf)
    denom += ps[kHeadDim + 1] * w;
    acc0 += ps[2 * lane] * w;
    acc1 += ps[2 * lane + 1] * w;
  }
  const uint32_t packed = uint32_t(f2bf(acc0 / denom)) | (uint32_t(f2bf(acc1 / denom)) << 16);
  reinterpret_cast<uint32_t*>(out + size_t(t) * n_heads * kHeadDim + h * kHeadDim)[lane] = packed;
}

}  // namespace

size_t attention_scratch_floats(int T, int n_heads, int splits) { return size_t(T) * n_heads * splits * kPart; }

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
