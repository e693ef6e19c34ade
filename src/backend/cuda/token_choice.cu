// Choosing each logits row's token on the GPU (core/gumbel.h: the arg-max of
// the logits, or of logits / T plus Gumbel noise when sampling): from full
// logits, or straight from the final hidden states with the unembedding's
// int8 copy bounding every logit, so that only the rows that can still win
// are computed from the bf16 weights (half the bytes of the full product).
#include "backend/cuda/cuda_common.cuh"

#include "backend/cuda/cuda_check.h"
#include "backend/cuda/cuda_kernels.h"
#include "backend/cuda/launch.cuh"

namespace gptoss::cuda {

namespace {

// Keys of (value, index): order-preserving float bits above ~index, so one
// 64-bit atomicMax keeps the largest value and, among equals, the lowest
// index, whatever the order blocks finish in.
__device__ __forceinline__ unsigned long long argmax_key(float v, int i) {
  return (static_cast<unsigned long long>(float_order(v)) << 32) | uint32_t(~uint32_t(i));
}

__device__ __forceinline__ unsigned long long block_max(unsigned long long best) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) best = max(best, __shfl_xor_sync(0xffffffffu, best, o));
  __shared__ unsigned long long sb[32];
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  __syncthreads();  // sb may still be read by a previous call
  if (lane == 0) sb[warp] = best;
  __syncthreads();
  best = lane < int(blockDim.x >> 5) ? sb[lane] : 0ull;
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) best = max(best, __shfl_xor_sync(0xffffffffu, best, o));
  return best;
}

// The arg-max of float32 rows, many blocks per row (a decode step has one row
// of 201088 logits): each block reduces a chunk, then one atomicMax. NaN is
// skipped.
constexpr int kArgmaxChunk = 8192;

// Row r's token mask (constrained decoding), or null (see choose_tokens).
__device__ __forceinline__ const uint32_t* row_mask(const uint32_t* masks, const int32_t* mask_of, int r, int n) {
  return mask_of && mask_of[r] >= 0 ? masks + size_t(mask_of[r]) * size_t((n + 31) / 32) : nullptr;
}

__global__ void choose_tokens_kernel(const float* __restrict__ x, int n, const RowChoice* __restrict__ choice,
                                     unsigned long long* __restrict__ out, const uint32_t* __restrict__ masks,
                                     const int32_t* __restrict__ mask_of) {
  pdl_enter();
  const float* row = x + size_t(blockIdx.y) * n;
  const int begin = blockIdx.x * kArgmaxChunk, end = min(n, begin + kArgmaxChunk);
  const uint32_t* mask = row_mask(masks, mask_of, int(blockIdx.y), n);
  unsigned long long best = 0;
  if (!choice || choice[blockIdx.y].inv_temperature <= 0.0f) {
    for (int i = begin + threadIdx.x; i < end; i += blockDim.x) {
      const float v = row[i];
      if (v == v && mask_allows(mask, i)) best = max(best, argmax_key(v, i));
    }
  } else {
    const RowChoice c = choice[blockIdx.y];
    for (int i = begin + threadIdx.x; i < end; i += blockDim.x) {
      const float v = row[i];
      if (v == v && mask_allows(mask, i)) best = max(best, argmax_key(choice_key(c, v, uint32_t(i)), i));
    }
  }
  best = block_max(best);
  if (threadIdx.x == 0 && best) atomicMax(out + blockIdx.y, best);
}

__global__ void argmax_index_kernel(const unsigned long long* keys, int rows, int32_t* out) {
  pdl_enter();
  const int r = blockIdx.x * blockDim.x + threadIdx.x;
  if (r < rows) out[r] = keys[r] ? int32_t(~uint32_t(keys[r] & 0xffffffffu)) : 0;
}

// ---- The bounded unembedding -------------------------------------------
//
// Row i of the int8 copy holds q_ij (stored as q + 128) with
// w_ij = scale_i q_ij + e_ij, so for a token's input x
//   |logit_i - scale_i (q_i . x)| <= ||e_i||_2 ||x||_2 + rounding,
// the rounding of two float32 sums of H products each being at most
// kRoundRel * amax_i * ||x||_1 <= kRoundRel * amax_i * sqrt(H) ||x||_2
// (amax_i = 127 scale_i >= max_j |w_ij|; H products in float32 round by at
// most about H * 2^-24 of the sum of their magnitudes: 1.7e-4 for H = 2880,
// 2.4e-4 for 4096). So bound_i = ||e_i||_2 + kRoundRel * amax_i * sqrt(H)
// times ||x||_2 bounds the error. A row can hold the chosen token only if its
// upper bound (with its noise) reaches the largest lower bound of any row;
// those are computed exactly.
constexpr float kRoundRel = 6e-4f;
constexpr int kBoundedChunks = 8;  // 16-byte pieces per lane: H <= 8 * 32 * 16
constexpr int kBoundedWarps = 8;

