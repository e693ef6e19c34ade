// The grouped MXFP4 expert GEMMs (moe_gemm.cu) on Hopper's warpgroup MMA.
//
// Same tiles, tile list, copies and dequant as the mma.sync kernel; what
// changes is how the tensor cores get their operands. There, 8 warps each
// load A and B fragments with ldmatrix for every k16 step (64 x 32 warp
// tiles: ~2 shared-memory wavefronts per MMA, and the kernel was bound by
// them at ~200 TFLOP/s). Here two warpgroups each issue one wgmma
// m64n128k16 per k16 step that reads its 64 slots' activations and the
// tile's 128 dequantised weight rows straight from shared memory, laid out
// in the 128-byte swizzle wgmma reads (wgmma.cuh), while the registers hold
// only the accumulators.
#include <array>
#include <atomic>

#include "backend/cuda/cuda_common.cuh"
#include "backend/cuda/launch.cuh"
#include "backend/cuda/moe_gemm_sm90.h"
#include "backend/cuda/moe_gemm_tile.cuh"
#include "backend/cuda/wgmma.cuh"

namespace gptoss::cuda {

namespace {

using namespace moe_gemm;

// A chunk of kBK = 128 bf16 per row is two 64-wide halves, each a K-major
// 128-byte-swizzled tile of all the rows (wgmma.cuh).
template <int kRows>
struct Sw128 {
  __device__ __forceinline__ int operator()(int r, int c) const {
    return (c >> 3) * (kRows * 8) + r * 8 + ((c & 7) ^ (r & 7));
  }
};

struct Smem {
  uint4 a[2][2 * kBM * 8];  // activations, two stages (1024-byte aligned: 32 KB each)
  uint4 b[2 * kBN * 8];     // dequantised weights
  uint4 raw[2][kRawPerStage];
  uint4 raw_scales[2][kRawPerStage / 16];
};
constexpr size_t kSmemBytes = sizeof(Smem);
static_assert(sizeof(Smem::a[0]) % 1024 == 0 && offsetof(Smem, b) % 1024 == 0, "wgmma tiles need 1024-byte atoms");

template <bool kGateUp>
__global__ void __launch_bounds__(kThreads, 2)
    moe_gemm_sm90_kernel(const uint16_t* xq, const uint8_t* blocks, const uint8_t* scales, const uint16_t* bias,
                         int rows, int K, int k_route, int E, const int32_t* offsets, const int32_t* slots,
                         float alpha, float limit, uint16_t* act_out, float* y_out) {
  pdl_enter(Release::kAtEntry);
#ifdef GPTOSS_WGMMA
  extern __shared__ __align__(1024) uint4 smem_raw[];
  Smem& sh = *reinterpret_cast<Smem*>(smem_raw);
  if (threadIdx.x == 0 && (__cvta_generic_to_shared(smem_raw) & 1023) != 0) __trap();  // the swizzle atoms would be off
  int e, s0, s1;
  if (!find_tile(offsets, E, e, s0, s1)) return;
  const int n0 = blockIdx.y * kBN;
  const int nb = K / 32, n_chunks = (nb + 3) / 4;
  const int wg = threadIdx.x / 128, warp = (threadIdx.x / 32) % 4, lane = threadIdx.x & 31;
  const size_t expert_row0 = size_t(e) * rows;
  ActivationRows act;
  act.init<kGateUp>(xq, slots, s0, s1, K, k_route);
  auto load_chunk = [&](int st, int c) {
    const int wc = min(4, nb - 4 * c);
    act.load(sh.a[st], c, wc, Sw128<kBM>{});
    load_raw(sh.raw[st], sh.raw_scales[st], blocks, scales, expert_row0, n0, rows, nb, c, wc);
    cp_async_commit();
  };

  float acc[64];
#pragma unroll
  for (int i = 0; i < 64; ++i) acc[i] = 0.0f;
  load_chunk(0, 0);
  for (int c = 0; c < n_chunks; ++c) {
    const int st = c & 1, wc = min(4, nb - 4 * c);
    cp_async_wait<0>();
    __syncthreads();  // chunk c is in; both warpgroups' products of chunk c - 1 are done
    if (c + 1 < n_chunks) load_chunk(st ^ 1, c + 1);
    dequant(sh.raw[st], sh.raw_scales[st], sh.b, wc, Sw128<kBN>{});
    fence_proxy_async_smem();  // this thread's dequant and copies, visible to wgmma
    __syncthreads();
    wgmma_fence_operands(acc);
    wgmma_fence();
    // A whole chunk unrolled (a break between products would make ptxas
    // fence every one); only the last chunk of a row may be shorter.
    auto product = [&](int s) {
      const int h = s >> 2, kk = s & 3;
      const uint64_t da = wgmma_desc_sw128(&sh.a[st][h * kBM * 8 + wg * 64 * 8]) + uint64_t(2 * kk);
      const uint64_t db = wgmma_desc_sw128(&sh.b[h * kBN * 8]) + uint64_t(2 * kk);
      wgmma_m64n128k16_bf16(acc, da, db);
    };
    if (wc == 4) {
#pragma unroll
      for (int s = 0; s < kBK / 16; ++s) product(s);
    } else {
      for (int s = 0; s < 2 * wc; ++s) product(s);
    }
    wgmma_commit();
    wgmma_wait<0>();
    wgmma_fence_operands(acc);
  }

  const int g = lane >> 2, t = lane & 3;
#pragma unroll
  for (int half = 0; half < 2; ++half) {
    const int s = s0 + wg * 64 + warp * 16 + g + 8 * half;
    if (s >= s1) continue;
    const int slot = slots[s];
#pragma unroll
    for (int j = 0; j < kBN / 8; ++j) {
      const int col = n0 + 8 * j + 2 * t;
      if (col >= rows) continue;
      store_pair<kGateUp>(acc[4 * j + 2 * half], acc[4 * j + 2 * half + 1], slot, col, rows, expert_row0, bias, alpha,
                          limit, act_out, y_out);
    }
  }
#endif
}

__global__ void wgmma_probe_kernel(int* has) {
#ifdef GPTOSS_WGMMA
  *has = 1;
#else
  *has = 0;
#endif
}

}  // namespace

bool moe_grouped_sm90_available() {
  static std::array<std::atomic<int>, 64> known{};  // 0 unknown, 1 no, 2 yes
  int dev = 0, major = 0;
  if (cudaGetDevice(&dev) != cudaSuccess || dev >= 64) return false;
  if (const int k = known[size_t(dev)].load()) return k == 2;
  bool yes = false;
  if (cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, dev) == cudaSuccess && major == 9) {
    // The kernels hold wgmma only where this build compiled sm_90a code
    // (a compute_80 PTX build JIT-compiled here has the mma.sync kernel only).
    int* d = nullptr;
    int h = 0;
    if (cudaMalloc(&d, sizeof(int)) == cudaSuccess) {
      wgmma_probe_kernel<<<1, 1>>>(d);
      yes = cudaMemcpy(&h, d, sizeof(int), cudaMemcpyDeviceToHost) == cudaSuccess && h == 1;
      cudaFree(d);
    }
    int optin = 0;
    yes = yes && cudaDeviceGetAttribute(&optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, dev) == cudaSuccess &&
          size_t(optin) >= kSmemBytes;
  }
  known[size_t(dev)].store(yes ? 2 : 1);
  return yes;
}

