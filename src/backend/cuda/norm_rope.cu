// Embedding, fused bias + RMSNorm, and YaRN rope with the KV-cache store.
#include "backend/cuda/cuda_common.cuh"
#include "backend/cuda/cuda_kernels.h"

namespace gptoss::cuda {

namespace {

__global__ void embed_kernel(const int32_t* tokens, const uint16_t* table, int H, float* x) {
  const int t = blockIdx.x;
  const uint16_t* row = table + size_t(tokens[t]) * H;
  for (int i = threadIdx.x; i < H; i += blockDim.x) x[size_t(t) * H + i] = bf2f(row[i]);
}

// One block per output row; 256 threads.
__global__ void add_bias_rmsnorm_kernel(float* x, const uint16_t* bias, const uint16_t* w, uint16_t* y, float* y32,
                                        uint16_t* y_mma, int H, float eps, const int32_t* rows) {
  const int out_row = blockIdx.x;
  const int t = rows ? rows[out_row] : out_row;
  float* xr = x + size_t(t) * H;
  float ss = 0.0f;
  for (int i = threadIdx.x; i < H; i += blockDim.x) {
    float v = xr[i];
    if (bias) {
      v += bf2f(bias[i]);
      xr[i] = v;
    }
    ss += v * v;
  }
  __shared__ float partial[32];
  ss = warp_sum(ss);
  if ((threadIdx.x & 31) == 0) partial[threadIdx.x >> 5] = ss;
  __syncthreads();
  if (threadIdx.x < 32) {
    float v = threadIdx.x < (blockDim.x >> 5) ? partial[threadIdx.x] : 0.0f;
    v = warp_sum(v);
    if (threadIdx.x == 0) partial[0] = v;
  }
  __syncthreads();
  const float r = rsqrtf(partial[0] / float(H) + eps);
  for (int i = threadIdx.x; i < H; i += blockDim.x) {
    const float v = (xr[i] * r) * bf2f(w[i]);
    if (y) y[size_t(out_row) * H + i] = f2bf(v);
    if (y32) y32[size_t(out_row) * H + i] = v;
    if (y_mma) y_mma[size_t(out_row) * H + ((i & ~7) | ((i & 3) << 1) | ((i >> 2) & 1))] = f2bf(v);
  }
}

// One block per token; a thread per rotation pair (head, i) of q and k, then v.
__global__ void rope_store_kernel(const float* qkv, const uint16_t* bias, const float* inv_freq, float att_factor,
                                  int n_heads, int n_kv, int head_dim, TokenKv tk, bool sliding, uint16_t* cache,
                                  int num_blocks, uint16_t* q_out) {
  const int t = blockIdx.x;
  const int half = head_dim / 2, Q = n_heads * head_dim, KV = n_kv * head_dim;
  const float* row = qkv + size_t(t) * (Q + 2 * KV);
  const int pos = tk.pos[t], seq = tk.seq[t];
  const int b = pos / tk.block_size, r = pos % tk.block_size;
  const int32_t block = sliding ? tk.window_table[seq * tk.window_pitch + b % tk.window_len[seq]]
                                : tk.full_table[seq * tk.full_pitch + b];
  uint16_t* kdst = cache + ((size_t(block) * 2 + 0) * tk.block_size + r) * KV;
  uint16_t* vdst = cache + ((size_t(block) * 2 + 1) * tk.block_size + r) * KV;
  for (int p = threadIdx.x; p < (n_heads + n_kv) * half; p += blockDim.x) {
    const int h = p / half, i = p % half;
    const float angle = float(pos) * inv_freq[i];
    float sn, cs;
    sincosf(angle, &sn, &cs);
    cs *= att_factor;
    sn *= att_factor;
    const int base = h * head_dim;  // q heads then k heads, contiguous in qkv
    const float a = row[base + i] + bf2f(bias[base + i]);
    const float c = row[base + i + half] + bf2f(bias[base + i + half]);
    const float o1 = a * cs - c * sn, o2 = c * cs + a * sn;
    if (h < n_heads) {
      q_out[size_t(t) * Q + base + i] = f2bf(o1);
      q_out[size_t(t) * Q + base + i + half] = f2bf(o2);
    } else {
      const int kb = base - Q;
      kdst[kb + i] = f2bf(o1);
      kdst[kb + i + half] = f2bf(o2);
    }
  }
  for (int i = threadIdx.x; i < KV; i += blockDim.x) vdst[i] = f2bf(row[Q + KV + i] + bf2f(bias[Q + KV + i]));
}

}  // namespace

void embed(const int32_t* tokens, int T, const bf16_raw* table, int H, float* x, cudaStream_t s) {
  embed_kernel<<<T, 256, 0, s>>>(tokens, table, H, x);
}

void add_bias_rmsnorm(float* x, const bf16_raw* bias, const bf16_raw* w, bf16_raw* y, float* y32, bf16_raw* y_mma,
                      int T, int H, float eps, const int32_t* rows, cudaStream_t s) {
  if (T > 0) add_bias_rmsnorm_kernel<<<T, 256, 0, s>>>(x, bias, w, y, y32, y_mma, H, eps, rows);
}

void rope_store_kv(const float* qkv, const bf16_raw* bias, const float* inv_freq, float attention_factor, int T,
                   int n_heads, int n_kv, int head_dim, const TokenKv& tk, bool sliding, bf16_raw* layer_cache,
                   int num_blocks, bf16_raw* q_out, cudaStream_t s) {
  rope_store_kernel<<<T, 256, 0, s>>>(qkv, bias, inv_freq, attention_factor, n_heads, n_kv, head_dim, tk, sliding,
                                      layer_cache, num_blocks, q_out);
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
