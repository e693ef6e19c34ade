// Decode attention over keys that all fit in shared memory: a sliding layer's
// 128-key window, or a full layer's context while it is short.
//
// A one-token step's attention is little work behind a chain of waits: rope
// and its KV store as a kernel of their own, then tiles of keys each a round
// trip to memory, with o_proj (launched early) pulling its 24 MB of weights
// into the same queues; and 8 blocks whose warps each walk all the keys. Here
// block (t, g) loads kv head g's past keys and values before its PDL wait
// (they were written by earlier steps; launch.cuh), ropes q, k and v itself
// after it and adds the new key to the cache and to its copy. kSplit = 4
// warps per query head each take a quarter of the keys; the softmax over at
// most 128 scores needs no online rescaling.
//
// Measured on the H100 (synthetic:20b, scripts/device/timeline.sh, one token,
// 2026-11-24), qkv + rope + attention + o_proj on the critical path per layer:
// separate kernels 26.4 us; this kernel with 1 warp per head 25.8, 2 warps
// 24.3, 4 warps 23.0 (tg128 481 -> 485 / 497 / 501-503 t/s). The blocks
// become resident only as qkv drains (0.5 us before their wait ends), so
// loading the past keys after the wait instead measured the same. Letting
// o_proj launch (its weights then queue ahead of this kernel's loads) right
// after the wait, after the loads, or at the end: step 1831 / 1846 / 1894 us,
// tg128 518.1 519.6 / 517.5 515.2 / 516.1 518.6 t/s. Full layers up to 768
// keys with 204 KB of dynamic shared memory per block: one sequence at
// 512+64 fell 490 -> 467 t/s (2 rounds against the split kernels), each of
// the 8 blocks pulling its 130-150 KB of keys through one SM; 4 sequences
// 1069 -> 1073.
#include "backend/cuda/cuda_common.cuh"
#include "backend/cuda/cuda_kernels.h"
#include "backend/cuda/decode_rope.cuh"
#include "backend/cuda/launch.cuh"
#include "backend/cuda/paged_kv.cuh"