// Per-step scratch, zero between steps (the last kernel of a step clears it).
struct BoundedHeader {
  unsigned long long best[kMaxBoundedRows];  // exact keys: the chosen token
  uint32_t lower[kMaxBoundedRows];           // float_order of the largest lower bound
  uint32_t count[kMaxBoundedRows];           // candidates listed
  float x2[kMaxBoundedRows];                 // ||x||_2 (written by block 0)
};

static_assert(sizeof(BoundedHeader) <= 256, "the header's 256 bytes");

struct BoundedScratch {
  BoundedHeader* head;
  float* approx;     // [rows][V]
  int32_t* list;     // [rows][V] candidates
};

__host__ __device__ inline BoundedScratch bounded_scratch(void* base, int V) {
  BoundedScratch s;
  s.head = static_cast<BoundedHeader*>(base);
  s.approx = reinterpret_cast<float*>(static_cast<char*>(base) + 256);
  s.list = reinterpret_cast<int32_t*>(s.approx + size_t(kMaxBoundedRows) * V);
  return s;
}

__global__ void quantize_rows_kernel(const uint16_t* __restrict__ w, int H, uint8_t* __restrict__ q,
                                     float* __restrict__ scale, float* __restrict__ bound) {
  const size_t row = blockIdx.x;
  const uint16_t* wr = w + row * H;
  float amax = 0.0f;
  for (int j = threadIdx.x; j < H; j += blockDim.x) amax = fmaxf(amax, fabsf(bf2f(wr[j])));
  __shared__ float red[32];
  amax = warp_max(amax);
  if ((threadIdx.x & 31) == 0) red[threadIdx.x >> 5] = amax;
  __syncthreads();
  amax = 0.0f;
  for (int k = 0; k < int(blockDim.x >> 5); ++k) amax = fmaxf(amax, red[k]);
  const float sc = amax / 127.0f;
  float e2 = 0.0f;
  for (int j = threadIdx.x; j < H; j += blockDim.x) {
    const float v = bf2f(wr[j]);
    const float qv = sc > 0.0f ? fminf(fmaxf(rintf(v / sc), -127.0f), 127.0f) : 0.0f;
    q[row * H + j] = uint8_t(int(qv) + 128);
    const float e = v - sc * qv;
    e2 += e * e;
  }
  e2 = block_sum(e2);
  if (threadIdx.x == 0) {
    scale[row] = sc;
    // 1.001: the norm's own rounding.
    bound[row] = sqrtf(e2) * 1.001f + kRoundRel * 127.0f * sc * sqrtf(float(H));
  }
}

// 16 int8 values (offset by 128) dotted with 16 bf16 inputs.
__device__ __forceinline__ float dot16_i8(const uint4& w, const uint4& xa, const uint4& xb) {
  const uint32_t wv[4] = {w.x, w.y, w.z, w.w};
  const uint32_t xv[8] = {xa.x, xa.y, xa.z, xa.w, xb.x, xb.y, xb.z, xb.w};
  float acc = 0.0f;
#pragma unroll
  for (int k = 0; k < 4; ++k) {
#pragma unroll
    for (int b = 0; b < 4; ++b) {
      // 2^23 + byte as a float's bits, minus 2^23 + 128: the signed value, exactly.
      const float qv = __uint_as_float(__byte_perm(wv[k], 0x4B000000u, 0x7650 + b)) - 8388736.0f;
      const uint32_t xw = xv[2 * k + (b >> 1)];
      const float xf = (b & 1) ? __uint_as_float(xw & 0xffff0000u) : __uint_as_float(xw << 16);
      acc = fmaf(qv, xf, acc);
    }
  }
  return acc;
}

