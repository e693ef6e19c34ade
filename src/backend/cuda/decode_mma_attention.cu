// Attention for tokens that each bring few new keys (decode steps of many
// sequences, a mixed step's decode tokens) on tensor cores; head_dim 64.
//
// attention.cu gives each (token, kv head) a block whose warps, one per query
// head, score keys and sum values in float32 FMAs: about 400 instructions a
// warp per 32 keys, so at 256 sequences it is bound by issue, not by the KV
// bytes. Here the GQA group's query heads (up to 8) are the N dimension of an
// mma.m16n8k16 and the keys its M dimension, so nothing is padded:
//   S^T (keys x heads) = K (keys x dims) . Q^T    (K from shared memory by ldmatrix)
//   O^T (dims x heads) += V^T (dims x keys) . P^T (V by ldmatrix.trans)
// P^T goes from the first product's accumulators to the second's B operand
// with movmatrix (an 8x8 transpose across the warp). Each of a block's warps
// walks every kWarps-th 32-key tile of the token's range with its own
// double-buffered cp.async stages; the warps' softmax states are merged in
// shared memory with the sink at the end (scores in base 2).
//
// P goes into the second product as two bf16 halves, hi + lo, so that it
// keeps ~16 bits as attention.cu's float32 P does (flash attention rounds it
// once). Rounded once, the tiny fixture's near-tie routing tipped: one
// sequence of 40 decoding together was 0.415 in the logits away from itself
// alone (CudaRunner.BatchedDecodeEqualsAlone); with hi + lo 7.6e-3, at the
// same speed (H100, 256 sequences: 19935 vs 19944 t/s, 2026-12-08).
//
// H100, synthetic:20b, 512+128, same call (2026-12-07): 256 sequences 15805
// -> 18008 decode t/s; 64 sequences (where it replaces the fused kernel of
// attention.cu) 8983 -> 9572. GPTOSS_PROFILE, 256 sequences at 512+32: the
// step 15103 -> 16631 t/s.
#include <stdexcept>

#include "backend/cuda/async_copy.cuh"
#include "backend/cuda/cuda_common.cuh"
#include "backend/cuda/cuda_kernels.h"
#include "backend/cuda/launch.cuh"
#include "backend/cuda/paged_kv.cuh"
#include "core/env.h"

