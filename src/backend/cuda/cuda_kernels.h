#pragma once
// Launch wrappers for the CUDA kernels. Plain pointers and sizes only, so the
// orchestration (model/cuda_runner.cpp) is ordinary C++. All launches are
// asynchronous on `stream` and safe to capture in a CUDA graph.
//
// Conventions: activations of the residual stream are float32; GEMM inputs
// are bf16; the KV cache is bf16 in paged blocks laid out
// [layer_of_kind][block][k|v][row][kv_dim] (model/kv_layout.h).
#include <cuda_runtime.h>

#include <cstdint>

#include "backend/cuda/mxfp4_mma_layout.h"
#include "core/gumbel.h"

namespace gptoss::cuda {

using gptoss::RowChoice;
using bf16_raw = uint16_t;

// x[t] = float(embed[id]) and normed[t] = rmsnorm(x[t]) * w as bf16 (the
// first layer's input), where id = tokens[t], or, when feed is given and
// feed[t] >= 0, id = chosen[feed[t]]: the token the previous step chose for
// that row, left on the device. H % 4 == 0.
void embed_rmsnorm(const int32_t* tokens, const int32_t* feed, const int32_t* chosen, int T, const bf16_raw* embed,
                   int H, float* x, const bf16_raw* w, bf16_raw* normed, float eps, cudaStream_t s);

// If bias: x[t] += bias first (H % 4 == 0, H <= 4096). Then y[t] = rmsnorm(x[t]) * w, as bf16 into y,
// float32 into y32 and/or bf16 in the MMA layout (see moe_gate_up_mma) into
// y_mma (any may be null). Rows picked by `rows` (null: all T rows; outputs
// have one row per picked row).
void add_bias_rmsnorm(float* x, const bf16_raw* bias, const bf16_raw* w, bf16_raw* y, float* y32, bf16_raw* y_mma,
                      int T, int H, float eps, const int32_t* rows, cudaStream_t s);

// y[t, n] (+)= sum_k W[n, k] x[t, k] for steps of up to 16 tokens, on tensor
// cores; x bf16 [T, K], W bf16 [N, K], y float32 [T, N]. Deterministic.
bool small_gemm_supported(int T, int K);
void small_gemm_bf16(const bf16_raw* x, int T, int K, const bf16_raw* W, int N, float* y, bool accumulate,
                     cudaStream_t s);

// The same for 1..4 tokens on CUDA cores, a warp per weight row (K <= 4096).
bool row_gemv_supported(int T, int K);
void row_gemv_bf16(const bf16_raw* x, int T, int K, const bf16_raw* W, int N, float* y, bool accumulate,
                   cudaStream_t s);

// out[r] = the token chosen from row r of logits x [rows, n]: the arg-max
// of choice_key(choice[r], x[r, i], i) (core/gumbel.h: the plain arg-max,
// or a sample at the row's temperature), the lowest index among equals,
// NaN never. choice may be null (arg-max everywhere). scratch: `rows`
// 64-bit words of device memory. Constrained decoding: when mask_of is not
// null and mask_of[r] >= 0, row r takes only tokens whose bit is set in the
// mask at masks + mask_of[r] * ceil(n / 32) (core/gumbel.h mask_allows).
void choose_tokens(const float* x, int rows, int n, const RowChoice* choice, unsigned long long* scratch, int32_t* out,
                   cudaStream_t s, const uint32_t* masks = nullptr, const int32_t* mask_of = nullptr);

// The same choice for steps of up to kMaxBoundedRows rows straight from the
// final hidden states x (bf16 [T, H]), without the full logits: an int8 copy
// of the unembedding bounds every logit (|logit - approx| <= bound ||x||_2),
// and only rows whose upper bound reaches the best lower bound are
// computed from the bf16 weights, with the same arithmetic as
// row_gemv_bf16, so the token is the one choose_tokens picks from that
// kernel's logits. Reads about half the bytes of the full unembedding.
constexpr int kMaxBoundedRows = 4;
struct BoundedHead {
  uint8_t* q = nullptr;      // [V, H] int8 values + 128
  float* scale = nullptr;    // [V] w ~= scale * value
  float* bound = nullptr;    // [V] || w - scale * value ||_2 plus the sums' rounding
  const bf16_raw* w = nullptr;  // [V, H] the unembedding itself
  int V = 0, H = 0;
};
bool bounded_head_supported(int H);
// Fills q, scale and bound (allocated by the caller) from w.
void quantize_bounded_head(const bf16_raw* w, int V, int H, BoundedHead& head, cudaStream_t s);
// Device scratch for bounded_choose_tokens; zero its first 256 bytes once
// (clear_bounded_scratch): each call leaves them zero again.
size_t bounded_choose_scratch_bytes(int V);
void clear_bounded_scratch(void* scratch, cudaStream_t s);
// masks, mask_of: token masks per row, as choose_tokens takes them (a masked
// row's bound never rules out an allowed one; masked rows are never chosen).
void bounded_choose_tokens(const BoundedHead& head, const bf16_raw* x, int T, const RowChoice* choice, void* scratch,
                           int32_t* out, cudaStream_t s, const uint32_t* masks = nullptr,
                           const int32_t* mask_of = nullptr);

// Router logits y [T, E] = h [T, H] (float32) x W [E, H]^T (bf16); H % 4 == 0.
void router_logits_f32(const float* h, int T, int H, const bf16_raw* W, int E, float* y, cudaStream_t s);

// Decode steps: logits [T, E] = (rmsnorm(x + bias) * norm_w) [T, H] x W^T in
// float32, the normed rows also into y_mma (bf16, MMA layout); x unchanged.
// Equals add_bias_rmsnorm (y32, y_mma) then router_logits_f32, in one launch.
void norm_router_logits(const float* x, const bf16_raw* bias, const bf16_raw* norm_w, float eps, int T, int H,
                        const bf16_raw* W, int E, float* logits, bf16_raw* y_mma, cudaStream_t s);

// Per-token view of the batch for attention and the KV cache.
struct TokenKv {
  const int32_t* pos;          // [T] position of each token
  const int32_t* seq;          // [T] sequence index of each token
  const int32_t* full_table;   // [nseq][full_pitch] block ids
  int full_pitch;
  const int32_t* window_table; // [nseq][window_pitch] ring block ids
  const int32_t* window_len;   // [nseq] ring length
  int window_pitch;
  int block_size;
};

// qkv [T, Q + 2 KV] float32 (GEMM output without bias): adds the bias, applies
// YaRN rope to q and k, writes q as bf16 [T, Q] and k, v into the cache layer.
void rope_store_kv(const float* qkv, const bf16_raw* bias, const float* inv_freq, float attention_factor, int T,
                   int n_heads, int n_kv, int head_dim, const TokenKv& tk, bool sliding, bf16_raw* layer_cache,
                   int num_blocks, bf16_raw* q_out, cudaStream_t s);

// out[t, h] = attention of q[t, h] over the cached keys of its sequence
// (positions <= pos[t]; on sliding layers only the last `window`), with sink.
// splits > 1 (with scratch of attention_scratch_floats floats) divides each
// token's keys among that many blocks: for decode steps over long contexts.
void attention(const bf16_raw* q, const bf16_raw* layer_cache, int num_blocks, const bf16_raw* sinks, int T,
               int n_heads, int n_kv, int head_dim, const TokenKv& tk, bool sliding, int window, bf16_raw* out,
               cudaStream_t s, int splits = 1, float* scratch = nullptr);
size_t attention_scratch_floats(int T, int n_heads, int splits);

// The same attention for prefill-sized steps on tensor cores
// (flash_attention.cu): each kv head's key tiles are shared by the query heads
// of kTokens consecutive tokens. Needs compute capability 8.0 (checked by
// flash_attention_supported, with the shapes) and head_dim 64.
bool flash_attention_supported(int n_heads, int n_kv, int head_dim);
void flash_attention(const bf16_raw* q, const bf16_raw* layer_cache, const bf16_raw* sinks, int T, int n_heads,
                     int n_kv, const TokenKv& tk, bool sliding, int window, bf16_raw* out, cudaStream_t s);

// Attention for tokens with few new keys each (decode steps of many sequences,
// a mixed step's decode tokens), on tensor cores: block (token, kv head), the
// group's query heads as the MMA's N (decode_mma_attention.cu). q roped, the
// cache already holding the step's keys, as attention(); no key splits.
// Needs compute capability 8.0, head_dim 64 and at most 8 query heads per kv head.
bool decode_mma_attention_supported(int n_heads, int n_kv, int head_dim);
void decode_mma_attention(const bf16_raw* q, const bf16_raw* layer_cache, const bf16_raw* sinks, int T, int n_heads,
                          int n_kv, const TokenKv& tk, bool sliding, int window, bf16_raw* out, cudaStream_t s);

// Decode steps (each token the only one of its sequence in the step):
// rope_store_kv and attention in one launch, the key splits merged by the
// last block of each (token, kv head). counters: T * n_kv zeroed ints (left
// zeroed); scratch as for attention.
void decode_attention(const float* qkv, const bf16_raw* bias, const float* inv_freq, float attention_factor, int T,
                      int n_heads, int n_kv, int head_dim, const TokenKv& tk, bool sliding, int window,
                      bf16_raw* layer_cache, const bf16_raw* sinks, bf16_raw* out, cudaStream_t s, int splits,
                      float* scratch, int* counters);

// Decode steps whose keys on this layer (the window, or the whole context)
// number at most kStagedKeys: rope, the KV store and attention in one launch
// that loads the past keys while the previous kernel still runs
// (staged_attention.cu). No scratch, no splits.
constexpr int kStagedKeys = 128;
bool staged_decode_attention_fits(int keys, int n_heads, int n_kv, int head_dim);
void staged_decode_attention(const float* qkv, const bf16_raw* bias, const float* inv_freq, float attention_factor,
                             int T, int n_heads, int n_kv, const TokenKv& tk, bool sliding, int window,
                             bf16_raw* layer_cache, const bf16_raw* sinks, bf16_raw* out, cudaStream_t s);

// Router: logits [T, E] (+bias) -> top-k ids and softmax weights; also builds
// per-expert slot lists: slot = t * k + j, grouped by expert
// (expert_offsets [E + 1], expert_slots [T * k]) and the list of experts with
// at least one slot (active_experts [E], ascending, padded with -1).
// Slots j < k_from of each token (its k_from best experts) are left out of
// the expert lists: hybrid decode computes those on the CPU. Expert
// parallelism: the lists cover experts [e_lo, e_lo + n_local) only, numbered
// from 0 (n_local < 0: all E); topk_ids stay global.
void route_topk(const float* logits, const bf16_raw* bias, int T, int E, int k, int32_t* topk_ids,
                float* topk_weights, int32_t* expert_offsets, int32_t* expert_slots, int32_t* active_experts,
                cudaStream_t s, int k_from = 0, int e_lo = 0, int n_local = -1);

// MXFP4 experts for decode-sized steps, on tensor cores. Activations are bf16
// in the "MMA layout": each run of 8 values stored in the order
// 0 4 1 5 2 6 3 7 (to_mma_layout_bf16 or add_bias_rmsnorm's y_mma make it).
// gate_up with SwiGLU fused: hq [T, H] (token = slot / k) -> actq [T * k, I]
// (MMA layout, by slot). Weights are read once per step per active expert.
void moe_gate_up_mma(const bf16_raw* hq, int T, const uint8_t* blocks, const uint8_t* scales, const bf16_raw* bias,
                     int E, int H, int I, int k, const int32_t* expert_offsets, const int32_t* expert_slots,
                     const int32_t* active_experts, float alpha, float limit, bf16_raw* actq, cudaStream_t s,
                     Mxfp4Layout layout = Mxfp4Layout::kCheckpoint);
// down: y[slot, r] = W_down[e] act[slot] + b, float32 [T * k, H].
void moe_down_mma(const bf16_raw* actq, int T, const uint8_t* blocks, const uint8_t* scales, const bf16_raw* bias,
                  int E, int H, int I, int k, const int32_t* expert_offsets, const int32_t* expert_slots,
                  const int32_t* active_experts, float* y, cudaStream_t s,
                  Mxfp4Layout layout = Mxfp4Layout::kCheckpoint);
// The same two products for prefill-sized steps as grouped GEMMs
// (moe_gemm.cu): one launch each over every expert's slots, tiles of 128
// slots x 128 weight rows on tensor cores, the weights dequantised in shared
// memory. Experts in the packed layout only (GPU-resident), compute
// capability 8.0 and H, 2I whole 32-row groups (moe_grouped_supported).
// kAuto: wgmma on Hopper where the build has sm_90a code (and
// GPTOSS_GROUPED_WGMMA is not 0; see moe_gemm.cu), else mma.sync; kMmaSync: mma.sync always.
// The others name one wgmma tile (tests; where there is no wgmma, they are kAuto):
// slots x weight rows 128 x 128, 64 x 128, or 128 weight rows x up to 32 / 48 / 64 slots.
enum class GroupedGemm { kAuto, kMmaSync, kWgmma128, kWgmma64, kWgmmaNarrow32, kWgmmaNarrow48, kWgmmaNarrow64 };
bool moe_grouped_supported(int H, int I);
bool moe_grouped_uses_wgmma();
void moe_gate_up_grouped(const bf16_raw* hq, int T, const uint8_t* blocks, const uint8_t* scales, const bf16_raw* bias,
                         int E, int H, int I, int k, const int32_t* expert_offsets, const int32_t* expert_slots,
                         float alpha, float limit, bf16_raw* actq, cudaStream_t s,
                         GroupedGemm which = GroupedGemm::kAuto);
void moe_down_grouped(const bf16_raw* actq, int T, const uint8_t* blocks, const uint8_t* scales, const bf16_raw* bias,
                      int E, int H, int I, int k, const int32_t* expert_offsets, const int32_t* expert_slots, float* y,
                      cudaStream_t s, GroupedGemm which = GroupedGemm::kAuto);
// float32 rows -> bf16 rows in the MMA layout (cols a multiple of 8).
void to_mma_layout_bf16(const float* src, int rows, int cols, bf16_raw* dst, cudaStream_t s);
// x[t] += bias (if given) + extra[t] (if given) + sum_{k_from <= j < k} w[t, j] y[t * k + j]
// (with ids: only slots whose expert ids[t, j] is in [e_lo, e_hi)); then, if
// next_norm, normed[t] = rmsnorm(x[t]) * next_norm as bf16 (the next layer's
// attention input). H % 4 == 0.
void moe_combine(const float* y, const float* topk_weights, int T, int k, int H, float* x, const bf16_raw* next_norm,
                 bf16_raw* normed, float eps, cudaStream_t s, int k_from = 0, const float* extra = nullptr,
                 const int32_t* ids = nullptr, int e_lo = 0, int e_hi = 0, const bf16_raw* bias = nullptr);

// Hybrid decode: a request to the CPU thread that computes a layer's
// host-memory experts, in mapped host memory (model/host_moe_worker.h).
struct HostMailbox {
  volatile uint32_t ready;  // ticket of the last request the GPU posted
  volatile uint32_t done;   // ticket of the last request the CPU answered
  volatile int32_t layer, T, k;
  volatile uint32_t timed_out;  // the GPU stopped waiting for an answer
};
// Posts layer's request: h [T, H] float32 and each token's first kc slots of
// ids/w [T, K] go to mb_h, mb_ids/mb_w [T, kc] (mapped host memory), then
// mb->ready gets the next ticket. counters: 2 zeroed uint32 of device memory.
void host_post(const float* h, const int32_t* ids, const float* w, int T, int H, int K, int kc, int layer,
               uint32_t* counters, HostMailbox* mb, float* mb_h, int32_t* mb_ids, float* mb_w, cudaStream_t s);
// Waits until the CPU answered the last posted request, then copies its
// answer mb_out [T, H] (mapped) into out (device memory).
void host_wait(HostMailbox* mb, const uint32_t* counters, const float* mb_out, int T, int H, float* out,
               cudaStream_t s);

// Prefill path helpers: one expert at a time through cuBLAS.
void dequant_mxfp4_bf16(const uint8_t* blocks, const uint8_t* scales, int rows, int cols, bf16_raw* out,
                        cudaStream_t s, Mxfp4Layout layout = Mxfp4Layout::kCheckpoint);
// In place: `experts` matrices of rows x cols MXFP4 values (blocks and
// scales) from the checkpoint's layout to the kernels' bit and tile layout
// (mxfp4_mma_layout.h). GPU-resident experts only.
void pack_mxfp4_for_mma(uint8_t* blocks, uint8_t* scales, int experts, int rows, int cols, cudaStream_t s);
// dst[i] = bf16(src[token_of(slots[i])]) for n slots, rows of H.
void gather_slots_bf16(const float* src, const int32_t* slots, int n, int k, int H, bf16_raw* dst, cudaStream_t s);
// gu [n, 2I] (+bias) -> act bf16 [n, I]
void bias_swiglu_bf16(const float* gu, const bf16_raw* bias, int n, int I, float alpha, float limit, bf16_raw* act,
                      cudaStream_t s);
// y[slots[i]] = src[i] + bias, rows of H
void scatter_slots_bias(const float* src, const bf16_raw* bias, const int32_t* slots, int n, int H, float* y,
                        cudaStream_t s);

// float -> bf16 conversion, e.g. of rows gathered for the unembedding.
void f32_to_bf16(const float* src, bf16_raw* dst, size_t n, cudaStream_t s);

}  // namespace gptoss::cuda