// Pass 1: a warp per row of the int8 copy (loaded before the wait, as
// dense_rows_kernel does with bf16 rows): the approximate logit of each of
// the step's rows, and the largest lower bound.
template <int NTOK>
__global__ void __launch_bounds__(kBoundedWarps * 32)
    bounded_approx_kernel(const uint16_t* __restrict__ x, int T, int H, const uint8_t* __restrict__ q,
                          const float* __restrict__ scale, const float* __restrict__ bound, int V,
                          const RowChoice* __restrict__ choice, BoundedScratch s, const uint32_t* __restrict__ masks,
                          const int32_t* __restrict__ mask_of) {
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, nc = H / 16;
  const int row = blockIdx.x * kBoundedWarps + warp;
  const uint4* wr = reinterpret_cast<const uint4*>(q + size_t(min(row, V - 1)) * H);
  uint4 w[kBoundedChunks];
#pragma unroll
  for (int i = 0; i < kBoundedChunks; ++i) {
    const int c = lane + 32 * i;
    w[i] = c < nc ? __ldg(wr + c) : make_uint4(0x80808080u, 0x80808080u, 0x80808080u, 0x80808080u);
  }
  const float sc = __ldg(scale + min(row, V - 1)), bd = __ldg(bound + min(row, V - 1));
  pdl_enter(Release::kAtEntry);
  // x into shared memory; each block needs ||x||_2 (block 0 leaves it for pass 2).
  __shared__ uint4 xs[NTOK][kBoundedChunks * 32 * 2];
  float sq[NTOK] = {};
  for (int i = threadIdx.x; i < T * nc * 2; i += blockDim.x) {
    const uint4 v = reinterpret_cast<const uint4*>(x)[i];
    xs[i / (nc * 2)][i % (nc * 2)] = v;
    float a = 0.0f;
    for (uint32_t u : {v.x, v.y, v.z, v.w}) {
      const float lo = __uint_as_float(u << 16), hi = __uint_as_float(u & 0xffff0000u);
      a += lo * lo + hi * hi;
    }
#pragma unroll
    for (int t = 0; t < NTOK; ++t)
      if (t == i / (nc * 2)) sq[t] += a;
  }
  float x2[NTOK];
#pragma unroll
  for (int t = 0; t < NTOK; ++t) {
    x2[t] = sqrtf(block_sum(sq[t])) * 1.0001f;  // 1.0001: the sum's rounding
    if (blockIdx.x == 0 && threadIdx.x == 0 && t < T) s.head->x2[t] = x2[t];
  }
  float acc[NTOK] = {};
#pragma unroll
  for (int i = 0; i < kBoundedChunks; ++i) {
    const int c = lane + 32 * i;
    if (c >= nc) break;
#pragma unroll
    for (int t = 0; t < NTOK; ++t) acc[t] += dot16_i8(w[i], xs[t][2 * c], xs[t][2 * c + 1]);
  }
  __shared__ uint32_t lower[NTOK];
  if (threadIdx.x < NTOK) lower[threadIdx.x] = 0;
  __syncthreads();
#pragma unroll
  for (int t = 0; t < NTOK; ++t) {
    const float a = sc * warp_sum(acc[t]);
    if (lane == 0 && t < T && row < V) {
      s.approx[size_t(t) * V + row] = a;
      const RowChoice c = choice[t];
      const float b = bd * x2[t];
      const float lb = c.inv_temperature > 0.0f ? fmaf(a - b, c.inv_temperature, gumbel_noise(c, uint32_t(row))) : a - b;
      // A masked token cannot win, so its bound must not exclude others.
      if (lb == lb && mask_allows(row_mask(masks, mask_of, t, V), row)) atomicMax(&lower[t], float_order(lb));
    }
  }
  __syncthreads();
  if (threadIdx.x < T) atomicMax(&s.head->lower[threadIdx.x], lower[threadIdx.x]);
}

// Pass 2: the rows whose upper bound reaches the largest lower bound.
__global__ void bounded_select_kernel(int V, const float* __restrict__ bound, const RowChoice* __restrict__ choice,
                                      BoundedScratch s, const uint32_t* __restrict__ masks,
                                      const int32_t* __restrict__ mask_of) {
  pdl_enter();
  const int t = blockIdx.y, i = blockIdx.x * blockDim.x + threadIdx.x;
  bool cand = false;
  if (i < V) {
    const RowChoice c = choice[t];
    const float a = s.approx[size_t(t) * V + i];
    const float b = bound[i] * s.head->x2[t];
    const float ub = c.inv_temperature > 0.0f ? fmaf(a + b, c.inv_temperature, gumbel_noise(c, uint32_t(i))) : a + b;
    // NaN bounds (a NaN in x or the weights) keep the row: the exact pass skips NaN.
    cand = (!(ub == ub) || float_order(ub) >= s.head->lower[t]) && mask_allows(row_mask(masks, mask_of, t, V), i);
  }
  const unsigned m = __ballot_sync(0xffffffffu, cand);
  if (!m) return;
  const int lane = threadIdx.x & 31, leader = __ffs(m) - 1;
  uint32_t base = 0;
  if (lane == leader) base = atomicAdd(&s.head->count[t], uint32_t(__popc(m)));
  base = __shfl_sync(0xffffffffu, base, leader);
  if (cand) s.list[size_t(t) * V + base + __popc(m & ((1u << lane) - 1))] = i;
}