template <bool kGateUp>
void moe_gemm_sm90(const bf16_raw* xq, int T, const uint8_t* blocks, const uint8_t* scales, const bf16_raw* bias,
                   int rows, int K, int k, int E, const int32_t* offsets, const int32_t* slots, float alpha,
                   float limit, bf16_raw* act_out, float* y_out, cudaStream_t s) {
  static std::array<std::atomic<bool>, 64> allowed{};
  int dev = 0;
  GPTOSS_CUDA_CHECK(cudaGetDevice(&dev));
  if (dev >= 64 || !allowed[size_t(dev)].load()) {
    GPTOSS_CUDA_CHECK(cudaFuncSetAttribute(moe_gemm_sm90_kernel<kGateUp>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                           int(kSmemBytes)));
    if (dev < 64) allowed[size_t(dev)].store(true);
  }
  const int max_tiles = (T * k + kBM - 1) / kBM + E;
  launch_smem(moe_gemm_sm90_kernel<kGateUp>, dim3(max_tiles, (rows + kBN - 1) / kBN), kThreads, kSmemBytes, s, xq,
              blocks, scales, bias, rows, K, k, E, offsets, slots, alpha, limit, act_out, y_out);
}

template void moe_gemm_sm90<true>(const bf16_raw*, int, const uint8_t*, const uint8_t*, const bf16_raw*, int, int, int,
                                  int, const int32_t*, const int32_t*, float, float, bf16_raw*, float*, cudaStream_t);
template void moe_gemm_sm90<false>(const bf16_raw*, int, const uint8_t*, const uint8_t*, const bf16_raw*, int, int, int,
                                   int, const int32_t*, const int32_t*, float, float, bf16_raw*, float*, cudaStream_t);

}  // namespace gptoss::cuda