namespace gptoss::cuda {

namespace {

constexpr int kHeadDim = 64;
constexpr int kMaxGroup = 8;  // query heads per kv head
// Key rows padded to 144 bytes: the 16-byte reads of 8 lanes (one phase of a
// warp's 128-bit shared load), each on its own key, then hit distinct banks.
constexpr int kKeyWords = kHeadDim / 2 + 4;

// Warps per query head, each over a kSplit-th of the keys: with one token a
// step has only n_kv blocks, and a warp's dot products and value sums over
// all 128 keys are a long dependent chain.
constexpr int kSplit = 4;

__global__ void __launch_bounds__(kMaxGroup * 32 * kSplit, 1) staged_decode_attention_kernel(
    const float* qkv, const uint16_t* bias, const float* inv_freq, float att_factor, const uint16_t* sinks,
    int n_heads, int n_kv, TokenKv tk, bool sliding, int window, uint16_t* cache, uint16_t* out) {
  constexpr int kShareKeys = kStagedKeys / kSplit, kKeysPerLane = kShareKeys / 32;
  constexpr int kPieces = kStagedKeys * 16 / (kMaxGroup * 32 * kSplit);  // per thread, 16 bytes each
  __shared__ __align__(16) uint32_t k_sh[kStagedKeys][kKeyWords];
  __shared__ __align__(16) uint32_t v_sh[kStagedKeys][kHeadDim / 2];
  __shared__ __align__(16) float q_sh[kMaxGroup][kHeadDim];
  __shared__ float part_m[kSplit][kMaxGroup], part_l[kSplit][kMaxGroup];
  static_assert(sizeof(float2) * kSplit * kMaxGroup * 32 <= sizeof(k_sh), "partial sums reuse the keys' space");
  const int t = blockIdx.x, g = blockIdx.y;
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const int group = n_heads / n_kv, head = warp % group, share = warp / group, h = g * group + head;
  const int KV = n_kv * kHeadDim, Q = n_heads * kHeadDim;
  const int seq = __ldcg(tk.seq + t), pos = __ldcg(tk.pos + t);
  const int first = sliding ? max(0, pos - window + 1) : 0;
  const int n = pos - first + 1;  // keys; the last is the token's own
  if (n > kStagedKeys) __trap();  // the host checks staged_decode_attention_fits

  // The past keys and values, 16 bytes a piece (8 per row), before the wait.
  for (int base = 0; base < (n - 1) * 16; base += kPieces * int(blockDim.x)) {
    uint4 piece[kPieces];
#pragma unroll
    for (int i = 0; i < kPieces; ++i) {
      const int c = base + i * int(blockDim.x) + int(threadIdx.x), j = c >> 4;
      if (j < n - 1) {
        const uint16_t* row = cache + kv_row_offset<true>(tk, sliding, seq, first + j, KV, g, kHeadDim, (c >> 3) & 1);
        piece[i] = __ldcg(reinterpret_cast<const uint4*>(row) + (c & 7));
      }
    }
#pragma unroll
    for (int i = 0; i < kPieces; ++i) {
      const int c = base + i * int(blockDim.x) + int(threadIdx.x), j = c >> 4;
      if (j < n - 1) *reinterpret_cast<uint4*>(((c >> 3) & 1 ? &v_sh[j][0] : &k_sh[j][0]) + (c & 7) * 4) = piece[i];
    }
  }
  // Which warps rope what: every query head in share 0, k and v by the last
  // warps (their loads all go out at once after the wait). Biases, the sink
  // and the cache slot are read before the wait.
  const DecodeRope rope(qkv + size_t(t) * (Q + 2 * KV), bias, inv_freq, att_factor, pos);
  const int n_warps = group * kSplit;
  const bool k_warp = warp == n_warps - 1, v_warp = warp == max(0, n_warps - 2);
  const int q_base = h * kHeadDim, k_base = Q + g * kHeadDim, v_base = Q + KV + g * kHeadDim;
  const float2 q_bias = share == 0 ? rope.bias_pair(q_base) : float2{};
  const float2 k_bias = k_warp ? rope.bias_pair(k_base) : float2{};
  const float2 v_bias = v_warp ? rope.bias_pair(v_base) : float2{};
  uint16_t* kdst = k_warp || v_warp ? cache + kv_row_offset<true>(tk, sliding, seq, pos, KV, g, kHeadDim, 0) : nullptr;
  const float sink = bf2f(sinks[h]);

  pdl_enter(Release::kAtEntry);
  if (share == 0) rope.rotate(q_base, q_bias, q_sh[head][lane], q_sh[head][lane + 32]);
  if (k_warp) {
    float k1, k2;
    rope.rotate(k_base, k_bias, k1, k2);
    uint16_t* k_own = reinterpret_cast<uint16_t*>(&k_sh[n - 1][0]);
    kdst[lane] = k_own[lane] = f2bf(k1);
    kdst[lane + 32] = k_own[lane + 32] = f2bf(k2);
  }
  if (v_warp) {
    uint16_t* vdst = kdst + size_t(tk.block_size) * KV;
    uint16_t* v_own = reinterpret_cast<uint16_t*>(&v_sh[n - 1][0]);
    rope.plain(v_base, v_bias, v_own[lane], v_own[lane + 32]);
    vdst[lane] = v_own[lane];
    vdst[lane + 32] = v_own[lane + 32];
  }
  __syncthreads();

  // Scores: lane l of share z takes keys z * kShareKeys + l + 32 i (its rows
  // read 16 bytes at a time).
  const float scale = rsqrtf(float(kHeadDim));
  const float2* q2 = reinterpret_cast<const float2*>(q_sh[head]);
  const int j0 = share * kShareKeys;
  float s[kKeysPerLane];
  float m = -INFINITY;
#pragma unroll
  for (int i = 0; i < kKeysPerLane; ++i) {
    const int j = j0 + lane + 32 * i;
    s[i] = -INFINITY;
    if (j >= n) continue;
    const uint4* kr = reinterpret_cast<const uint4*>(&k_sh[j][0]);
    float acc = 0.0f;
#pragma unroll
    for (int c = 0; c < kHeadDim / 8; ++c) {
      const uint4 kw = kr[c];
      const uint32_t w4[4] = {kw.x, kw.y, kw.z, kw.w};
#pragma unroll
      for (int u = 0; u < 4; ++u) {
        const float2 qq = q2[4 * c + u];
        acc += qq.x * bf2f(uint16_t(w4[u] & 0xffff)) + qq.y * bf2f(uint16_t(w4[u] >> 16));
      }
    }
    s[i] = acc * scale;
    m = fmaxf(m, s[i]);
  }
  m = warp_max(m);
  if (lane == 0) part_m[share][head] = m;
  __syncthreads();
  m = part_m[0][head];
#pragma unroll
  for (int z = 1; z < kSplit; ++z) m = fmaxf(m, part_m[z][head]);
  m = fmaxf(m, sink);
  float l = 0.0f;
#pragma unroll
  for (int i = 0; i < kKeysPerLane; ++i) {
    s[i] = j0 + lane + 32 * i < n ? __expf(s[i] - m) : 0.0f;
    l += s[i];
  }
  l = warp_sum(l);

  // Values: lane l owns dimensions 2l and 2l + 1; the probabilities come
  // from their lanes. Rows past n were never loaded (and may hold NaNs).
  float acc0 = 0.0f, acc1 = 0.0f;
#pragma unroll
  for (int i = 0; i < kKeysPerLane; ++i) {
    const int jb = j0 + 32 * i, nj = min(32, n - jb);
#pragma unroll 8
    for (int jj = 0; jj < nj; ++jj) {
      const float p = __shfl_sync(0xffffffffu, s[i], jj);
      const uint32_t vw = v_sh[jb + jj][lane];
      acc0 += p * bf2f(uint16_t(vw & 0xffff));
      acc1 += p * bf2f(uint16_t(vw >> 16));
    }
  }
  float2(*part_acc)[kMaxGroup][32] = reinterpret_cast<float2(*)[kMaxGroup][32]>(&k_sh[0][0]);
  part_acc[share][head][lane] = make_float2(acc0, acc1);
  if (lane == 0) part_l[share][head] = l;
  __syncthreads();
  if (share != 0) return;
#pragma unroll
  for (int z = 1; z < kSplit; ++z) {
    const float2 a = part_acc[z][head][lane];
    acc0 += a.x, acc1 += a.y, l += part_l[z][head];
  }
  l += __expf(sink - m);
  reinterpret_cast<uint32_t*>(out + size_t(t) * Q + h * kHeadDim)[lane] = pack_bf16x2(acc0 / l, acc1 / l);
}

}  // namespace

bool staged_decode_attention_fits(int keys, int n_heads, int n_kv, int head_dim) {
  return keys <= kStagedKeys && head_dim == kHeadDim && n_kv > 0 && n_heads % n_kv == 0 &&
         n_heads / n_kv <= kMaxGroup;
}

void staged_decode_attention(const float* qkv, const bf16_raw* bias, const float* inv_freq, float attention_factor,
                             int T, int n_heads, int n_kv, const TokenKv& tk, bool sliding, int window,
                             bf16_raw* layer_cache, const bf16_raw* sinks, bf16_raw* out, cudaStream_t s) {
  if (T <= 0) return;
  launch(staged_decode_attention_kernel, dim3(T, n_kv), (n_heads / n_kv) * kSplit * 32, s, qkv, bias, inv_freq,
         attention_factor, sinks, n_heads, n_kv, tk, sliding, window, layer_cache, out);
}

}  // namespace gptoss::cuda