// Pass 3: each candidate's exact logit from the bf16 row, and the choice.
__global__ void __launch_bounds__(256) bounded_exact_kernel(const uint16_t* __restrict__ x, int T, int H,
                                                            const uint16_t* __restrict__ W, int V,
                                                            const RowChoice* __restrict__ choice, BoundedScratch s) {
  pdl_enter();
  __shared__ uint4 xs[kBoundedChunks * 32 * 2];
  const int lane = threadIdx.x & 31, nc = H / 8;
  const int warps = int(gridDim.x * blockDim.x) >> 5, gw = int(blockIdx.x * blockDim.x + threadIdx.x) >> 5;
  for (int t = 0; t < T; ++t) {
    __syncthreads();
    for (int i = threadIdx.x; i < nc; i += blockDim.x) xs[i] = reinterpret_cast<const uint4*>(x + size_t(t) * H)[i];
    __syncthreads();
    const RowChoice c = choice[t];
    const int n = int(s.head->count[t]);
    unsigned long long best = 0;
    for (int j = gw; j < n; j += warps) {
      const int i = s.list[size_t(t) * V + j];
      const uint4* wr = reinterpret_cast<const uint4*>(W + size_t(i) * H);
      float a = 0.0f;
      for (int k = lane; k < nc; k += 32) a += row_dot1(__ldg(wr + k), xs[k]);
      a = warp_sum(a);
      if (a == a) best = max(best, argmax_key(choice_key(c, a, uint32_t(i)), i));
    }
    if (lane == 0 && best) atomicMax(&s.head->best[t], best);
  }
}

// The chosen tokens; then the header is cleared for the next step.
__global__ void bounded_index_kernel(int T, BoundedScratch s, int32_t* out) {
  pdl_enter();
  const int t = threadIdx.x;
  if (t < T) {
    const unsigned long long k = s.head->best[t];
    out[t] = k ? int32_t(~uint32_t(k & 0xffffffffu)) : 0;
  }
  if (t < kMaxBoundedRows) s.head->best[t] = 0, s.head->lower[t] = 0, s.head->count[t] = 0;
}

}  // namespace

void choose_tokens(const float* x, int rows, int n, const RowChoice* choice, unsigned long long* scratch, int32_t* out,
                   cudaStream_t s, const uint32_t* masks, const int32_t* mask_of) {
  if (rows <= 0) return;
  GPTOSS_CUDA_CHECK(cudaMemsetAsync(scratch, 0, size_t(rows) * sizeof(unsigned long long), s));
  launch(choose_tokens_kernel, dim3(ceil_div(n, kArgmaxChunk), rows), 256, s, x, n, choice, scratch, masks, mask_of);
  launch(argmax_index_kernel, ceil_div(rows, 256), 256, s, scratch, rows, out);
}

bool bounded_head_supported(int H) { return H % 16 == 0 && H <= kBoundedChunks * 32 * 16; }

void quantize_bounded_head(const bf16_raw* w, int V, int H, BoundedHead& head, cudaStream_t s) {
  quantize_rows_kernel<<<V, 256, 0, s>>>(w, H, head.q, head.scale, head.bound);
  GPTOSS_CUDA_CHECK(cudaGetLastError());
  head.w = w, head.V = V, head.H = H;
}

size_t bounded_choose_scratch_bytes(int V) { return 256 + size_t(kMaxBoundedRows) * size_t(V) * 8; }

void bounded_choose_tokens(const BoundedHead& head, const bf16_raw* x, int T, const RowChoice* choice, void* scratch,
                           int32_t* out, cudaStream_t st, const uint32_t* masks, const int32_t* mask_of) {
  if (T <= 0) return;
  const int V = head.V, H = head.H;
  const BoundedScratch s = bounded_scratch(scratch, V);
  const unsigned blocks = unsigned(ceil_div(V, kBoundedWarps));
  if (T == 1)
    launch(bounded_approx_kernel<1>, blocks, kBoundedWarps * 32, st, x, T, H, head.q, head.scale, head.bound, V, choice, s,
           masks, mask_of);
  else if (T == 2)
    launch(bounded_approx_kernel<2>, blocks, kBoundedWarps * 32, st, x, T, H, head.q, head.scale, head.bound, V, choice, s,
           masks, mask_of);
  else
    launch(bounded_approx_kernel<4>, blocks, kBoundedWarps * 32, st, x, T, H, head.q, head.scale, head.bound, V, choice, s,
           masks, mask_of);
  launch(bounded_select_kernel, dim3(unsigned(ceil_div(V, 256)), unsigned(T)), 256, st, V, head.bound, choice, s, masks,
         mask_of);
  int dev = 0, sms = 0;
  GPTOSS_CUDA_CHECK(cudaGetDevice(&dev));
  GPTOSS_CUDA_CHECK(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, dev));
  launch(bounded_exact_kernel, unsigned(2 * sms), 256, st, x, T, H, head.w, V, choice, s);
  launch(bounded_index_kernel, 1, 32, st, T, s, out);
}

void clear_bounded_scratch(void* scratch, cudaStream_t s) {
  GPTOSS_CUDA_CHECK(cudaMemsetAsync(scratch, 0, 256, s));
}

}  // namespace gptoss::cuda
