// Every CUDA kernel against the CPU reference kernel on random inputs at the
// real gpt-oss shapes (hidden 2880, intermediate 2880, head_dim 64, GQA 8:1).
// Skips when no GPU is present.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "backend/cpu/cpu_kernels.h"
#include "backend/cuda/cuda_check.h"
#include "backend/cuda/cuda_kernels.h"
#include "backend/cuda/moe_gemm_narrow_rows.h"
#include "model/cuda_runner.h"
#include "model/kv_layout.h"

using namespace gptoss;

namespace {

#define REQUIRE_GPU() \
  if (cuda_device_count() == 0) GTEST_SKIP() << "no CUDA GPU"

template <typename T>
struct Dev {
  T* p = nullptr;
  size_t n = 0;
  explicit Dev(const std::vector<T>& h) : n(h.size()) {
    GPTOSS_CUDA_CHECK(cudaMalloc(&p, n * sizeof(T)));
    GPTOSS_CUDA_CHECK(cudaMemcpy(p, h.data(), n * sizeof(T), cudaMemcpyHostToDevice));
  }
  explicit Dev(size_t count) : n(count) { GPTOSS_CUDA_CHECK(cudaMalloc(&p, n * sizeof(T))); }
  ~Dev() { cudaFree(p); }
  std::vector<T> get() const {
    std::vector<T> h(n);
    GPTOSS_CUDA_CHECK(cudaMemcpy(h.data(), p, n * sizeof(T), cudaMemcpyDeviceToHost));
    return h;
  }
};

std::mt19937 rng(1234);
std::vector<float> randn(size_t n, float std = 1.0f) {
  std::normal_distribution<float> d(0.0f, std);
  std::vector<float> v(n);
  for (auto& x : v) x = d(rng);
  return v;
}
std::vector<bf16_t> to_bf16(const std::vector<float>& v) {
  std::vector<bf16_t> o(v.size());
  for (size_t i = 0; i < v.size(); ++i) o[i] = f32_to_bf16(v[i]);
  return o;
}
std::vector<uint8_t> randbytes(size_t n, int lo = 0, int hi = 255) {
  std::uniform_int_distribution<int> d(lo, hi);
  std::vector<uint8_t> v(n);
  for (auto& x : v) x = uint8_t(d(rng));
  return v;
}
// max |a - b| relative to max |b|
float rel_err(const std::vector<float>& a, const std::vector<float>& b) {
  float m = 0, s = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    if (!std::isfinite(a[i])) return INFINITY;  // unwritten (NaN-poisoned) or broken output
    m = std::max(m, std::fabs(a[i] - b[i])), s = std::max(s, std::fabs(b[i]));
  }
  return m / std::max(s, 1e-20f);
}