namespace gptoss::cuda {

namespace {

constexpr int kHeadDim = 64;
constexpr int kKeys = 32;  // keys per warp tile
constexpr int kWarps = 4;
constexpr int kStages = 2;
constexpr int kChunks = kHeadDim / 8;  // 16-byte chunks per key row
constexpr int kMaxGroup = 8;           // query heads per kv head: the MMA's N

struct WarpStage {
  uint4 k[kKeys * kChunks];
  uint4 v[kKeys * kChunks];
};
// What a warp leaves for the merge, per head: m, l and O (base-2 scores).
struct WarpResult {
  float m[kMaxGroup], l[kMaxGroup];
  float o[kMaxGroup][kHeadDim];
};
union Smem {
  WarpStage stage[kWarps][kStages];
  WarpResult result[kWarps];
};
constexpr size_t kSmemBytes = sizeof(Smem);

// Chunk c of key row r at c ^ (r & 7): ldmatrix's eight 16-byte rows hit
// eight different bank groups.
__device__ __forceinline__ int swz(int row, int chunk) { return row * kChunks + (chunk ^ (row & 7)); }

__device__ __forceinline__ uint32_t transpose8x8(uint32_t x) {
  uint32_t y = x;
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  asm volatile("movmatrix.sync.aligned.m8n8.trans.b16 %0, %1;\n" : "=r"(y) : "r"(x));
#endif
  return y;
}

// Keys [j0, j0 + kKeys) of kv head g into a warp's stage; keys past `last`
// are zero (their scores are masked; zero values keep p * v finite). Lane
// takes chunk lane % 8 of rows lane / 8 + 4 i, its key and its value.
__device__ __forceinline__ void load_tile(WarpStage& st, const uint16_t* cache, const TokenKv& tk, bool sliding,
                                          int seq, int g, int KV, int j0, int last) {
  const int lane = threadIdx.x & 31, c = lane & 7;
#pragma unroll
  for (int i = 0; i < kKeys / 4; ++i) {
    const int r = (lane >> 3) + 4 * i, j = j0 + r;
    const bool valid = j <= last;
    const uint16_t* k = valid ? cache + kv_row_offset(tk, sliding, seq, j, KV, g, kHeadDim, 0) + c * 8 : cache;
    const uint16_t* v = valid ? k + size_t(tk.block_size) * KV : cache;
    cp_async16(&st.k[swz(r, c)], k, valid);
    cp_async16(&st.v[swz(r, c)], v, valid);
  }
}

template <bool kSplitP>
__global__ void __launch_bounds__(kWarps * 32) decode_mma_attention_kernel(const uint16_t* q, const uint16_t* cache,
                                                                          const uint16_t* sinks, int n_heads, int n_kv,
                                                                          TokenKv tk, bool sliding, int window,
                                                                          uint16_t* out) {
  pdl_enter(Release::kAtEntry);
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  extern __shared__ __align__(16) uint4 smem_raw[];
  Smem& sh = *reinterpret_cast<Smem*>(smem_raw);
  const int t = blockIdx.x, g = blockIdx.y;
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, gr = lane >> 2, tq = lane & 3;
  const int group = n_heads / n_kv, KV = n_kv * kHeadDim, Q = n_heads * kHeadDim;
  const int seq = tk.seq[t], last = tk.pos[t], first = sliding ? max(0, last - window + 1) : 0;
  const int n_tiles = (last - first + kKeys) / kKeys;

  // Q^T as the B operand of the 4 k-steps over head_dim: head gr's dims
  // 16 kk + 2 tq (+1) and + 8; heads past the group are zero.
  uint32_t qb[4][2];
  const uint16_t* qh = q + size_t(t) * Q + size_t(g * group + gr) * kHeadDim;
#pragma unroll
  for (int kk = 0; kk < 4; ++kk)
#pragma unroll
    for (int i = 0; i < 2; ++i)
      qb[kk][i] = gr < group ? *reinterpret_cast<const uint32_t*>(qh + 16 * kk + 2 * tq + 8 * i) : 0u;
  constexpr float kScale = 0.125f * 1.4426950408889634f;  // 1/sqrt(64), in base 2

  // This thread's heads are 2 tq and 2 tq + 1 (the accumulators' columns):
  // m is the same in every lane of a column, l a per-lane share summed at the end.
  float m[2] = {-INFINITY, -INFINITY}, l[2] = {0.0f, 0.0f}, o[4][4];
#pragma unroll
  for (int md = 0; md < 4; ++md) o[md][0] = o[md][1] = o[md][2] = o[md][3] = 0.0f;

  WarpStage* stages = sh.stage[warp];
  int it = warp;  // this warp's tiles: it, it + kWarps, ...
  if (it < n_tiles) load_tile(stages[0], cache, tk, sliding, seq, g, KV, first + it * kKeys, last);
  cp_async_commit();
  for (int n = 0; it < n_tiles; ++n, it += kWarps) {
    const int j0 = first + it * kKeys;
    if (it + kWarps < n_tiles) load_tile(stages[(n + 1) % kStages], cache, tk, sliding, seq, g, KV, j0 + kWarps * kKeys, last);
    cp_async_commit();
    cp_async_wait<1>();
    __syncwarp();
    const WarpStage& st = stages[n % kStages];
    // S^T for 32 keys: m-tiles of 16 keys, rows gr / gr + 8, columns = heads.
    float s[2][4];
#pragma unroll
    for (int mt = 0; mt < 2; ++mt) {
      s[mt][0] = s[mt][1] = s[mt][2] = s[mt][3] = 0.0f;
#pragma unroll
      for (int kk = 0; kk < 4; ++kk) {
        // Matrices: keys 16 mt + 8 (lane / 8 & 1) .., dims chunk 2 kk + lane / 16.
        uint32_t a[4];
        ldmatrix_x4(a, &st.k[swz(16 * mt + ((lane >> 3) & 1) * 8 + (lane & 7), 2 * kk + (lane >> 4))]);
        mma_bf16_16816(s[mt], a[0], a[1], a[2], a[3], qb[kk][0], qb[kk][1]);
      }
    }
    // Scale and mask (only a range's first and last tiles have keys outside it).
    const bool inside = j0 + kKeys - 1 <= last;
    float mx[2] = {-INFINITY, -INFINITY};
#pragma unroll
    for (int mt = 0; mt < 2; ++mt)
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        const int j = j0 + 16 * mt + gr + 8 * (e >> 1);
        const float v = inside || j <= last ? s[mt][e] * kScale : -INFINITY;
        s[mt][e] = v;
        mx[e & 1] = fmaxf(mx[e & 1], v);
      }
    float corr[2], base[2];
#pragma unroll
    for (int i = 0; i < 2; ++i) {
#pragma unroll
      for (int off = 4; off < 32; off <<= 1) mx[i] = fmaxf(mx[i], __shfl_xor_sync(0xffffffffu, mx[i], off));
      const float m_new = fmaxf(m[i], mx[i]);
      base[i] = m_new == -INFINITY ? 0.0f : m_new;
      corr[i] = exp2f(m[i] - base[i]);
      m[i] = m_new;
      l[i] *= corr[i];
    }
#pragma unroll
    for (int md = 0; md < 4; ++md) o[md][0] *= corr[0], o[md][1] *= corr[1], o[md][2] *= corr[0], o[md][3] *= corr[1];
#pragma unroll
    for (int mt = 0; mt < 2; ++mt) {
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        s[mt][e] = exp2f(s[mt][e] - base[e & 1]);
        l[e & 1] += s[mt][e];
      }
      // P^T's rows gr (keys 16 mt + gr) and gr + 8, transposed: head gr's
      // keys 16 mt + 2 tq (+1) and + 8, the B operand of the k-step over them.
      const uint32_t h0 = pack_bf16x2(s[mt][0], s[mt][1]), h1 = pack_bf16x2(s[mt][2], s[mt][3]);
      const uint32_t b0 = transpose8x8(h0), b1 = transpose8x8(h1);
      // kSplitP: P = hi + lo, both bf16, each its own product with V: P to
      // ~16 bits, as attention.cu's float32 P (see decode_mma_attention()).
      uint32_t c0 = 0, c1 = 0;
      if (kSplitP) {
        c0 = transpose8x8(pack_bf16x2(s[mt][0] - bf2f(uint16_t(h0)), s[mt][1] - bf2f(uint16_t(h0 >> 16))));
        c1 = transpose8x8(pack_bf16x2(s[mt][2] - bf2f(uint16_t(h1)), s[mt][3] - bf2f(uint16_t(h1 >> 16))));
      }
#pragma unroll
      for (int md = 0; md < 4; ++md) {
        // Matrices: dims chunk 2 md + (lane / 8 & 1), keys 16 mt + 8 (lane / 16) ..
        uint32_t a[4];
        ldmatrix_x4_trans(a, &st.v[swz(16 * mt + (lane >> 4) * 8 + (lane & 7), 2 * md + ((lane >> 3) & 1))]);
        mma_bf16_16816(o[md], a[0], a[1], a[2], a[3], b0, b1);
        if (kSplitP) mma_bf16_16816(o[md], a[0], a[1], a[2], a[3], c0, c1);
      }
    }
    __syncwarp();  // this stage is refilled two tiles on
  }
  cp_async_wait<0>();
#pragma unroll
  for (int i = 0; i < 2; ++i)
#pragma unroll
    for (int off = 4; off < 32; off <<= 1) l[i] += __shfl_xor_sync(0xffffffffu, l[i], off);
  __syncthreads();  // every warp is done with its stages: the results take their place
  WarpResult& res = sh.result[warp];
  if (gr == 0) {
#pragma unroll
    for (int i = 0; i < 2; ++i) res.m[2 * tq + i] = m[i], res.l[2 * tq + i] = l[i];
  }
#pragma unroll
  for (int md = 0; md < 4; ++md)
#pragma unroll
    for (int e = 0; e < 4; ++e) res.o[2 * tq + (e & 1)][16 * md + gr + 8 * (e >> 1)] = o[md][e];
  __syncthreads();
  // Thread i: head i / 16, dims 4 (i % 16) .. + 3.
  const int head = threadIdx.x / 16, d0 = 4 * (threadIdx.x % 16);
  if (head >= group) return;
  const int h = g * group + head;
  const float sink = bf2f(sinks[h]) * 1.4426950408889634f;
  float M = sink;
#pragma unroll
  for (int w = 0; w < kWarps; ++w) M = fmaxf(M, sh.result[w].m[head]);
  float denom = exp2f(sink - M), acc[4] = {0.0f, 0.0f, 0.0f, 0.0f};
#pragma unroll
  for (int w = 0; w < kWarps; ++w) {
    const WarpResult& r = sh.result[w];
    const float c = exp2f(r.m[head] - M);  // 0 for a warp without keys
    denom += r.l[head] * c;
#pragma unroll
    for (int d = 0; d < 4; ++d) acc[d] += r.o[head][d0 + d] * c;
  }
  const float inv = 1.0f / denom;
  uint2 packed = make_uint2(pack_bf16x2(acc[0] * inv, acc[1] * inv), pack_bf16x2(acc[2] * inv, acc[3] * inv));
  *reinterpret_cast<uint2*>(out + size_t(t) * Q + size_t(h) * kHeadDim + d0) = packed;
#endif
}

