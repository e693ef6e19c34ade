// Embedding, fused bias + RMSNorm, and YaRN rope with the KV-cache store.
#include "backend/cuda/cuda_common.cuh"
#include "backend/cuda/cuda_kernels.h"
#include "backend/cuda/launch.cuh"
#include "backend/cuda/paged_kv.cuh"

namespace gptoss::cuda {

namespace {

// The end of an RMSNorm whose thread i4 holds values 4 i4 .. 4 i4 + 3 (v, of
// squared sum ss over the row): v * rsqrt(ss / H + eps) * w (wb: this
// thread's 4 weights) to whichever of y (bf16), y32 and y_mma are given.
__device__ __forceinline__ void store_rmsnorm(float4 v, float ss, uint2 wb, int H, float eps, int i4, size_t out_row,
                                              uint16_t* y, float* y32, uint16_t* y_mma) {
  float o[4];
  rmsnorm4(v, ss, wb, H, eps, o);
  const size_t base = out_row * H + 4 * size_t(i4);
  if (y) reinterpret_cast<uint2*>(y + base)[0] = make_uint2(pack_bf16x2(o[0], o[1]), pack_bf16x2(o[2], o[3]));
  if (y32) reinterpret_cast<float4*>(y32 + base)[0] = make_float4(o[0], o[1], o[2], o[3]);
  if (y_mma) store_mma_layout4(y_mma + out_row * H, i4, o);
}

// A one-token step's norms (one block) let the next kernel start at entry;
// with more tokens that measured slower (launch.cuh).
__device__ __forceinline__ Release one_block_release() {
  return gridDim.x * gridDim.y == 1 ? Release::kAtEntry : Release::kAfterWait;
}

// x[t] = the embedding row of token t, and y[t] its RMSNorm (the first
// layer's input): one block per token, a float4 per thread, as below.
__global__ void embed_rmsnorm_kernel(const int32_t* tokens, const int32_t* feed, const int32_t* chosen,
                                     const uint16_t* table, int H, float* x, const uint16_t* __restrict__ w,
                                     uint16_t* __restrict__ y, float eps) {
  const int i4 = threadIdx.x, n4 = H / 4, t = blockIdx.x;
  const uint2 wb = i4 < n4 ? reinterpret_cast<const uint2*>(w)[i4] : make_uint2(0, 0);
  pdl_enter(one_block_release());
  // A fed token was written by the previous step's last kernel: through L2.
  const int f = feed ? feed[t] : -1;
  const int id = f >= 0 ? __ldcg(chosen + f) : tokens[t];
  float4 v = make_float4(0, 0, 0, 0);
  if (i4 < n4) {
    v = bf16x4_to_float4(reinterpret_cast<const uint2*>(table + size_t(id) * H)[i4]);
    reinterpret_cast<float4*>(x + size_t(t) * H)[i4] = v;
  }
  const float ss = block_sum(v.x * v.x + v.y * v.y + v.z * v.z + v.w * v.w);
  if (i4 < n4) store_rmsnorm(v, ss, wb, H, eps, i4, size_t(t), y, nullptr, nullptr);
}

// One block per output row, a float4 per thread (H <= 4 * 1024): at decode
// sizes a row is one block's work, and a loop of dependent loads per thread
// would make these kernels latency-bound. Optionally first adds the bias and
// the MoE output (x += bias + sum_j w[t, j] y[t * k + j]), so the MoE combine
// and the next norm are one launch.
constexpr int kSlotLoads = 4;
__global__ void residual_rmsnorm_kernel(float* __restrict__ x, const uint16_t* __restrict__ bias,
                                        const float* __restrict__ moe_y, const float* __restrict__ moe_w, int k,
                                        int k_from, const float* __restrict__ extra,
                                        const int32_t* __restrict__ ids, int e_lo, int e_hi,
                                        const uint16_t* __restrict__ w, uint16_t* __restrict__ y,
                                        float* __restrict__ y32, uint16_t* __restrict__ y_mma, int H, float eps,
                                        const int32_t* __restrict__ rows) {
  const int i4 = threadIdx.x, n4 = H / 4;
  // The bias and the norm's weights are constants: read before the wait.
  uint2 b = make_uint2(0, 0), wb = make_uint2(0, 0);
  if (i4 < n4 && bias) b = reinterpret_cast<const uint2*>(bias)[i4];
  if (i4 < n4 && w) wb = reinterpret_cast<const uint2*>(w)[i4];
  pdl_enter(one_block_release());
  const int out_row = blockIdx.x;
  const int t = rows ? rows[out_row] : out_row;
  float4* xr = reinterpret_cast<float4*>(x + size_t(t) * H);
  float4 v = make_float4(0, 0, 0, 0);
  if (i4 < n4) {
    v = xr[i4];
    bool changed = false;
    if (bias) {
      const float4 u = bf16x4_to_float4(b);
      v.x += u.x, v.y += u.y, v.z += u.z, v.w += u.w;
      changed = true;
    }
    if (extra) {
      const float4 u = reinterpret_cast<const float4*>(extra + size_t(t) * H)[i4];
      v.x += u.x, v.y += u.y, v.z += u.z, v.w += u.w;
      changed = true;
    }
    // The slots' weights and rows kSlotLoads at a time: one round trip to
    // memory for a token's top-4 rather than one per slot. Summed in slot
    // order, as before.
    for (int j0 = k_from; j0 < k; j0 += kSlotLoads) {
      bool use[kSlotLoads];
      float wj[kSlotLoads];
      float4 u[kSlotLoads];
#pragma unroll
      for (int q = 0; q < kSlotLoads; ++q) {
        const size_t j = size_t(t) * k + j0 + q;
        use[q] = j0 + q < k;
        if (use[q] && ids) use[q] = ids[j] >= e_lo && ids[j] < e_hi;
        if (use[q]) wj[q] = moe_w[j], u[q] = reinterpret_cast<const float4*>(moe_y + j * H)[i4];
      }
#pragma unroll
      for (int q = 0; q < kSlotLoads; ++q)
        if (use[q]) {
          v.x += wj[q] * u[q].x, v.y += wj[q] * u[q].y, v.z += wj[q] * u[q].z, v.w += wj[q] * u[q].w;
          changed = true;
        }
    }
    if (changed) xr[i4] = v;
  }
  const float ss = block_sum(v.x * v.x + v.y * v.y + v.z * v.z + v.w * v.w);
  if (i4 < n4 && w) store_rmsnorm(v, ss, wb, H, eps, i4, size_t(out_row), y, y32, y_mma);
}

// One warp-sized block per (token, head), q heads then kv heads; a thread per
// rotation pair (i, i + half), and the kv heads' blocks also store V. Small
// blocks rather than a loop per thread: a decode step's rope is 72 heads' worth
// of work and would otherwise be a chain of dependent loads.
__global__ void rope_store_kernel(const float* __restrict__ qkv, const uint16_t* __restrict__ bias,
                                  const float* __restrict__ inv_freq, float att_factor, int n_heads, int n_kv,
                                  int head_dim, TokenKv tk, bool sliding, uint16_t* __restrict__ cache,
                                  uint16_t* __restrict__ q_out) {
  pdl_enter();
  // blockDim.x / half heads per block (one for decode; more for prompts,
  // where a block of one head's 32 threads is mostly launch overhead).
  const int half = head_dim / 2, Q = n_heads * head_dim, KV = n_kv * head_dim;
  const int t = blockIdx.x, h = blockIdx.y * (blockDim.x / half) + threadIdx.x / half, i = threadIdx.x % half;
  if (h >= n_heads + n_kv) return;
  const float* row = qkv + size_t(t) * (Q + 2 * KV);
  const int pos = tk.pos[t];
  const int base = h * head_dim;  // q heads then k heads, contiguous in qkv
  const float angle = float(pos) * inv_freq[i];
  float sn, cs;
  sincosf(angle, &sn, &cs);
  cs *= att_factor;
  sn *= att_factor;
  const float a = row[base + i] + bf2f(bias[base + i]);
  const float c = row[base + i + half] + bf2f(bias[base + i + half]);
  const float o1 = a * cs - c * sn, o2 = c * cs + a * sn;
  if (h < n_heads) {
    q_out[size_t(t) * Q + base + i] = f2bf(o1);
    q_out[size_t(t) * Q + base + i + half] = f2bf(o2);
    return;
  }
  const int kb = base - Q;  // this kv head's offset in a K or V row
  uint16_t* kdst = cache + kv_row_offset(tk, sliding, tk.seq[t], pos, KV, h - n_heads, head_dim, 0);
  uint16_t* vdst = kdst + size_t(tk.block_size) * KV;
  kdst[i] = f2bf(o1);
  kdst[i + half] = f2bf(o2);
  const float* v = row + Q + KV + kb;
  const uint16_t* vb = bias + Q + KV + kb;
  vdst[i] = f2bf(v[i] + bf2f(vb[i]));
  vdst[i + half] = f2bf(v[i + half] + bf2f(vb[i + half]));
}

}  // namespace

void embed_rmsnorm(const int32_t* tokens, const int32_t* feed, const int32_t* chosen, int T, const bf16_raw* table,
                   int H, float* x, const bf16_raw* w, bf16_raw* normed, float eps, cudaStream_t s) {
  if (T > 0) launch(embed_rmsnorm_kernel, T, row_threads(H), s, tokens, feed, chosen, table, H, x, w, normed, eps);
}

void add_bias_rmsnorm(float* x, const bf16_raw* bias, const bf16_raw* w, bf16_raw* y, float* y32, bf16_raw* y_mma,
                      int T, int H, float eps, const int32_t* rows, cudaStream_t s) {
  if (T > 0)
    launch(residual_rmsnorm_kernel, T, row_threads(H), s, x, bias, nullptr, nullptr, 0, 0, nullptr, nullptr, 0, 0, w,
           y, y32, y_mma, H, eps, rows);
}

// Tried 2026-11-24 (H100, synthetic:20b, same call, 2 rounds): the combine
// letting the next layer's qkv launch only once its own loads were in
// (griddepcontrol.launch_dependents after the row sum), so that qkv's weight prefetch would not
// queue ahead of them: tg128 476.0 / 473.7 against 475.7 / 476.1 t/s.
void moe_combine(const float* y, const float* topk_weights, int T, int k, int H, float* x, const bf16_raw* next_norm,
                 bf16_raw* normed, float eps, cudaStream_t s, int k_from, const float* extra, const int32_t* ids,
                 int e_lo, int e_hi, const bf16_raw* bias) {
  if (T > 0)
    launch(residual_rmsnorm_kernel, T, row_threads(H), s, x, bias, y, topk_weights, k, k_from, extra, ids, e_lo,
           e_hi, next_norm, normed, nullptr, nullptr, H, eps, nullptr);
}

void rope_store_kv(const float* qkv, const bf16_raw* bias, const float* inv_freq, float attention_factor, int T,
                   int n_heads, int n_kv, int head_dim, const TokenKv& tk, bool sliding, bf16_raw* layer_cache,
                   int num_blocks, bf16_raw* q_out, cudaStream_t s) {
  (void)num_blocks;
  // H100, synthetic:20b, 2048 tokens: a block per (token, head) took 180 us
  // per layer (147k blocks of 32 threads).
  const int heads_per_block = T > 64 ? 8 : 1, heads = n_heads + n_kv;
  if (T > 0)
    launch(rope_store_kernel, dim3(T, (heads + heads_per_block - 1) / heads_per_block), heads_per_block * head_dim / 2, s,
           qkv, bias, inv_freq, attention_factor, n_heads, n_kv, head_dim, tk, sliding, layer_cache, q_out);
}

namespace {
__global__ void f32_to_bf16_kernel(const float* src, uint16_t* dst, size_t n) {
  size_t i = size_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < n) dst[i] = f2bf(src[i]);
}
}  // namespace

void f32_to_bf16(const float* src, bf16_raw* dst, size_t n, cudaStream_t s) {
  if (n) f32_to_bf16_kernel<<<unsigned((n + 255) / 256), 256, 0, s>>>(src, dst, n);
}

}  // namespace gptoss::cuda