// The decode MoE kernels (tensor cores, bf16 activations) at 1, 3, 5, 19, 24
// and 40 slots per expert (19, 24: two sweeps of 16; 40: three), against the CPU expert on the same
// bf16-rounded inputs; then the prefill path (dequantise + cuBLAS).
TEST(CudaKernels, MoeMmaAndPrefillPathsMatchCpuExpert) {
  REQUIRE_GPU();
  for (int T : {1, 3, 5, 19, 24, 40}) {
  const int H = 2880, I = 2880, E = 4, K = 4;  // T tokens, all routed to the same 4 experts
  auto gu_blocks = randbytes(size_t(E) * 2 * I * H / 2), dn_blocks = randbytes(size_t(E) * H * I / 2);
  auto gu_scales = randbytes(size_t(E) * 2 * I * H / 32, 119, 123), dn_scales = randbytes(size_t(E) * H * I / 32, 119, 123);
  auto gu_bias = to_bf16(randn(size_t(E) * 2 * I, 0.02f)), dn_bias = to_bf16(randn(size_t(E) * H, 0.02f));
  auto h = randn(size_t(T) * H);
  for (auto& v : h) v = bf16_to_f32(f32_to_bf16(v));  // the MMA path reads bf16 activations
  // slot t*K + j goes to expert j
  std::vector<int32_t> offsets, slots, active = {0, 1, 2, 3};
  for (int e = 0; e <= E; ++e) offsets.push_back(e * T);
  for (int e = 0; e < E; ++e)
    for (int t = 0; t < T; ++t) slots.push_back(t * K + e);
  // CPU reference, per expert
  ThreadPool pool;
  std::vector<float> expect(size_t(T) * K * H);
  for (int e = 0; e < E; ++e) {
    std::vector<float> y(size_t(T) * H);
    cpu::mxfp4_expert(h.data(), T, H, I, gu_blocks.data() + size_t(e) * 2 * I * H / 2,
                      gu_scales.data() + size_t(e) * 2 * I * H / 32, gu_bias.data() + size_t(e) * 2 * I,
                      dn_blocks.data() + size_t(e) * H * I / 2, dn_scales.data() + size_t(e) * H * I / 32,
                      dn_bias.data() + size_t(e) * H, 1.702f, 7.0f, y.data(), pool);
    for (int t = 0; t < T; ++t) std::copy_n(&y[size_t(t) * H], H, &expect[(size_t(t) * K + e) * H]);
  }
  Dev<uint8_t> d_gub(gu_blocks), d_gus(gu_scales), d_dnb(dn_blocks), d_dns(dn_scales);
  Dev<bf16_t> d_gubias(gu_bias), d_dnbias(dn_bias), d_hq(size_t(T) * H), d_actq(size_t(T) * K * I);
  Dev<float> d_h(h);
  Dev<int32_t> d_off(offsets), d_slots(slots), d_active(active);
  cuda::to_mma_layout_bf16(d_h.p, T, H, d_hq.p, 0);
  for (cuda::Mxfp4Layout layout : {cuda::Mxfp4Layout::kCheckpoint, cuda::Mxfp4Layout::kMma}) {
  const char* lname = layout == cuda::Mxfp4Layout::kMma ? "packed" : "checkpoint";
  if (layout == cuda::Mxfp4Layout::kMma) {  // in place, as the runner does at load
    cuda::pack_mxfp4_for_mma(d_gub.p, d_gus.p, E, 2 * I, H, 0);
    cuda::pack_mxfp4_for_mma(d_dnb.p, d_dns.p, E, H, I, 0);
  }
  Dev<float> d_y(std::vector<float>(size_t(T) * K * H, NAN));
  cuda::moe_gate_up_mma(d_hq.p, T, d_gub.p, d_gus.p, d_gubias.p, E, H, I, K, d_off.p, d_slots.p, d_active.p, 1.702f,
                        7.0f, d_actq.p, 0, layout);
  cuda::moe_down_mma(d_actq.p, T, d_dnb.p, d_dns.p, d_dnbias.p, E, H, I, K, d_off.p, d_slots.p, d_active.p, d_y.p, 0,
                     layout);
  GPTOSS_CUDA_CHECK(cudaDeviceSynchronize());
  float gemv_err = rel_err(d_y.get(), expect);
  EXPECT_LT(gemv_err, 1e-2f) << "MMA path at " << T << " slots/expert, " << lname
                             << " layout (activations rounded to bf16 between the GEMMs)";

  // Prefill path: dequantise to bf16, GEMM through cuBLAS, as the runner does.
  Dev<bf16_t> w_gu(size_t(2) * I * H), w_dn(size_t(H) * I), gath(size_t(T) * H), actb(size_t(T) * I);
  Dev<float> gu32(size_t(T) * 2 * I), dn32(size_t(T) * H), y2(size_t(T) * K * H);
  cublasHandle_t cb;
  GPTOSS_CUBLAS_CHECK(cublasCreate(&cb));
  const float one = 1.0f, zero = 0.0f;
  for (int e = 0; e < E; ++e) {
    const int32_t* sl = d_slots.p + offsets[size_t(e)];
    cuda::dequant_mxfp4_bf16(d_gub.p + size_t(e) * 2 * I * H / 2, d_gus.p + size_t(e) * 2 * I * H / 32, 2 * I, H, w_gu.p,
                             0, layout);
    cuda::gather_slots_bf16(d_h.p, sl, T, K, H, gath.p, 0);
    GPTOSS_CUBLAS_CHECK(cublasGemmEx(cb, CUBLAS_OP_T, CUBLAS_OP_N, 2 * I, T, H, &one, w_gu.p, CUDA_R_16BF, H, gath.p,
                                     CUDA_R_16BF, H, &zero, gu32.p, CUDA_R_32F, 2 * I, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
    cuda::bias_swiglu_bf16(gu32.p, d_gubias.p + size_t(e) * 2 * I, T, I, 1.702f, 7.0f, actb.p, 0);
    cuda::dequant_mxfp4_bf16(d_dnb.p + size_t(e) * H * I / 2, d_dns.p + size_t(e) * H * I / 32, H, I, w_dn.p, 0, layout);
    GPTOSS_CUBLAS_CHECK(cublasGemmEx(cb, CUBLAS_OP_T, CUBLAS_OP_N, H, T, I, &one, w_dn.p, CUDA_R_16BF, I, actb.p,
                                     CUDA_R_16BF, I, &zero, dn32.p, CUDA_R_32F, H, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
    cuda::scatter_slots_bias(dn32.p, d_dnbias.p + size_t(e) * H, sl, T, H, y2.p, 0);
  }
  GPTOSS_CUDA_CHECK(cudaDeviceSynchronize());
  cublasDestroy(cb);
  float gemm_err = rel_err(y2.get(), expect);
  EXPECT_LT(gemm_err, 2e-2f) << "prefill path rounds activations to bf16 (" << lname << " layout)";
  std::printf("moe expert rel err, %d slots/expert, %s layout: mma %.2e, dequant+cublas %.2e\n", T, lname, gemv_err,
              gemm_err);
  }
  }
}

// The grouped expert GEMMs of prefill-sized steps (moe_gemm.cu) against the
// MMA GEMVs (every slot; themselves held to the CPU above) and the CPU expert
// (the slots of a few tokens), at the real shapes: 32 experts, top-4 random
// routing, T tokens, packed layout as the runner keeps GPU-resident experts.
// One case routes every token to the same 4 experts: 17 slots each where the
// step averages 2 (the GEMVs' 8-slot sweeps, three of them per expert).
TEST(CudaKernels, GroupedMoeGemmMatchesMmaAndCpu) {
  REQUIRE_GPU();
  const int H = 2880, I = 2880, E = 32, K = 4;
  if (!cuda::moe_grouped_supported(H, I)) GTEST_SKIP() << "grouped MoE GEMM needs compute capability 8.0";
  auto gu_blocks = randbytes(size_t(E) * 2 * I * H / 2), dn_blocks = randbytes(size_t(E) * H * I / 2);
  auto gu_scales = randbytes(size_t(E) * 2 * I * H / 32, 119, 123), dn_scales = randbytes(size_t(E) * H * I / 32, 119, 123);
  auto gu_bias = to_bf16(randn(size_t(E) * 2 * I, 0.02f)), dn_bias = to_bf16(randn(size_t(E) * H, 0.02f));
  Dev<uint8_t> d_gub(gu_blocks), d_gus(gu_scales), d_dnb(dn_blocks), d_dns(dn_scales);
  Dev<bf16_t> d_gubias(gu_bias), d_dnbias(dn_bias);
  cuda::pack_mxfp4_for_mma(d_gub.p, d_gus.p, E, 2 * I, H, 0);
  cuda::pack_mxfp4_for_mma(d_dnb.p, d_dns.p, E, H, I, 0);
  ThreadPool pool;
  for (const auto& [T, skewed] : std::vector<std::pair<int, bool>>{
           {1, false}, {17, false}, {17, true}, {64, false}, {256, false}, {512, false}, {512, true}, {2048, false},
           {8192, false}}) {
    const std::string what = std::to_string(T) + (skewed ? " tokens on 4 experts" : " tokens");
    auto h = randn(size_t(T) * H);
    for (auto& v : h) v = bf16_to_f32(f32_to_bf16(v));
    std::vector<std::vector<int32_t>> by_expert(E);
    std::vector<int32_t> chosen(size_t(T) * K);
    for (int t = 0; t < T; ++t) {
      std::vector<int32_t> ids(skewed ? K : E);
      std::iota(ids.begin(), ids.end(), 0);
      std::shuffle(ids.begin(), ids.end(), rng);
      for (int j = 0; j < K; ++j) chosen[size_t(t) * K + j] = ids[size_t(j)];
    }
    for (int i = 0; i < T * K; ++i) by_expert[size_t(chosen[size_t(i)])].push_back(i);
    std::vector<int32_t> offsets = {0}, slots, active;
    for (int e = 0; e < E; ++e) {
      slots.insert(slots.end(), by_expert[size_t(e)].begin(), by_expert[size_t(e)].end());
      offsets.push_back(int32_t(slots.size()));
      if (!by_expert[size_t(e)].empty()) active.push_back(e);
    }
    active.resize(E, -1);
    Dev<float> d_h(h);
    Dev<bf16_t> d_hq(size_t(T) * H), d_actq(size_t(T) * K * I), d_actq2(size_t(T) * K * I);
    Dev<int32_t> d_off(offsets), d_slots(slots), d_active(active);
    cuda::to_mma_layout_bf16(d_h.p, T, H, d_hq.p, 0);
    Dev<float> d_ref(std::vector<float>(size_t(T) * K * H, NAN)), d_y(std::vector<float>(size_t(T) * K * H, NAN));
    cuda::moe_gate_up_mma(d_hq.p, T, d_gub.p, d_gus.p, d_gubias.p, E, H, I, K, d_off.p, d_slots.p, d_active.p, 1.702f,
                          7.0f, d_actq.p, 0, cuda::Mxfp4Layout::kMma);
    cuda::moe_down_mma(d_actq.p, T, d_dnb.p, d_dns.p, d_dnbias.p, E, H, I, K, d_off.p, d_slots.p, d_active.p, d_ref.p, 0,
                       cuda::Mxfp4Layout::kMma);
    // Both grouped kernels where this GPU has two (wgmma on Hopper, mma.sync everywhere).
    Dev<float> d_y_sync(std::vector<float>(size_t(T) * K * H, NAN));
    cuda::moe_gate_up_grouped(d_hq.p, T, d_gub.p, d_gus.p, d_gubias.p, E, H, I, K, d_off.p, d_slots.p, 1.702f, 7.0f,
                              d_actq2.p, 0, cuda::GroupedGemm::kMmaSync);
    cuda::moe_down_grouped(d_actq2.p, T, d_dnb.p, d_dns.p, d_dnbias.p, E, H, I, K, d_off.p, d_slots.p, d_y_sync.p, 0,
                           cuda::GroupedGemm::kMmaSync);
    cuda::moe_gate_up_grouped(d_hq.p, T, d_gub.p, d_gus.p, d_gubias.p, E, H, I, K, d_off.p, d_slots.p, 1.702f, 7.0f,
                              d_actq2.p, 0);
    cuda::moe_down_grouped(d_actq2.p, T, d_dnb.p, d_dns.p, d_dnbias.p, E, H, I, K, d_off.p, d_slots.p, d_y.p, 0);
    GPTOSS_CUDA_CHECK(cudaDeviceSynchronize());
    const auto y = d_y.get(), ref = d_ref.get(), y_sync = d_y_sync.get();
    const float vs_mma = rel_err(y, ref), sync_vs_mma = rel_err(y_sync, ref);
    EXPECT_LT(vs_mma, 1e-2f) << what << ": grouped (" << (cuda::moe_grouped_uses_wgmma() ? "wgmma" : "mma.sync")
                             << ") vs MMA GEMVs";
    EXPECT_LT(sync_vs_mma, 1e-2f) << what << ": grouped mma.sync vs MMA GEMVs";
    if (cuda::moe_grouped_uses_wgmma()) {
      EXPECT_LT(rel_err(y, y_sync), 1e-3f) << what << ": wgmma vs mma.sync (same bf16 operands)";
      std::printf("grouped moe, %s: wgmma vs mma.sync rel err %.2e\n", what.c_str(), rel_err(y, y_sync));
      // Every wgmma tile, whatever the step's size would choose.
      const std::pair<cuda::GroupedGemm, const char*> tiles[] = {
          {cuda::GroupedGemm::kWgmma128, "128 x 128"},       {cuda::GroupedGemm::kWgmma64, "64 x 128"},
          {cuda::GroupedGemm::kWgmmaNarrow32, "narrow 32"}, {cuda::GroupedGemm::kWgmmaNarrow48, "narrow 48"},
          {cuda::GroupedGemm::kWgmmaNarrow64, "narrow 64"}};
      for (const auto& [which, name] : tiles) {
        Dev<bf16_t> d_act3(size_t(T) * K * I);
        Dev<float> d_y3(std::vector<float>(size_t(T) * K * H, NAN));
        cuda::moe_gate_up_grouped(d_hq.p, T, d_gub.p, d_gus.p, d_gubias.p, E, H, I, K, d_off.p, d_slots.p, 1.702f,
                                  7.0f, d_act3.p, 0, which);
        cuda::moe_down_grouped(d_act3.p, T, d_dnb.p, d_dns.p, d_dnbias.p, E, H, I, K, d_off.p, d_slots.p, d_y3.p, 0,
                               which);
        GPTOSS_CUDA_CHECK(cudaDeviceSynchronize());
        const float err = rel_err(d_y3.get(), y_sync);
        EXPECT_LT(err, 1e-3f) << what << ": wgmma " << name << " vs mma.sync";
        std::printf("grouped moe, %s: wgmma %s vs mma.sync rel err %.2e\n", what.c_str(), name, err);
      }
    }
    // CPU: every slot of the first, a middle and the last token.
    float vs_cpu = 0;
    for (int t : {0, T / 2, T - 1}) {
      for (int j = 0; j < K; ++j) {
        const int e = chosen[size_t(t) * K + j];
        std::vector<float> out(H);
        cpu::mxfp4_expert(h.data() + size_t(t) * H, 1, H, I, gu_blocks.data() + size_t(e) * 2 * I * H / 2,
                          gu_scales.data() + size_t(e) * 2 * I * H / 32, gu_bias.data() + size_t(e) * 2 * I,
                          dn_blocks.data() + size_t(e) * H * I / 2, dn_scales.data() + size_t(e) * H * I / 32,
                          dn_bias.data() + size_t(e) * H, 1.702f, 7.0f, out.data(), pool);
        const std::vector<float> got(y.begin() + (size_t(t) * K + j) * H, y.begin() + (size_t(t) * K + j + 1) * H);
        vs_cpu = std::max(vs_cpu, rel_err(got, out));
      }
    }
    EXPECT_LT(vs_cpu, 2e-2f) << what << ": grouped vs CPU expert";
    std::printf("grouped moe, %s: rel err %.2e vs MMA GEMVs, %.2e vs CPU\n", what.c_str(), vs_mma, vs_cpu);
  }
}

// The GPU's MXFP4 bit layout (mxfp4_mma_layout.h), on the host: every pair the
// decode kernels extract from a packed word equals the checkpoint word's, the
// packing moves each bit to a distinct place, and the scale bias round-trips.
// The tile order is a permutation of each group's slots, for whole and
// partial groups (rows % 32) and rows whose last chunk has 1..3 blocks, and
// tile_row_block inverts it.
TEST(Mxfp4MmaLayout, TileOrderIsAPermutationOfEachGroup) {
  for (int rg : {1, 7, 31, 32})
    for (int nb : {1, 3, 4, 45, 90, 91}) {
      std::vector<int> hits(size_t(rg) * nb, 0);
      for (int j = 0; j < rg; ++j)
        for (int b = 0; b < nb; ++b) {
          const int p = cuda::tile_pos(j, b, rg, nb);
          ASSERT_GE(p, 0);
          ASSERT_LT(p, rg * nb);
          ++hits[size_t(p)];
          int j2 = -1, b2 = -1;
          cuda::tile_row_block(p, rg, nb, j2, b2);
          ASSERT_EQ(j2, j) << "rg " << rg << " nb " << nb << " p " << p;
          ASSERT_EQ(b2, b) << "rg " << rg << " nb " << nb << " p " << p;
        }
      for (int h : hits) ASSERT_EQ(h, 1) << "rg " << rg << " nb " << nb;
      // A chunk of 4 blocks of all rows is one contiguous run.
      if (nb >= 4) {
        for (int j = 0; j < rg; ++j) EXPECT_EQ(cuda::tile_pos(j, 0, rg, nb), 4 * j);
      }
    }
}

// The narrow wgmma tiles (moe_gemm_sm90_narrow.cu): the dequant's placement
// of a block's 128 weight rows is a permutation, and the accumulators the
// epilogue reads as gate i and up i (or as down row r) are those rows.
TEST(NarrowMoeRows, DequantPlacementMatchesEpilogue) {
  for (bool gate_up : {true, false}) {
    std::vector<int> hits(128, 0);
    for (int r = 0; r < 128; ++r) {
      const int a = cuda::narrow_rows::a_row(gate_up, r);
      ASSERT_GE(a, 0);
      ASSERT_LT(a, 128);
      ++hits[size_t(a)];
    }
    for (int h : hits) ASSERT_EQ(h, 1) << (gate_up ? "gate_up" : "down");
  }
  std::vector<int> gates(64, 0);
  for (int wg = 0; wg < 2; ++wg)
    for (int w = 0; w < 4; ++w)
      for (int g = 0; g < 8; ++g) {
        const int i = cuda::narrow_rows::gate_index(wg, w, g);
        ASSERT_GE(i, 0);
        ASSERT_LT(i, 64);
        ++gates[size_t(i)];
        for (int h = 0; h < 4; ++h) {
          const int row = cuda::narrow_rows::acc_row(wg, w, g, h);
          EXPECT_EQ(cuda::narrow_rows::a_row(true, 2 * i + (h >= 2 ? 1 : 0)), row) << "wg " << wg << " w " << w;
          EXPECT_EQ(cuda::narrow_rows::a_row(false, row), row);
        }
      }
  for (int n : gates) EXPECT_EQ(n, 1);
}

TEST(Mxfp4MmaLayout, PackedPairsEqualCheckpointPairs) {
  std::mt19937 r(7);
  for (int i = 0; i < 200000; ++i) {
    const uint32_t w = i < 32 ? (1u << i) : uint32_t(r());
    const uint32_t p = cuda::pack_mxfp4_word(w);
    ASSERT_EQ(__builtin_popcount(p), __builtin_popcount(w)) << std::hex << w;
    ASSERT_EQ(cuda::fp4_pair_bits_packed<0>(p), cuda::fp4_pair_bits_checkpoint<0>(w)) << std::hex << w;
    ASSERT_EQ(cuda::fp4_pair_bits_packed<1>(p), cuda::fp4_pair_bits_checkpoint<1>(w)) << std::hex << w;
    ASSERT_EQ(cuda::fp4_pair_bits_packed<2>(p), cuda::fp4_pair_bits_checkpoint<2>(w)) << std::hex << w;
    ASSERT_EQ(cuda::fp4_pair_bits_packed<3>(p), cuda::fp4_pair_bits_checkpoint<3>(w)) << std::hex << w;
  }
  uint32_t seen = 0;
  for (int b = 0; b < 32; ++b) seen |= cuda::pack_mxfp4_word(1u << b);
  EXPECT_EQ(seen, 0xffffffffu);
  for (int s = 0; s <= 144; ++s) EXPECT_EQ(cuda::unpack_mxfp4_scale(cuda::pack_mxfp4_scale(uint8_t(s))), s);
  EXPECT_EQ(cuda::pack_mxfp4_scale(255), 254);  // scales above 2^17 saturate, as the kernels always did
}

// The small-step dense GEMM (tensor cores) against a float64 reference, with
// row counts that are not multiples of the 32-row tile, and accumulation.
TEST(CudaKernels, SmallGemmMatchesReference) {
  REQUIRE_GPU();
  for (int T : {1, 2, 3, 4, 8, 9, 16}) {
    for (auto [K, N] : {std::pair{2880, 5120}, std::pair{4096, 2880}, std::pair{2880, 37}}) {
      auto W = to_bf16(randn(size_t(N) * K, 0.05f));
      auto x = to_bf16(randn(size_t(T) * K));
      auto y0 = randn(size_t(T) * N);
      ASSERT_TRUE(cuda::small_gemm_supported(T, K));
      Dev<bf16_t> dW(W), dx(x);
      Dev<float> dy(y0), dz(std::vector<float>(size_t(T) * N, NAN));
      cuda::small_gemm_bf16(dx.p, T, K, dW.p, N, dy.p, true, 0);
      cuda::small_gemm_bf16(dx.p, T, K, dW.p, N, dz.p, false, 0);
      GPTOSS_CUDA_CHECK(cudaDeviceSynchronize());
      std::vector<float> ref(size_t(T) * N), refacc(size_t(T) * N);
      for (int t = 0; t < T; ++t)
        for (int n = 0; n < N; ++n) {
          double acc = 0;
          for (int k = 0; k < K; ++k)
            acc += double(bf16_to_f32(W[size_t(n) * K + k])) * double(bf16_to_f32(x[size_t(t) * K + k]));
          ref[size_t(t) * N + n] = float(acc);
          refacc[size_t(t) * N + n] = float(acc + y0[size_t(t) * N + n]);
        }
      const float e1 = rel_err(dz.get(), ref), e2 = rel_err(dy.get(), refacc);
      EXPECT_LT(e1, 1e-5f) << "T " << T << " K " << K << " N " << N;
      EXPECT_LT(e2, 1e-5f) << "T " << T << " K " << K << " N " << N << " (accumulate)";
      if (cuda::row_gemv_supported(T, K)) {  // the warp-per-row variant of batch 1..4
        Dev<float> ry(y0), rz(std::vector<float>(size_t(T) * N, NAN));
        cuda::row_gemv_bf16(dx.p, T, K, dW.p, N, ry.p, true, 0);
        cuda::row_gemv_bf16(dx.p, T, K, dW.p, N, rz.p, false, 0);
        GPTOSS_CUDA_CHECK(cudaDeviceSynchronize());
        EXPECT_LT(rel_err(rz.get(), ref), 1e-5f) << "row gemv T " << T << " K " << K << " N " << N;
        EXPECT_LT(rel_err(ry.get(), refacc), 1e-5f) << "row gemv T " << T << " K " << K << " N " << N << " (accumulate)";
      }
    }
  }
}

TEST(CudaKernels, RouterLogitsAreFloat32Exact) {
  REQUIRE_GPU();
  // A block per (expert, token) for decode-sized steps; 8 tokens a block from 1024, for 32, 64 and 128 experts.
  for (auto [T, E] : {std::pair{5, 32}, std::pair{37, 128}, std::pair{1030, 32}, std::pair{1100, 64}, std::pair{1030, 128}}) {
  const int H = 2880;
  auto W = to_bf16(randn(size_t(E) * H, 0.05f));
  auto h = randn(size_t(T) * H);
  Dev<bf16_t> dW(W);
  Dev<float> dh(h), dy(std::vector<float>(size_t(T) * E, NAN));
  cuda::router_logits_f32(dh.p, T, H, dW.p, E, dy.p, 0);
  GPTOSS_CUDA_CHECK(cudaDeviceSynchronize());
  std::vector<float> ref(size_t(T) * E);
  for (int t = 0; t < T; ++t)
    for (int e = 0; e < E; ++e) {
      double acc = 0;
      for (int k = 0; k < H; ++k) acc += double(h[size_t(t) * H + k]) * double(bf16_to_f32(W[size_t(e) * H + k]));
      ref[size_t(t) * E + e] = float(acc);
    }
  EXPECT_LT(rel_err(dy.get(), ref), 1e-6f) << T << " tokens, " << E << " experts";
  }
}

// The decode router with the norm inside equals the norm kernel, then the
// router kernel: the same normed bf16 row, logits to float32 rounding.
TEST(CudaKernels, NormRouterEqualsNormThenRouter) {
  REQUIRE_GPU();
  const int H = 2880, E = 32;
  for (int T : {1, 4}) {
    auto x = randn(size_t(T) * H, 3.0f);
    auto bias = to_bf16(randn(H, 0.5f)), norm_w = to_bf16(randn(H, 1.0f));
    auto W = to_bf16(randn(size_t(E) * H, 0.05f));
    Dev<float> dx(x), dx2(x), d32(size_t(T) * H), dlog(size_t(T) * E), dlog2(size_t(T) * E);
    Dev<bf16_t> db(bias), dn(norm_w), dW(W), dmma(size_t(T) * H), dmma2(size_t(T) * H);
    cuda::add_bias_rmsnorm(dx.p, db.p, dn.p, nullptr, d32.p, dmma.p, T, H, 1e-5f, nullptr, 0);
    cuda::router_logits_f32(d32.p, T, H, dW.p, E, dlog.p, 0);
    cuda::norm_router_logits(dx2.p, db.p, dn.p, 1e-5f, T, H, dW.p, E, dlog2.p, dmma2.p, 0);
    GPTOSS_CUDA_CHECK(cudaDeviceSynchronize());
    EXPECT_EQ(dmma2.get(), dmma.get()) << "T " << T;
    EXPECT_LT(rel_err(dlog2.get(), dlog.get()), 1e-6f) << "T " << T;
    EXPECT_EQ(dx2.get(), x) << "x must stay as it was";
  }
}

// Decode steps of one token take a one-warp kernel, larger steps the block
// kernel: both against the CPU's top-k, and their expert lists against the
// ids, also for hybrid (k_from) and expert-parallel (e_lo, n_local) lists.
TEST(CudaKernels, RouterTopkMatchesCpu) {
  REQUIRE_GPU();
  struct Case {
    int T, E, k_from, e_lo, n_local;
  };
  const int K = 4;
  for (const Case& c : {Case{37, 128, 0, 0, 128}, Case{1, 128, 0, 0, 128}, Case{1, 32, 0, 0, 32},
                        Case{1, 32, 2, 0, 32}, Case{1, 128, 0, 64, 64}, Case{1, 32, 1, 16, 16},
                        Case{37, 128, 1, 32, 32}, Case{5, 32, 0, 0, 32}, Case{2100, 32, 0, 0, 32}}) {
    SCOPED_TRACE("T " + std::to_string(c.T) + " E " + std::to_string(c.E) + " k_from " + std::to_string(c.k_from) +
                 " experts " + std::to_string(c.e_lo) + "+" + std::to_string(c.n_local));
    const int T = c.T, E = c.E, L = c.n_local;
    auto logits = randn(size_t(T) * E);
    std::vector<bf16_t> bias = to_bf16(randn(E, 0.1f));
    Dev<float> d_logits(logits), d_w(size_t(T) * K);
    Dev<bf16_t> d_bias(bias);
    Dev<int32_t> d_ids(size_t(T) * K), d_off(std::vector<int32_t>(size_t(L) + 1, -7)),
        d_slots(std::vector<int32_t>(size_t(T) * K, -7)), d_active(std::vector<int32_t>(E, -7));
    cuda::route_topk(d_logits.p, d_bias.p, T, E, K, d_ids.p, d_w.p, d_off.p, d_slots.p, d_active.p, 0, c.k_from,
                     c.e_lo, L);
    GPTOSS_CUDA_CHECK(cudaDeviceSynchronize());
    auto ids = d_ids.get();
    auto w = d_w.get();
    auto off = d_off.get();
    auto slots = d_slots.get();
    auto active = d_active.get();
    for (int t = 0; t < T; ++t) {
      std::vector<float> l(E);
      for (int e = 0; e < E; ++e) l[size_t(e)] = logits[size_t(t) * E + e] + bf16_to_f32(bias[size_t(e)]);
      int32_t ce[4];
      float cw[4];
      cpu::router_topk(l.data(), E, K, ce, cw);
      for (int j = 0; j < K; ++j) {
        EXPECT_EQ(ids[size_t(t) * K + j], ce[j]) << "token " << t;
        EXPECT_NEAR(w[size_t(t) * K + j], cw[j], 1e-5);
      }
    }
    // Lists in this GPU's numbering: each local expert's slots j >= k_from, in slot order.
    auto want = std::vector<std::vector<int>>(size_t(L));
    for (int i = 0; i < T * K; ++i) {
      const int le = ids[size_t(i)] - c.e_lo;
      if (i % K >= c.k_from && le >= 0 && le < L) want[size_t(le)].push_back(i);
    }
    int n_active = 0, run = 0;
    for (int le = 0; le < L; ++le) {
      EXPECT_EQ(off[size_t(le)], run) << "expert " << le;
      for (int i = 0; i < int(want[size_t(le)].size()); ++i) { EXPECT_EQ(slots[size_t(run + i)], want[size_t(le)][size_t(i)]); }
      run += int(want[size_t(le)].size());
      if (!want[size_t(le)].empty()) { EXPECT_EQ(active[size_t(n_active++)], le); }
    }
    EXPECT_EQ(off[size_t(L)], run);
    for (int j = n_active; j < E; ++j) { EXPECT_EQ(active[size_t(j)], -1); }
  }
}

TEST(CudaKernels, RopeAttentionWithSinksAndWindowMatchCpu) {
  REQUIRE_GPU();
  // Two sequences in one step: a 300-token prefill and a decode at position 1000.
  const int NH = 64, NKV = 8, HD = 64, Q = NH * HD, KVD = NKV * HD, bs = 16, W = 128;
  for (bool sliding : {false, true}) {
    const int T0 = 300, P1 = 1000, T = T0 + 1;
    const int full_blocks = 64 + 64, ring = window_ring_blocks(W, 512, bs);
    const int nblocks = sliding ? 2 * ring : full_blocks;
    // Fill the cache for sequence 1's earlier positions with random K/V (bf16) and
    // compute step tokens' q/k/v from random qkv rows, through the CUDA rope kernel.
    auto qkv = randn(size_t(T) * (Q + 2 * KVD));
    auto bias = to_bf16(randn(size_t(Q + 2 * KVD), 0.1f));
    std::vector<bf16_t> cache(size_t(nblocks) * 2 * bs * KVD);
    for (auto& c : cache) c = f32_to_bf16(randn(1)[0]);
    std::vector<int32_t> pos(T), seq(T);
    for (int t = 0; t < T0; ++t) pos[size_t(t)] = t, seq[size_t(t)] = 0;
    pos[T0] = P1, seq[T0] = 1;
    std::vector<int32_t> full_table(2 * 64), window_table(2 * ring), window_len = {ring, ring};
    for (int i = 0; i < 64; ++i) full_table[size_t(i)] = 63 - i, full_table[64 + size_t(i)] = 64 + i;
    for (int i = 0; i < ring; ++i) window_table[size_t(i)] = i, window_table[size_t(ring + i)] = ring + i;
    cpu::YarnRope rope(HD, 150000.0f, 32.0f, 32.0f, 1.0f, 4096, false);
    auto sinks = to_bf16(randn(NH));
    Dev<float> d_qkv(qkv), d_invf(std::vector<float>(rope.inv_freq, rope.inv_freq + 32));
    Dev<bf16_t> d_bias(bias), d_cache(cache), d_q(size_t(T) * Q), d_out(size_t(T) * Q), d_sinks(sinks);
    Dev<int32_t> d_pos(pos), d_seq(seq), d_full(full_table), d_win(window_table), d_wlen(window_len);
    cuda::TokenKv tk{d_pos.p, d_seq.p, d_full.p, 64, d_win.p, d_wlen.p, ring, bs};
    cuda::rope_store_kv(d_qkv.p, d_bias.p, d_invf.p, rope.attention_factor, T, NH, NKV, HD, tk, sliding, d_cache.p,
                        nblocks, d_q.p, 0);
    cuda::attention(d_q.p, d_cache.p, nblocks, d_sinks.p, T, NH, NKV, HD, tk, sliding, W, d_out.p, 0);
    // The same with the keys split among blocks (flash-decoding): equal up to
    // float summation order, whatever the split count (5 leaves some shares empty).
    for (int splits : {3, 5, 16}) {
      Dev<bf16_t> d_split(size_t(T) * Q);
      Dev<float> scratch(cuda::attention_scratch_floats(T, NH, splits));
      cuda::attention(d_q.p, d_cache.p, nblocks, d_sinks.p, T, NH, NKV, HD, tk, sliding, W, d_split.p, 0, splits,
                      scratch.p);
      GPTOSS_CUDA_CHECK(cudaDeviceSynchronize());
      auto a = d_out.get(), b = d_split.get();
      float d = 0, m = 0;
      for (size_t i = 0; i < a.size(); ++i)
        d = std::max(d, std::fabs(bf16_to_f32(a[i]) - bf16_to_f32(b[i]))), m = std::max(m, std::fabs(bf16_to_f32(a[i])));
      EXPECT_LT(d, 1e-2f * m) << "splits " << splits << (sliding ? " sliding" : " full");
    }
    GPTOSS_CUDA_CHECK(cudaDeviceSynchronize());
    // CPU: the same math on the GPU's cache contents (bf16 -> float) and q.
    auto gcache = d_cache.get();
    auto gq = d_q.get();
    auto gout = d_out.get();
    // Check q against CPU rope.
    std::vector<float> q_cpu(static_cast<size_t>(Q));
    float q_err = 0;
    for (int t : {0, 150, T0}) {
      for (int i = 0; i < Q; ++i) q_cpu[size_t(i)] = qkv[size_t(t) * (Q + 2 * KVD) + i] + bf16_to_f32(bias[size_t(i)]);
      rope.apply(q_cpu.data(), NH, pos[size_t(t)]);
      for (int i = 0; i < Q; ++i) q_err = std::max(q_err, std::fabs(bf16_to_f32(gq[size_t(t) * Q + i]) - q_cpu[size_t(i)]) /
                                                              (std::fabs(q_cpu[size_t(i)]) + 1e-2f));
    }
    EXPECT_LT(q_err, 1e-2f) << "rope";
    auto kv_at = [&](int s, int j, bool v, int g) {
      const int b = j / bs;
      const int32_t blk = sliding ? window_table[size_t(s * ring + b % ring)] : full_table[size_t(s * 64 + b)];
      static thread_local std::vector<float> row(64);
      for (int d = 0; d < HD; ++d)
        row[size_t(d)] = bf16_to_f32(gcache[((size_t(blk) * 2 + (v ? 1 : 0)) * bs + j % bs) * KVD + g * HD + d]);
      return row;
    };
    float err = 0;
    std::vector<float> scores(2000), out(HD), qh(HD);
    for (int t : {0, 1, 127, 128, 200, 299, T0}) {
      for (int h = 0; h < NH; h += 7) {
        const int g = h / (NH / NKV), last = pos[size_t(t)], first = sliding ? std::max(0, last - W + 1) : 0;
        for (int d = 0; d < HD; ++d) qh[size_t(d)] = bf16_to_f32(gq[size_t(t) * Q + h * HD + d]);
        std::vector<std::vector<float>> ks, vs;
        for (int j = first; j <= last; ++j) ks.push_back(kv_at(seq[size_t(t)], j, false, g)), vs.push_back(kv_at(seq[size_t(t)], j, true, g));
        cpu::attend_with_sink(qh.data(), HD, first, last, bf16_to_f32(sinks[size_t(h)]), 0.125f,
                              [&](int j) { return ks[size_t(j - first)].data(); }, [&](int j) { return vs[size_t(j - first)].data(); },
                              scores.data(), out.data());
        for (int d = 0; d < HD; ++d) err = std::max(err, std::fabs(bf16_to_f32(gout[size_t(t) * Q + h * HD + d]) - out[size_t(d)]));
      }
    }
    EXPECT_LT(err, 2e-2f) << (sliding ? "sliding" : "full") << " attention";
    std::printf("%s attention max abs err %.2e, rope rel err %.2e\n", sliding ? "sliding" : "full", err, q_err);
  }
}

// The tensor-core prefill kernel against attention.cu (every output) and the
// CPU (sampled rows) on one step of three sequences: a T-token chunk after a
// 100-token cached prefix, a decode at position 3000 and a 17-token chunk, on
// random cache contents; full and sliding layers, GQA groups of 8 (gpt-oss)
// and 4 (the tiny fixture).
TEST(CudaKernels, FlashAttentionMatchesAttentionAndCpu) {  // and decode_mma_attention
  REQUIRE_GPU();
  for (int NKV : {8, 2}) {
    const int NH = NKV == 8 ? 64 : 8, HD = 64, Q = NH * HD, KVD = NKV * HD, bs = 16, W = 128;
    if (!cuda::flash_attention_supported(NH, NKV, HD)) GTEST_SKIP() << "flash attention needs compute capability 8.0";
    for (int T0 : {17, 512, 2048, 8192}) {
      if (NKV == 2 && T0 > 512) continue;
      const int P0 = 100, P1 = 3000, T2 = 17, T = T0 + 1 + T2;
      const int per_seq = (std::max(P0 + T0, P1 + 1) + bs - 1) / bs;
      const int ring = window_ring_blocks(W, T0 + 32, bs);
      std::vector<int32_t> pos(T), seq(T);
      for (int t = 0; t < T0; ++t) pos[size_t(t)] = P0 + t, seq[size_t(t)] = 0;
      pos[size_t(T0)] = P1, seq[size_t(T0)] = 1;
      for (int t = 0; t < T2; ++t) pos[size_t(T0 + 1 + t)] = 40 + t, seq[size_t(T0 + 1 + t)] = 2;
      // Block ids shuffled, so that neighbouring positions live far apart.
      std::vector<int32_t> full_table(size_t(3 * per_seq)), window_table(size_t(3 * ring)), window_len = {ring, ring, ring};
      for (size_t i = 0; i < full_table.size(); ++i) full_table[i] = int32_t(i);
      for (size_t i = 0; i < window_table.size(); ++i) window_table[i] = int32_t(i);
      std::shuffle(full_table.begin(), full_table.end(), rng);
      std::shuffle(window_table.begin(), window_table.end(), rng);
      auto q = to_bf16(randn(size_t(T) * Q));
      auto sinks = to_bf16(randn(NH));
      Dev<bf16_t> d_q(q), d_sinks(sinks);
      Dev<int32_t> d_pos(pos), d_seq(seq), d_full(full_table), d_win(window_table), d_wlen(window_len);
      cuda::TokenKv tk{d_pos.p, d_seq.p, d_full.p, per_seq, d_win.p, d_wlen.p, ring, bs};
      for (bool sliding : {false, true}) {
        const size_t nblocks = sliding ? window_table.size() : full_table.size();
        auto cache = to_bf16(randn(nblocks * 2 * bs * KVD));
        Dev<bf16_t> d_cache(cache);
        const std::vector<bf16_t> poison(size_t(T) * Q, bf16_t(0xffff));  // NaN: unwritten outputs fail
        Dev<bf16_t> d_ref(poison), d_flash(poison), d_dec(poison);
        cuda::attention(d_q.p, d_cache.p, int(nblocks), d_sinks.p, T, NH, NKV, HD, tk, sliding, W, d_ref.p, 0);
        cuda::flash_attention(d_q.p, d_cache.p, d_sinks.p, T, NH, NKV, tk, sliding, W, d_flash.p, 0);
        // The decode kernel (a block per token) on every token too: prompt rows are its slow case, not a wrong one.
        cuda::decode_mma_attention(d_q.p, d_cache.p, d_sinks.p, T, NH, NKV, tk, sliding, W, d_dec.p, 0);
        GPTOSS_CUDA_CHECK(cudaDeviceSynchronize());
        const auto ref = d_ref.get(), fl = d_flash.get(), dec = d_dec.get();
        float d = 0, dd = 0, m = 0;
        for (size_t i = 0; i < ref.size(); ++i) {
          const float a = bf16_to_f32(fl[i]), b = bf16_to_f32(ref[i]), c = bf16_to_f32(dec[i]);
          d = std::isfinite(a) ? std::max(d, std::fabs(a - b)) : INFINITY;
          dd = std::isfinite(c) ? std::max(dd, std::fabs(c - b)) : INFINITY;
          m = std::max(m, std::fabs(b));
        }
        const std::string what = std::string(sliding ? "sliding" : "full") + " T0=" + std::to_string(T0) +
                                 " group " + std::to_string(NH / NKV);
        EXPECT_LT(d, 2e-2f) << what << " vs attention.cu (max |out| " << m << ")";
        EXPECT_LT(dd, 2e-2f) << what << " decode_mma_attention vs attention.cu (max |out| " << m << ")";
        // CPU on a few rows of each sequence.
        auto kv_at = [&](int s, int j, int v, int g) {
          const int b = j / bs;
          const int32_t blk = sliding ? window_table[size_t(s * ring + b % ring)] : full_table[size_t(s * per_seq + b)];
          std::vector<float> row(HD);
          for (int e = 0; e < HD; ++e)
            row[size_t(e)] = bf16_to_f32(cache[((size_t(blk) * 2 + size_t(v)) * bs + j % bs) * KVD + g * HD + e]);
          return row;
        };
        float err = 0, err_dec = 0;
        std::vector<float> scores(size_t(P0 + T0 + P1 + 1)), out(HD), qh(HD);
        for (int t : {0, T0 / 2, T0 - 1, T0, T0 + 1, T - 1}) {
          for (int h = t % 5; h < NH; h += 9) {
            const int g = h / (NH / NKV), last = pos[size_t(t)], first = sliding ? std::max(0, last - W + 1) : 0;
            for (int e = 0; e < HD; ++e) qh[size_t(e)] = bf16_to_f32(q[size_t(t) * Q + h * HD + e]);
            std::vector<std::vector<float>> ks, vs;
            for (int j = first; j <= last; ++j) ks.push_back(kv_at(seq[size_t(t)], j, 0, g)), vs.push_back(kv_at(seq[size_t(t)], j, 1, g));
            cpu::attend_with_sink(qh.data(), HD, first, last, bf16_to_f32(sinks[size_t(h)]), 0.125f,
                                  [&](int j) { return ks[size_t(j - first)].data(); },
                                  [&](int j) { return vs[size_t(j - first)].data(); }, scores.data(), out.data());
            for (int e = 0; e < HD; ++e) {
              err = std::max(err, std::fabs(bf16_to_f32(fl[size_t(t) * Q + h * HD + e]) - out[size_t(e)]));
              err_dec = std::max(err_dec, std::fabs(bf16_to_f32(dec[size_t(t) * Q + h * HD + e]) - out[size_t(e)]));
            }
          }
        }
        EXPECT_LT(err, 2e-2f) << what << " vs CPU";
        EXPECT_LT(err_dec, 2e-2f) << what << " decode_mma_attention vs CPU";
        std::printf("flash attention %s: max abs diff %.2e vs attention.cu, %.2e vs CPU; decode_mma_attention %.2e / %.2e\n",
                    what.c_str(), d, err, dd, err_dec);
      }
    }
  }
}

// The fused decode kernel against rope_store_kv + attention: the same cache
// contents bit for bit, and the same outputs up to float summation order,
// for one and several key splits (merged by the last block of each head group).
TEST(CudaKernels, DecodeAttentionKernelsEqualRopeThenAttention) {
  REQUIRE_GPU();
  const int NH = 64, NKV = 8, HD = 64, Q = NH * HD, KVD = NKV * HD, bs = 16, W = 128, pitch = 64;
  const std::vector<int32_t> pos = {0, 5, 127, 128, 700, 1000};  // one token per sequence
  const int T = int(pos.size());
  for (bool sliding : {false, true}) {
    const int ring = window_ring_blocks(W, 512, bs);
    const int nblocks = sliding ? T * ring : T * pitch;
    auto qkv = randn(size_t(T) * (Q + 2 * KVD));
    auto bias = to_bf16(randn(size_t(Q + 2 * KVD), 0.1f));
    std::vector<bf16_t> cache(size_t(nblocks) * 2 * bs * KVD);
    for (auto& c : cache) c = f32_to_bf16(randn(1)[0]);
    std::vector<int32_t> seq(static_cast<size_t>(T)), full_table(static_cast<size_t>(T) * pitch),
        window_table(static_cast<size_t>(T) * ring), window_len(static_cast<size_t>(T), ring);
    for (int t = 0; t < T; ++t) seq[size_t(t)] = t;
    for (size_t i = 0; i < full_table.size(); ++i) full_table[i] = int32_t(full_table.size() - 1 - i);
    for (size_t i = 0; i < window_table.size(); ++i) window_table[i] = int32_t(i);
    cpu::YarnRope rope(HD, 150000.0f, 32.0f, 32.0f, 1.0f, 4096, false);
    auto sinks = to_bf16(randn(NH));
    Dev<float> d_qkv(qkv), d_invf(std::vector<float>(rope.inv_freq, rope.inv_freq + 32));
    Dev<bf16_t> d_bias(bias), d_sinks(sinks), d_q(size_t(T) * Q), d_ref_cache(cache), d_ref(size_t(T) * Q);
    Dev<int32_t> d_pos(pos), d_seq(seq), d_full(full_table), d_win(window_table), d_wlen(window_len);
    cuda::TokenKv tk{d_pos.p, d_seq.p, d_full.p, pitch, d_win.p, d_wlen.p, ring, bs};
    cuda::rope_store_kv(d_qkv.p, d_bias.p, d_invf.p, rope.attention_factor, T, NH, NKV, HD, tk, sliding,
                        d_ref_cache.p, nblocks, d_q.p, 0);
    cuda::attention(d_q.p, d_ref_cache.p, nblocks, d_sinks.p, T, NH, NKV, HD, tk, sliding, W, d_ref.p, 0);
    GPTOSS_CUDA_CHECK(cudaDeviceSynchronize());
    const auto ref = d_ref.get(), ref_cache = d_ref_cache.get();
    for (int splits : {1, 4, 5, 16}) {
      Dev<bf16_t> d_cache(cache), d_out(size_t(T) * Q);
      Dev<float> scratch(cuda::attention_scratch_floats(T, NH, splits));
      Dev<int> counters(std::vector<int>(size_t(T) * NKV, 0));
      for (int rep = 0; rep < 2; ++rep)  // the counters must come back zeroed
        cuda::decode_attention(d_qkv.p, d_bias.p, d_invf.p, rope.attention_factor, T, NH, NKV, HD, tk, sliding, W,
                               d_cache.p, d_sinks.p, d_out.p, 0, splits, scratch.p, counters.p);
      GPTOSS_CUDA_CHECK(cudaDeviceSynchronize());
      const auto out = d_out.get(), got_cache = d_cache.get();
      size_t cache_diffs = 0;
      for (size_t i = 0; i < cache.size(); ++i) cache_diffs += got_cache[i] != ref_cache[i];
      EXPECT_EQ(cache_diffs, 0u) << "splits " << splits << (sliding ? " sliding" : " full");
      float d = 0, m = 0;
      for (size_t i = 0; i < ref.size(); ++i)
        d = std::max(d, std::fabs(bf16_to_f32(out[i]) - bf16_to_f32(ref[i]))), m = std::max(m, std::fabs(bf16_to_f32(ref[i])));
      EXPECT_LT(d, 1e-2f * m) << "splits " << splits << (sliding ? " sliding" : " full");
      for (int c : counters.get()) EXPECT_EQ(c, 0);
    }
    // The staged kernel: every token on sliding layers, those with at most
    // kStagedKeys keys (positions 0, 5, 127: the first three) on full ones.
    const int T_staged = sliding ? T : 3;
    ASSERT_TRUE(cuda::staged_decode_attention_fits(sliding ? W : pos[size_t(T_staged) - 1] + 1, NH, NKV, HD));
    if (!sliding) {
      ASSERT_FALSE(cuda::staged_decode_attention_fits(pos[size_t(T_staged)] + 1, NH, NKV, HD));
    }
    // The reference cache also holds the other tokens' keys: compare the staged tokens' rows.
    std::vector<bf16_t> want = cache;
    for (int t = 0; t < T_staged; ++t) {
      const int p = pos[size_t(t)], b = p / bs, r = p % bs;
      const int block = sliding ? window_table[size_t(t) * ring + b % ring] : full_table[size_t(t) * pitch + b];
      for (int kv = 0; kv < 2; ++kv) {
        const size_t at = ((size_t(block) * 2 + kv) * bs + r) * KVD;
        std::copy(ref_cache.begin() + long(at), ref_cache.begin() + long(at + KVD), want.begin() + long(at));
      }
    }
    {
      Dev<bf16_t> d_cache(cache), d_out(size_t(T) * Q);
      cuda::staged_decode_attention(d_qkv.p, d_bias.p, d_invf.p, rope.attention_factor, T_staged, NH, NKV, tk,
                                    sliding, W, d_cache.p, d_sinks.p, d_out.p, 0);
      GPTOSS_CUDA_CHECK(cudaDeviceSynchronize());
      const auto got_cache = d_cache.get();
      size_t cache_diffs = 0;
      for (size_t i = 0; i < cache.size(); ++i) cache_diffs += got_cache[i] != want[i];
      EXPECT_EQ(cache_diffs, 0u) << "staged" << (sliding ? " sliding" : " full");
      const auto out = d_out.get();
      float d = 0, m = 0;
      for (size_t i = 0; i < size_t(T_staged) * Q; ++i)
        d = std::max(d, std::fabs(bf16_to_f32(out[i]) - bf16_to_f32(ref[i]))), m = std::max(m, std::fabs(bf16_to_f32(ref[i])));
      EXPECT_LT(d, 1e-2f * m) << "staged" << (sliding ? " sliding" : " full");
    }
  }
}

}  // namespace

// The token choice on the GPU against core/gumbel.h on the host, on rows of
// the real vocabulary: arg-max rows (with NaNs and a tie), and sampled rows
// at several temperatures, seeds and counters. The same float operations on
// both sides (logf may round differently in the last bit, so a near-tie of
// two keys could in principle differ: allowed once in 64 rows).
TEST(CudaKernels, ChooseTokensMatchesHost) {
  REQUIRE_GPU();
  const int V = 201088, R = 64;
  auto x = randn(size_t(R) * V, 3.0f);
  x[5] = NAN;
  x[size_t(V) + 17] = x[size_t(V) + 4000] = 50.0f;  // row 1: a tie, first index wins
  std::vector<RowChoice> choice(static_cast<size_t>(R));
  for (int r = 0; r < R; ++r)
    choice[size_t(r)] = row_choice(TokenChoice{r < 8 ? 0.0f : 0.25f * float(r % 8 + 1), 1000u + uint64_t(r) * 7919u,
                                               uint32_t(r * 3)});
  Dev<float> dx(x);
  Dev<RowChoice> dc(choice);
  Dev<unsigned long long> scratch(static_cast<size_t>(R));
  Dev<int32_t> out(static_cast<size_t>(R));
  cuda::choose_tokens(dx.p, R, V, dc.p, scratch.p, out.p, nullptr);
  GPTOSS_CUDA_CHECK(cudaDeviceSynchronize());
  const auto got = out.get();
  int differ = 0, sampled_not_argmax = 0;
  for (int r = 0; r < R; ++r) {
    const float* row = x.data() + size_t(r) * V;
    const int32_t want = choose_token(row, V, choice[size_t(r)]);
    differ += got[size_t(r)] != want;
    if (r < 8) {
      EXPECT_EQ(got[size_t(r)], want) << "arg-max row " << r;
    }
    sampled_not_argmax += r >= 8 && want != choose_token(row, V, RowChoice{0, 0, 0, 0});
  }
  EXPECT_EQ(got[1], 17);
  EXPECT_LE(differ, 1);
  EXPECT_GT(sampled_not_argmax, 20);
  // No choices at all: the arg-max of every row.
  cuda::choose_tokens(dx.p, R, V, nullptr, scratch.p, out.p, nullptr);
  GPTOSS_CUDA_CHECK(cudaDeviceSynchronize());
  const auto plain = out.get();
  for (int r = 0; r < R; ++r)
    EXPECT_EQ(plain[size_t(r)], choose_token(x.data() + size_t(r) * V, V, RowChoice{0, 0, 0, 0})) << "row " << r;
}

// Constrained decoding: rows with a token mask choose among the allowed
// tokens only, as the host does (core/gumbel.h with the same mask); rows
// without one are untouched. Masks of every density: one token, a few
// hundred (a JSON state), most of the vocabulary (free text in a string).
TEST(CudaKernels, MaskedChooseTokensMatchesHost) {
  REQUIRE_GPU();
  const int V = 201088, R = 16, W = (V + 31) / 32;
  auto x = randn(size_t(R) * V, 3.0f);
  std::vector<RowChoice> choice(static_cast<size_t>(R));
  for (int r = 0; r < R; ++r)
    choice[size_t(r)] = row_choice(TokenChoice{r % 2 ? 0.0f : 0.7f, 77u + uint64_t(r), uint32_t(r)});
  std::mt19937 rng(3);
  std::vector<uint32_t> masks;
  std::vector<int32_t> mask_of(static_cast<size_t>(R), -1);
  int k = 0;
  for (int r = 0; r < R; ++r) {
    if (r % 4 == 3) continue;  // unmasked rows in between
    std::vector<uint32_t> m(static_cast<size_t>(W), 0);
    const int kind = r % 3;
    for (int t = 0; t < V; ++t) {
      const bool on = kind == 0 ? t == 200002 : kind == 1 ? rng() % 700 == 0 : rng() % 10 != 0;
      if (on) m[size_t(t) >> 5] |= 1u << (t & 31);
    }
    masks.insert(masks.end(), m.begin(), m.end());
    mask_of[size_t(r)] = k++;
  }
  Dev<float> dx(x);
  Dev<RowChoice> dc(choice);
  Dev<uint32_t> dm(masks);
  Dev<int32_t> dof(mask_of);
  Dev<unsigned long long> scratch(static_cast<size_t>(R));
  Dev<int32_t> out(static_cast<size_t>(R));
  cuda::choose_tokens(dx.p, R, V, dc.p, scratch.p, out.p, nullptr, dm.p, dof.p);
  GPTOSS_CUDA_CHECK(cudaDeviceSynchronize());
  const auto got = out.get();
  int differ = 0;
  for (int r = 0; r < R; ++r) {
    const uint32_t* m = mask_of[size_t(r)] >= 0 ? masks.data() + size_t(mask_of[size_t(r)]) * W : nullptr;
    const int32_t want = choose_token(x.data() + size_t(r) * V, V, choice[size_t(r)], m);
    EXPECT_TRUE(mask_allows(m, got[size_t(r)])) << "row " << r << " chose a masked token";
    differ += got[size_t(r)] != want;
    if (choice[size_t(r)].inv_temperature == 0.0f) {
      EXPECT_EQ(got[size_t(r)], want) << "arg-max row " << r;
    }
  }
  EXPECT_LE(differ, 1);
  EXPECT_EQ(got[0], 200002);  // row 0: one token allowed
}

// The bounded unembedding picks the token choose_tokens picks from
// row_gemv_bf16's full logits, for 1, 2 and 4 rows, greedy and sampled, and
// again on the next call (it clears its own scratch); also when every row of
// the unembedding is the same (every row a candidate: a tie, lowest index).
TEST(CudaKernels, BoundedUnembeddingChoosesAsTheFullLogits) {
  REQUIRE_GPU();
  for (auto [V, H] : {std::pair{60000, 2880}, std::pair{2048, 256}}) {
    std::vector<bf16_t> w(size_t(V) * H);
    uint32_t st = 99;
    for (auto& v : w) {
      st = st * 1664525u + 1013904223u;
      v = f32_to_bf16(0.03f * (float(st >> 8) / 16777216.0f - 0.5f));
    }
    Dev<bf16_t> dw(w);
    cuda::BoundedHead head;
    Dev<uint8_t> q(size_t(V) * H);
    Dev<float> scale(static_cast<size_t>(V)), bound(static_cast<size_t>(V)), logits(size_t(4) * V);
    head.q = q.p, head.scale = scale.p, head.bound = bound.p;
    cuda::quantize_bounded_head(dw.p, V, H, head, nullptr);
    Dev<uint8_t> scratch(cuda::bounded_choose_scratch_bytes(V));
    cuda::clear_bounded_scratch(scratch.p, nullptr);
    Dev<unsigned long long> keys(size_t(4));
    Dev<int32_t> want(size_t(4)), got(size_t(4));
    for (int T : {1, 2, 4, 4}) {
      Dev<bf16_t> x(to_bf16(randn(size_t(T) * H)));
      std::vector<RowChoice> ch;
      for (int t = 0; t < T; ++t) ch.push_back(row_choice(TokenChoice{t == 0 ? 0.0f : 0.7f, 5u + uint64_t(t), uint32_t(T)}));
      Dev<RowChoice> dc(ch);
      cuda::row_gemv_bf16(x.p, T, H, dw.p, V, logits.p, false, nullptr);
      cuda::choose_tokens(logits.p, T, V, dc.p, keys.p, want.p, nullptr);
      cuda::bounded_choose_tokens(head, x.p, T, dc.p, scratch.p, got.p, nullptr);
      GPTOSS_CUDA_CHECK(cudaDeviceSynchronize());
      const auto a = want.get(), b = got.get();
      for (int t = 0; t < T; ++t) EXPECT_EQ(b[size_t(t)], a[size_t(t)]) << "V " << V << " T " << T << " row " << t;
    }
    // With token masks (sparse, one token, none, dense): the same choice as
    // the full logits with the same masks.
    {
      const int T = 4, W = (V + 31) / 32;
      Dev<bf16_t> x(to_bf16(randn(size_t(T) * H)));
      std::vector<RowChoice> ch;
      for (int t = 0; t < T; ++t) ch.push_back(row_choice(TokenChoice{t % 2 ? 0.0f : 0.8f, 11u + uint64_t(t), 3u}));
      Dev<RowChoice> dc(ch);
      std::vector<uint32_t> masks(size_t(3) * W, 0);
      std::mt19937 mr(17);
      for (int t = 0; t < V; ++t) {
        if (mr() % 300 == 0) masks[size_t(t) >> 5] |= 1u << (t & 31);
        if (mr() % 10 != 0) masks[size_t(2) * W + (size_t(t) >> 5)] |= 1u << (t & 31);
      }
      masks[size_t(W) + (size_t(V - 3) >> 5)] |= 1u << ((V - 3) & 31);
      Dev<uint32_t> dm(masks);
      Dev<int32_t> dof(std::vector<int32_t>{0, 1, -1, 2});
      cuda::row_gemv_bf16(x.p, T, H, dw.p, V, logits.p, false, nullptr);
      cuda::choose_tokens(logits.p, T, V, dc.p, keys.p, want.p, nullptr, dm.p, dof.p);
      cuda::bounded_choose_tokens(head, x.p, T, dc.p, scratch.p, got.p, nullptr, dm.p, dof.p);
      GPTOSS_CUDA_CHECK(cudaDeviceSynchronize());
      const auto a = want.get(), b = got.get();
      for (int t = 0; t < T; ++t) EXPECT_EQ(b[size_t(t)], a[size_t(t)]) << "masked, V " << V << " row " << t;
      EXPECT_EQ(b[1], V - 3);
    }
    // Every unembedding row the same: all are candidates; the lowest index wins.
    for (int r = 1; r < V; ++r) std::copy(w.begin(), w.begin() + H, w.begin() + ptrdiff_t(size_t(r) * H));
    Dev<bf16_t> flat(w);
    cuda::quantize_bounded_head(flat.p, V, H, head, nullptr);
    Dev<bf16_t> x(to_bf16(randn(size_t(H))));
    Dev<RowChoice> greedy(std::vector<RowChoice>{row_choice(TokenChoice{})});
    cuda::bounded_choose_tokens(head, x.p, 1, greedy.p, scratch.p, got.p, nullptr);
    GPTOSS_CUDA_CHECK(cudaDeviceSynchronize());
    EXPECT_EQ(got.get()[0], 0) << "V " << V;
  }
}