// 64 KB of dynamic shared memory needs the kernel's consent (once a process).
void allow_smem() {
  static const bool done = [] {
    GPTOSS_CUDA_CHECK(cudaFuncSetAttribute(decode_mma_attention_kernel<false>,
                                           cudaFuncAttributeMaxDynamicSharedMemorySize, int(kSmemBytes)));
    GPTOSS_CUDA_CHECK(cudaFuncSetAttribute(decode_mma_attention_kernel<true>,
                                           cudaFuncAttributeMaxDynamicSharedMemorySize, int(kSmemBytes)));
    return true;
  }();
  (void)done;
}

}  // namespace

bool decode_mma_attention_supported(int n_heads, int n_kv, int head_dim) {
  if (head_dim != kHeadDim || n_kv <= 0 || n_heads % n_kv != 0 || n_heads / n_kv > kMaxGroup) return false;
  int dev = 0, major = 0;
  if (cudaGetDevice(&dev) != cudaSuccess) return false;
  if (cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, dev) != cudaSuccess) return false;
  if (major < 8) return false;  // bf16 mma, ldmatrix, movmatrix and cp.async
  allow_smem();  // here, before any stream capture
  return true;
}

void decode_mma_attention(const bf16_raw* q, const bf16_raw* layer_cache, const bf16_raw* sinks, int T, int n_heads,
                          int n_kv, const TokenKv& tk, bool sliding, int window, bf16_raw* out, cudaStream_t s) {
  if (T <= 0) return;
  if (n_heads / n_kv > kMaxGroup) throw std::invalid_argument("decode_mma_attention: at most 8 query heads per kv head");
  allow_smem();
  // GPTOSS_DECODE_MMA_SPLIT_P=0: P rounded to bf16 once, as flash
  // attention kernels do.
  static const bool split_p = env_int("GPTOSS_DECODE_MMA_SPLIT_P", 1) != 0;
  launch_smem(split_p ? decode_mma_attention_kernel<true> : decode_mma_attention_kernel<false>, dim3(T, n_kv),
              kWarps * 32, kSmemBytes, s, q, layer_cache, sinks, n_heads, n_kv, tk, sliding, window, out);
}

}  // namespace gptoss::cuda
