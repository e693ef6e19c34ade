#include "model/cuda_runner.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <map>
#include <mutex>
#include <sstream>
#include <string>
#include <vector>

#include "backend/cpu/cpu_kernels.h"
#include "backend/cpu/moe_cpu.h"
#include "core/progress.h"
#include "core/env.h"
#include "backend/cuda/cuda_check.h"
#include "backend/cuda/cuda_kernels.h"
#include "backend/cuda/staged_upload.h"
#include "backend/cuda/timeline.h"
#ifdef GPTOSS_WITH_NCCL
#include "backend/cuda/nccl_group.h"
#endif
#include "core/log.h"
#include "core/mem_size.h"
#include "model/cuda_step_inputs.h"
#include "model/host_moe_worker.h"
#include "model/model_weights.h"

namespace gptoss {

namespace {

using cuda::bf16_raw;

constexpr int kMaxSeqs = 256;     // sequences in one step
// Logits rows a step may return: one per sequence when serving; prompt
// logits for tests and `gptoss logits` come in chunks of this many. Sizing the
// buffers by the step (2048 x 201088 floats = 1.5 GiB) would take memory from
// the experts on small GPUs.
constexpr int kMaxLogitRows = 512;
// Steps up to this many tokens run the experts with the MXFP4 MMA kernels
// (weights read in place, each block's rows reused from cache for all its
// slots); larger ones dequantise each expert to bf16 and use cuBLAS, whose
// cost is fixed per step. Measured on an H100 with synthetic:20b (2026-11-23),
// prefill t/s with the MMA path up to 64 / 1024 tokens: pp128 1787 / 10520,
// pp512 6656 / 15157, pp1024 11043 / 15111, pp2048 (dequant either way) 14641 /
// 14798; the MMA path at 2048 gave 13584. GPTOSS_MMA_MAX_TOKENS overrides it.
int mma_max_tokens() {
  static const int v = std::max(1, env_int("GPTOSS_MMA_MAX_TOKENS", 1024));
  return v;
}

// Decode steps of up to this many tokens may run rope, the KV store,
// attention and the merge of its key splits as one kernel. H100,
// synthetic:20b, with PDL (2026-11-23), fused vs separate kernels: tg128 380
// vs 401 t/s, 16 sequences 1960 vs 2027, 64 sequences 6792 vs 6685 (+1.6%).
// Above 32 tokens the separate kernels stop splitting the keys of
// full-attention layers, and the fused one still does; so by default it runs
// from kFusedAttentionFrom tokens on. GPTOSS_FUSED_DECODE=0 never, 1 at any
// size up to kMaxFusedDecodeTokens. (A fused norm + router + top-k kernel
// gained nothing, tg128 395 vs 401 and 64 sequences 6783 vs 6765, and was
// removed.)
constexpr int kMaxFusedDecodeTokens = 64;
constexpr int kFusedAttentionFrom = 33;
constexpr int kMaxStagedTokens = 8;  // see run_layers
constexpr int kSplitKeysFrom = 128;  // see long_context_
constexpr int kFlashMinTokens = 16;  // see plan_attention_runs
// Where the grouped GEMMs take over from the MMA GEMVs. H100, synthetic:20b:
// with wgmma (2026-12-07, same call) pp512 27.6k t/s vs 23.9k with the GEMVs
// (the day before), pp1024 35.1k either side of 768; at 256 tokens a wash
// (pp256 19.2k with 64-slot tiles vs 18.5k; 256-sequence decode 15.2k vs
// 15.9k with the GEMVs). The mma.sync kernel (Ampere, Ada) lost below 768
// (2026-12-07: pp512 20.0k vs 21.2k with the GEMVs, pp1024 24.8k vs 22.6k).
constexpr int kGroupedMoeFromWgmma = 384;
constexpr int kGroupedMoeFrom = 768;  // see grouped_moe_ok_
// Steps of up to this many logits rows that need only their tokens choose
// them through the bounded unembedding. H100, synthetic:20b, 2026-12-06, same
// call, on vs GPTOSS_BOUNDED_HEAD=0 (both pipelined): tg128 644.8 vs 575.6
// t/s, 2 sequences (128+64) 820.1 vs 784.0, 4 sequences 1102.1 vs 1131.4:
// at 4 rows its pass over the int8 rows reads each input from shared memory
// 4 times per row in half the time the bf16 pass has, and loses.
constexpr int kBoundedStepRows = 2;
static_assert(kBoundedStepRows <= cuda::kMaxBoundedRows);
int fused_decode() {
  static const int v = env_int("GPTOSS_FUSED_DECODE", -1);
  return v;
}

// GPTOSS_ABLATE=op[,op...] skips those ops in decode steps: a profiling
// switch (the results are wrong) that measures what an op costs inside the
// CUDA graph, where PDL overlaps neighbours and per-kernel timers (ncu,
// GPTOSS_PROFILE) do not see it. Ops: qkv rope attention o_proj norm router
// topk gate_up down combine lm_head (topk keeps the last prompt step's lists,
// so the experts then run far more slots: not a cost measurement).
// scripts/device/ablate.sh runs them.
bool ablated(const char* op) {
  static const std::vector<std::string> ops = [] {
    std::vector<std::string> v;
    std::stringstream in(std::getenv("GPTOSS_ABLATE") ? std::getenv("GPTOSS_ABLATE") : "");
    for (std::string item; std::getline(in, item, ',');) v.push_back(item);
    return v;
  }();
  return std::find(ops.begin(), ops.end(), op) != ops.end();
}

// Hybrid decode: of each token's top-4 experts in a host layer, the GPU
// computes this many from host memory (CudaRunnerOptions::gpu_slots). On the
// H100 machine (16-core Xeon host, 2026-11-23, scripts/device/hybrid.sh),
// tg t/s with 0 / 1 / 2 GPU slots: synthetic:120b in 16 GiB 23.3 / 20.7 /
// 27.0; synthetic:20b in 12 GiB 95.9 / 112.6 / 114.9.
constexpr int kDefaultGpuSlots = 2;

// Null expert pointers mean the layer's experts live in host memory.
struct DeviceLayer {
  bf16_raw *attn_norm, *qkv_w, *qkv_b, *o_w, *o_b, *sinks, *mlp_norm, *router_w, *router_b;
  uint8_t *gu_blocks = nullptr, *gu_scales = nullptr, *dn_blocks = nullptr, *dn_scales = nullptr;
  bf16_raw *gu_bias = nullptr, *dn_bias = nullptr;
};

// One expert's pointers, wherever they live.
struct ExpertPtrs {
  const uint8_t *gu_blocks, *gu_scales, *dn_blocks, *dn_scales;
  const bf16_raw *gu_bias, *dn_bias;
};

// Bytes of one expert's tensors, in the order they are staged on the GPU.
struct ExpertSizes {
  size_t gu_blocks, gu_scales, gu_bias, dn_blocks, dn_scales, dn_bias;
  explicit ExpertSizes(const ModelConfig& c) {
    const size_t H = size_t(c.hidden_size), I = size_t(c.intermediate_size);
    gu_blocks = 2 * I * H / 2, gu_scales = 2 * I * H / 32, gu_bias = 2 * I * 2;
    dn_blocks = H * I / 2, dn_scales = H * I / 32, dn_bias = H * 2;
  }
  size_t total() const { return gu_blocks + gu_scales + gu_bias + dn_blocks + dn_scales + dn_bias; }
};

class CudaRunner : public ModelRunner {
 public:
  explicit CudaRunner(const ModelSource& src, const CudaRunnerOptions& opt);
  ~CudaRunner() override;

  const ModelConfig& config() const override { return global_cfg_; }
  std::string device_name() const override { return name_; }
  std::vector<DeviceMemory> device_memory() const override {
    // Called from HTTP threads, whose current device is not ours.
    size_t free_b = 0, total_b = 0;
    if (cudaSetDevice(device_) != cudaSuccess || cudaMemGetInfo(&free_b, &total_b) != cudaSuccess) return {};
    return {{total_b - free_b, total_b}};
  }
  size_t full_block_bytes(int bs) const override { return size_t(n_full_) * 2 * bs * cfg_.kv_dim() * 2; }
  size_t window_block_bytes(int bs) const override { return size_t(n_window_) * 2 * bs * cfg_.kv_dim() * 2; }
  void allocate_kv(const KvCacheConfig& kv) override;
  const KvCacheConfig& kv_config() const override { return kv_cfg_; }
  int max_step_tokens() const override { return max_tokens_; }
  int max_step_seqs() const override { return kMaxSeqs; }
  int max_logit_rows() const override { return logit_rows_; }
  void forward(const ForwardBatch& batch, float* logits, const LayerTrace& trace) override;
  void forward_sample(const ForwardBatch& batch, float* logits, int32_t* tokens) override;
  void submit(const ForwardBatch& batch) override;
  void collect(float* logits, int32_t* tokens) override;
  int in_flight() const override { return int(in_flight_.size()); }
  double unembedding_bytes(int rows) const override {
    const double V = cfg_.vocab_size, H = cfg_.hidden_size;
    return bounded_.q && rows <= kBoundedStepRows ? V * H + 8 * V : 2 * V * H;
  }

 private:
  template <typename T>
  T* alloc(size_t count) {
    T* p = device_buffer<T>(count * sizeof(T));
    allocations_.push_back(p);
    return p;
  }
  // cudaMalloc; with GPTOSS_POISON=1 the buffer starts as 0xff bytes (NaN in
  // bf16 and float32), so a read of something never written shows as NaN
  // instead of as whatever an earlier runner left there.
  template <typename T>
  T* device_buffer(size_t bytes) {
    static const bool poison = env_int("GPTOSS_POISON", 0) == 1;
    void* p = nullptr;
    GPTOSS_CUDA_CHECK(cudaMalloc(&p, bytes));
    if (poison) GPTOSS_CUDA_CHECK(cudaMemsetAsync(p, 0xff, bytes, stream_));
    return static_cast<T*>(p);
  }
  template <typename T>
  void copy_in(T* d, const T* host, size_t count) {
    uploader_->copy(d, host, count * sizeof(T));
    weight_bytes_ += count * sizeof(T);
  }
  template <typename T>
  T* upload(const T* host, size_t count) {
    T* d = alloc<T>(count);
    copy_in(d, host, count);
    return d;
  }
  void gemm(const bf16_raw* x, int T, int K, const bf16_raw* W, int N, float* y, bool accumulate);
  void run_layers(int T, int n_rows, bool gemv_path, const LayerTrace& trace);
  void moe_prefill(int layer, int T);
  ExpertPtrs device_expert(int layer, int e) const;
  // GPU-resident experts go to the decode kernels' bit layout (gpu_layout_).
  void pack_experts(DeviceLayer& d, size_t gu_blocks, size_t dn_blocks);
  // GPTOSS_MXFP4_LAYOUT=checkpoint keeps the checkpoint's, to compare.
  cuda::Mxfp4Layout gpu_layout_ = cuda::Mxfp4Layout::kMma;
  // Host-expert layers (hybrid): on the CPU (some slots read by the GPU
  // straight from host memory), or streamed for large steps.
  void moe_on_host(int layer, int T, int gpu_slots);
  ExpertPtrs stage_expert(int layer, int e, int slot);
  void pin_host_experts();
  // Uploads the batch (from staging slot `slot`), runs it (as a graph for
  // decode steps); returns the logits rows. choose: a token per row (submit);
  // logits_wanted: some row's logits go back to the caller.
  int run_step(const ForwardBatch& batch, const LayerTrace& trace, bool choose, bool logits_wanted, int slot);
  void stage_masks(const ForwardBatch& batch, int rows, int slot);
  // A submitted step not yet collected: its results arrive in host slot
  // `slot` (tokens) and, for want_logits rows, in h_logits_ or `logits`.
  struct InFlight {
    int slot = 0, rows = 0;
    std::vector<std::pair<size_t, size_t>> runs;  // logits rows [first, end) the caller reads
    bool logits_pinned = false;  // its runs wait in h_logits_ (else in `logits`)
    std::vector<float> logits;
  };
  std::deque<InFlight> in_flight_;
  int next_slot_ = 0;
  // Tokens the last step chose on the device (d_choice_): what feed may name; -1 none.
  int chosen_rows_ = -1;
  // Moves an in-flight step's logits out of h_logits_ once it has run, so another step may use it.
  void unpin_logits(InFlight& f);
  void sync_slot(int slot);
  bool choose_ = false;   // this step chooses a token per logits row
  std::unique_ptr<CudaStepInputs> inputs_;
  DeviceStepInputs in_{};  // this step's
  // GPTOSS_PROFILE=1: steps run eagerly with an event after each op; the time
  // between events is added to the op's category (per step size) and printed
  // when the runner is destroyed. Launch gaps count towards the op after them.
  void mark(const char* category);
  void collect_profile(int T);
  void print_profile() const;
  // Builds with GPTOSS_TIMELINE: per-kernel times of replayed decode graphs.
  cuda::timeline::StepTimeline timeline_;

  ModelConfig global_cfg_;  // the model
  ModelConfig cfg_;         // the shapes this runner computes: its heads and expert columns under tensor parallelism
  TpShard shard_;
  const cuda::NcclGroup* group_ = nullptr;
  int group_local_ = 0;
  bool tp() const { return shard_.size > 1; }
  // Experts this GPU holds: all of them unless expert-parallel.
  int local_experts() const { return shard_.experts > 0 ? shard_.experts : cfg_.num_experts; }
  // Sums x_ over the tensor-parallel group (nothing on one GPU).
  void all_reduce_residual(int T);
  std::string name_;
  int device_;
  int max_tokens_;
  int logit_rows_;  // logits buffers hold this many rows (kMaxLogitRows or fewer)
  // hybrid: layers [0, n_cpu_moe_) keep their experts in host memory
  int n_cpu_moe_ = 0;
  int stream_min_tokens_ = 64;
  std::vector<cpu::MoeExperts> host_experts_;
  std::unique_ptr<HostMoeWorker> host_worker_;
  uint32_t* handoff_counters_ = nullptr;  // the mailbox's ticket, in device memory
  // Of each token's top-k slots in a host layer, the last gpu_slots_ are
  // computed by the GPU reading the experts from host memory over PCIe while
  // the CPU computes the others: two paths to host memory instead of one.
  // Needs the experts page-locked and mapped (mapped_experts_, by layer).
  int gpu_slots_ = 0;
  std::vector<DeviceLayer> mapped_experts_;
  uint8_t* stage_[2] = {nullptr, nullptr};  // two experts in flight while streaming
  cudaStream_t copy_stream_ = nullptr;
  cudaEvent_t staged_[2] = {}, consumed_[2] = {};
  std::vector<void*> pinned_ranges_;
  int n_full_ = 0, n_window_ = 0;
  std::vector<int> slot_in_kind_;
  std::vector<void*> allocations_;
  std::unique_ptr<cuda::StagedUpload> uploader_;  // while the weights are copied in
  size_t weight_bytes_ = 0;
  cudaStream_t stream_ = nullptr;
  cublasHandle_t cublas_ = nullptr;
  void* cublas_workspace_ = nullptr;

  bf16_raw *embed_ = nullptr, *final_norm_ = nullptr, *lm_head_ = nullptr;
  // The unembedding's int8 copy (cuda::bounded_choose_tokens), when there
  // was room for it; steps that take it (bounded_step_) compute no logits.
  cuda::BoundedHead bounded_;
  void* bounded_scratch_ = nullptr;
  bool bounded_step_ = false;
  bool want_bounded_ = true;
  void make_bounded_head();
  std::vector<DeviceLayer> layers_;
  float* inv_freq_ = nullptr;
  float attention_factor_ = 1.0f;

  // activations. Every pointer starts null: allocate_kv frees what it
  // replaces, and a runner built where a destroyed one lived would otherwise
  // free that one's old buffers, since reused by someone else.
  float *x_ = nullptr, *h32_ = nullptr, *qkv_ = nullptr, *router_ = nullptr, *topk_w_ = nullptr, *y_ = nullptr, *logits_ = nullptr;
  bf16_raw *h_ = nullptr, *q_ = nullptr, *attn_ = nullptr, *hq_ = nullptr, *actq_ = nullptr;  // hq_, actq_: MMA layout (decode MoE)
  int32_t *topk_ids_ = nullptr, *offsets_ = nullptr, *slots_ = nullptr, *active_ = nullptr;
  // prefill scratch
  bf16_raw *w_gu_ = nullptr, *w_dn_ = nullptr, *gath_ = nullptr, *actb_ = nullptr;
  float *gu32_ = nullptr, *dn32_ = nullptr;
  // step inputs: device and pinned host mirrors
  int32_t* d_choice_ = nullptr;    // each logits row's chosen token
  int32_t* h_choice_[2] = {};       // pinned copies, by host slot
  cudaEvent_t slot_done_[2] = {};   // a slot's step has run and its results are copied
  unsigned long long* d_argmax_keys_ = nullptr;
  // Constrained decoding: each logits row's mask index (-1: none) and the
  // masks, uploaded with the step; pinned staging by host slot.
  int32_t* d_mask_of_ = nullptr;
  uint32_t* d_masks_ = nullptr;
  int32_t* h_mask_of_[2] = {};
  uint32_t* h_masks_[2] = {};
  float* attn_part_ = nullptr;  // split-K attention partials (decode)
  int* attn_counters_ = nullptr;  // finished splits per (token, kv head), fused decode attention
  bool step_decode_ = false;      // this step has one token per sequence
  // Some sequence of this step has more keys than kSplitKeysFrom: decode
  // steps then split full-attention layers' keys among blocks (below that, one
  // block per kv head is faster than splits and their merge).
  bool long_context_ = true;
  int max_keys_ = 0;  // the most keys (position + 1) of any token of this step
  // This step's tokens in runs that take one attention kernel each: a run of
  // sequences with kFlashMinTokens or more tokens each goes to the tensor-core
  // kernel (flash_attention.cu), the rest (decodes in a mixed step) to
  // attention.cu. {first token, end, flash}.
  struct AttentionRun {
    int t0, t1;
    bool flash;
  };
  std::vector<AttentionRun> attention_runs_;
  bool flash_ok_ = false;  // the device and shapes allow flash_attention
  bool decode_mma_ok_ = false;  // ... and decode_mma_attention
  bool decode_mma_fused_ = false;  // it also takes the fused kernel's decode steps (33-64 tokens)
  // Steps of grouped_from_ tokens or more run GPU-resident experts through
  // the grouped GEMMs (moe_gemm.cu) when the device and layout allow them.
  bool grouped_moe_ok_ = false;
  int grouped_from_ = 0;
  void plan_attention_runs(const ForwardBatch& batch);
  float* h_logits_ = nullptr;

  KvCacheConfig kv_cfg_;
  bf16_raw *full_kv_ = nullptr, *window_kv_ = nullptr;
  std::map<int, cudaGraphExec_t> graphs_;  // decode graphs by 2 * batch size + with argmax

  bool profile_ = false;
  std::vector<cudaEvent_t> events_;
  std::vector<const char*> event_cats_;
  size_t n_marks_ = 0;
  struct ProfileBucket {
    int steps = 0;
    std::map<std::string, double> ms;
  };
  std::map<std::string, ProfileBucket> profile_buckets_;  // by step kind
};

CudaRunner::CudaRunner(const ModelSource& src, const CudaRunnerOptions& opt)
    : global_cfg_(src.config),
      cfg_(src.config),
      shard_(opt.shard),
      group_(opt.group),
      group_local_(opt.group_local_rank),
      device_(opt.device),
      max_tokens_(opt.max_step_tokens),
      logit_rows_(std::min(opt.max_step_tokens, kMaxLogitRows)),
      n_cpu_moe_(opt.n_cpu_moe),
      want_bounded_(opt.bounded_unembedding) {
  if (tp()) {
    if (!group_) throw Error("a tensor-parallel rank needs its NCCL group");
    if (n_cpu_moe_ > 0) throw Error("--tensor-parallel-size > 1 keeps every expert on the GPUs: drop --cpu-moe/--n-cpu-moe/--gpu-memory");
    cfg_.num_heads = shard_.q_heads;
    cfg_.num_kv_heads = shard_.kv_heads;
    cfg_.intermediate_size = shard_.inter;
  }
  const ModelConfig& c = cfg_;
  const int device = opt.device, max_step_tokens = opt.max_step_tokens;
  if (n_cpu_moe_ < 0 || n_cpu_moe_ > c.num_layers)
    throw Error("--n-cpu-moe " + std::to_string(n_cpu_moe_) + " is outside 0.." + std::to_string(c.num_layers) +
                " (the model has " + std::to_string(c.num_layers) + " layers)");
  stream_min_tokens_ = opt.stream_min_tokens;
  if (stream_min_tokens_ < 0) {
    stream_min_tokens_ = std::max(1, env_int("GPTOSS_HYBRID_STREAM_TOKENS", 64));
  }
  gpu_slots_ = opt.gpu_slots;
  if (gpu_slots_ < 0) {
    gpu_slots_ = env_int("GPTOSS_HYBRID_GPU_SLOTS", kDefaultGpuSlots);
  }
  gpu_slots_ = std::clamp(gpu_slots_, 0, c.experts_per_token);
  if (c.head_dim != 64) throw Error("the CUDA backend supports head_dim 64 (gpt-oss); this model has " + std::to_string(c.head_dim));
  if (c.num_experts > 128 || c.experts_per_token > 8)
    throw Error("the CUDA backend supports up to 128 experts and top-8 routing");
  if (c.num_heads / c.num_kv_heads > 32) throw Error("the CUDA backend supports GQA groups of up to 32 heads");
  int count = 0;
  if (cudaGetDeviceCount(&count) != cudaSuccess || count == 0)
    throw Error("no CUDA GPU found: use --device cpu, or check the NVIDIA driver (nvidia-smi)");
  if (device < 0 || device >= count)
    throw Error("--device cuda:" + std::to_string(device) + " does not exist: this machine has " + std::to_string(count) + " GPU(s)");
  GPTOSS_CUDA_CHECK(cudaSetDevice(device));
  cudaDeviceProp prop{};
  GPTOSS_CUDA_CHECK(cudaGetDeviceProperties(&prop, device));
  name_ = "cuda:" + std::to_string(device) + " (" + prop.name + ")";
  flash_ok_ = cuda::flash_attention_supported(cfg_.num_heads, cfg_.num_kv_heads, cfg_.head_dim);
  {
    // decode_mma_attention takes decode tokens whose keys are not split
    // (steps of 9+ tokens, mixed steps' decode tokens), the fused kernel's
    // 33-64 included (=2; =1 above 64 tokens; 0 never). H100, synthetic:20b,
    // 512+128, one call (2026-12-08, P as bf16 hi + lo), decode t/s with
    // 0 / 2: 64 sequences 9047 / 9632, 128: 13863 / 15579, 256: 17285 / 19935.
    // Off for a day (2026-12-07) after CudaRunner.BatchedDecodeEqualsAlone
    // found logits 0.415 away from a sequence alone at 40 sequences of the
    // tiny fixture: P rounded once to bf16 tipped near-ties of the tiny
    // router (8 experts, top 4); with P as hi + lo (float32-like, as
    // attention.cu) the test's worst is 7.6e-3 and the speed the same.
    const int mode = env_int("GPTOSS_DECODE_MMA_ATTENTION", 2);
    decode_mma_ok_ = mode != 0 && cuda::decode_mma_attention_supported(cfg_.num_heads, cfg_.num_kv_heads, cfg_.head_dim);
    decode_mma_fused_ = decode_mma_ok_ && mode == 2;
  }
  GPTOSS_CUDA_CHECK(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking));
  GPTOSS_CUBLAS_CHECK(cublasCreate(&cublas_));
  GPTOSS_CUBLAS_CHECK(cublasSetStream(cublas_, stream_));
  const size_t ws = 64ull << 20;  // a fixed workspace keeps cuBLAS graph-capturable
  GPTOSS_CUDA_CHECK(cudaMalloc(&cublas_workspace_, ws));
  GPTOSS_CUBLAS_CHECK(cublasSetWorkspace(cublas_, cublas_workspace_, ws));

  for (int l = 0; l < c.num_layers; ++l) slot_in_kind_.push_back(c.is_sliding(l) ? n_window_++ : n_full_++);

  // Out of memory is found before the first byte is copied, with what would
  // fit, rather than as a CUDA error halfway through the upload.
  {
    size_t free_b = 0, total_b = 0;
    GPTOSS_CUDA_CHECK(cudaMemGetInfo(&free_b, &total_b));
    // Tensor parallelism copies the embedding and unembedding to every rank and splits the rest.
    const size_t replicated = 2 * size_t(c.vocab_size) * size_t(c.hidden_size) * 2;
    const size_t total = src.weights->total_bytes();
    const size_t need = (total - replicated) / size_t(shard_.size) + replicated -
                        size_t(n_cpu_moe_) * ExpertSizes(c).total() * size_t(c.num_experts);
    // Rough, a little above the planner's activation_bytes(): logits rows,
    // per-token buffers, and the fixed scratch (dequantised expert, MMA rows).
    const size_t act = size_t(logit_rows_) * size_t(c.vocab_size) * 4 +
                       size_t(max_step_tokens) * size_t(c.hidden_size) * 64 + (256ull << 20);
    if (need + act > free_b)
      throw Error("the model needs " + format_mem_size(need) + " of weights plus about " + format_mem_size(act) +
                  " of activations (" + std::to_string(max_step_tokens) + " tokens per step) on " + name_ + ", which has " +
                  format_mem_size(free_b) + " free of " + format_mem_size(total_b) + ": lower --max-num-batched-tokens, " +
                  "free the GPU, or see `gptoss plan --model M --gpu-memory " + format_mem_size(free_b) +
                  "` for what fits with experts in host memory");
  }

  // Weights: copied once from the mapped checkpoint; q, k, v fused into one GEMM.
  ModelWeights w = bind_model_weights(global_cfg_, *src.weights);
  uploader_ = std::make_unique<cuda::StagedUpload>(stream_);
  if (const char* e = std::getenv("GPTOSS_MXFP4_LAYOUT"); e && std::string(e) == "checkpoint")
    gpu_layout_ = cuda::Mxfp4Layout::kCheckpoint;
  // GPTOSS_GROUPED_MOE=0 keeps the older paths (MMA GEMVs up to
  // GPTOSS_MMA_MAX_TOKENS, then bf16 copies and cuBLAS), to compare;
  // GPTOSS_GROUPED_MOE_FROM=N moves the switch from the MMA GEMVs.
  grouped_moe_ok_ = env_int("GPTOSS_GROUPED_MOE", 1) != 0 && gpu_layout_ == cuda::Mxfp4Layout::kMma &&
                    cuda::moe_grouped_supported(c.hidden_size, c.intermediate_size);
  grouped_from_ = std::max(1, env_int("GPTOSS_GROUPED_MOE_FROM", grouped_moe_ok_ && cuda::moe_grouped_uses_wgmma()
                                                                     ? kGroupedMoeFromWgmma
                                                                     : kGroupedMoeFrom));
  const size_t H = size_t(c.hidden_size), I = size_t(c.intermediate_size), E = size_t(c.num_experts);
  const size_t Q = size_t(c.q_dim()), KV = size_t(c.kv_dim()), V = size_t(c.vocab_size);
  embed_ = upload(w.embed, V * H);
  Progress progress("uploading weights to " + name_);
  for (int l = 0; l < c.num_layers; ++l) {
    const LayerWeights& L = w.layers[size_t(l)];
    DeviceLayer d;
    d.attn_norm = upload(L.attn_norm, H);
    d.mlp_norm = upload(L.mlp_norm, H);
    d.router_w = upload(L.router_w, E * H);
    d.router_b = upload(L.router_b, E);
    if (tp()) {
      // This rank's heads and expert columns. o_proj's bias is added after
      // the sum, on every rank; the experts' down bias inside it, on rank 0.
      const ShardedAttention a = shard_attention(global_cfg_, L, shard_);
      d.qkv_w = upload(a.qkv_w.data(), a.qkv_w.size());
      d.qkv_b = upload(a.qkv_b.data(), a.qkv_b.size());
      d.o_w = upload(a.o_w.data(), a.o_w.size());
      d.o_b = upload(L.o_b, H);
      d.sinks = upload(a.sinks.data(), a.sinks.size());
      const ShardedExperts x = shard_experts(global_cfg_, L, shard_);
      d.gu_blocks = upload(x.gu_blocks.data(), x.gu_blocks.size());
      d.gu_scales = upload(x.gu_scales.data(), x.gu_scales.size());
      d.gu_bias = upload(x.gu_bias.data(), x.gu_bias.size());
      d.dn_blocks = upload(x.dn_blocks.data(), x.dn_blocks.size());
      d.dn_scales = upload(x.dn_scales.data(), x.dn_scales.size());
      d.dn_bias = upload(x.dn_bias.data(), x.dn_bias.size());
      pack_experts(d, x.gu_blocks.size() / 16, x.dn_blocks.size() / 16);
      layers_.push_back(d);
      progress.update(size_t(l) + 1, size_t(c.num_layers));
      continue;
    }
    d.qkv_w = alloc<bf16_raw>((Q + 2 * KV) * H);
    copy_in(d.qkv_w, L.q_w, Q * H);
    copy_in(d.qkv_w + Q * H, L.k_w, KV * H);
    copy_in(d.qkv_w + (Q + KV) * H, L.v_w, KV * H);
    d.qkv_b = alloc<bf16_raw>(Q + 2 * KV);
    copy_in(d.qkv_b, L.q_b, Q);
    copy_in(d.qkv_b + Q, L.k_b, KV);
    copy_in(d.qkv_b + Q + KV, L.v_b, KV);
    d.o_w = upload(L.o_w, H * Q);
    d.o_b = upload(L.o_b, H);
    d.sinks = upload(L.sinks, size_t(c.num_heads));
    if (l < n_cpu_moe_) {
      host_experts_.push_back(moe_experts(c, L));
    } else {
      d.gu_blocks = upload(L.gate_up_blocks, E * 2 * I * H / 2);
      d.gu_scales = upload(L.gate_up_scales, E * 2 * I * H / 32);
      d.gu_bias = upload(L.gate_up_bias, E * 2 * I);
      d.dn_blocks = upload(L.down_blocks, E * H * I / 2);
      d.dn_scales = upload(L.down_scales, E * H * I / 32);
      d.dn_bias = upload(L.down_bias, E * H);
      pack_experts(d, E * 2 * I * H / 32, E * H * I / 32);
    }
    layers_.push_back(d);
    progress.update(size_t(l) + 1, size_t(c.num_layers));
  }
  final_norm_ = upload(w.final_norm, H);
  lm_head_ = upload(w.lm_head, V * H);
  cpu::YarnRope rope(c.head_dim, c.rope_theta, c.rope.factor, c.rope.beta_fast, c.rope.beta_slow,
                     c.rope.original_max_position, c.rope.truncate);
  inv_freq_ = upload(rope.inv_freq, size_t(c.head_dim / 2));
  attention_factor_ = rope.attention_factor;
  uploader_->finish();
  uploader_.reset();

  const size_t T = size_t(max_tokens_), K = size_t(c.experts_per_token);
  const size_t before = [] { size_t f, t; cudaMemGetInfo(&f, &t); return f; }();
  x_ = alloc<float>(T * H);
  h32_ = alloc<float>(T * H);
  h_ = alloc<bf16_raw>(T * H);
  qkv_ = alloc<float>(T * (Q + 2 * KV));
  q_ = alloc<bf16_raw>(T * Q);
  attn_ = alloc<bf16_raw>(T * Q);
  router_ = alloc<float>(T * E);
  topk_ids_ = alloc<int32_t>(T * K);
  topk_w_ = alloc<float>(T * K);
  offsets_ = alloc<int32_t>(E + 1);
  slots_ = alloc<int32_t>(T * K);
  active_ = alloc<int32_t>(E);
  const size_t mma_rows = grouped_moe_ok_ ? size_t(T) : std::min<size_t>(T, size_t(mma_max_tokens()));
  hq_ = alloc<bf16_raw>(mma_rows * H);
  actq_ = alloc<bf16_raw>(mma_rows * K * I);
  y_ = alloc<float>(T * K * H);
  logits_ = alloc<float>(size_t(logit_rows_) * V);
  w_gu_ = alloc<bf16_raw>(2 * I * H);
  w_dn_ = alloc<bf16_raw>(H * I);
  gath_ = alloc<bf16_raw>(T * H);
  actb_ = alloc<bf16_raw>(T * I);
  gu32_ = alloc<float>(T * 2 * I);
  dn32_ = alloc<float>(T * H);
  inputs_ = std::make_unique<CudaStepInputs>(max_tokens_, logit_rows_, kMaxSeqs);
  d_choice_ = alloc<int32_t>(size_t(logit_rows_));
  d_argmax_keys_ = alloc<unsigned long long>(size_t(logit_rows_));
  d_mask_of_ = alloc<int32_t>(size_t(logit_rows_));
  d_masks_ = alloc<uint32_t>(size_t(logit_rows_) * size_t((V + 31) / 32));
  attn_part_ = alloc<float>(std::max(cuda::attention_scratch_floats(8, c.num_heads, 16),
                                     cuda::attention_scratch_floats(kMaxFusedDecodeTokens, c.num_heads, 4)));
  attn_counters_ = alloc<int>(size_t(kMaxFusedDecodeTokens) * c.num_kv_heads);
  // Zeroed on the runner's stream (non-blocking: a cudaMemset on the legacy
  // stream would not be ordered before its kernels).
  GPTOSS_CUDA_CHECK(
      cudaMemsetAsync(attn_counters_, 0, size_t(kMaxFusedDecodeTokens) * c.num_kv_heads * sizeof(int), stream_));
  GPTOSS_CUDA_CHECK(cudaMallocHost(&h_logits_, size_t(logit_rows_) * V * sizeof(float)));
  for (int i = 0; i < 2; ++i) {
    GPTOSS_CUDA_CHECK(cudaMallocHost(&h_choice_[i], size_t(logit_rows_) * sizeof(int32_t)));
    GPTOSS_CUDA_CHECK(cudaMallocHost(&h_mask_of_[i], size_t(logit_rows_) * sizeof(int32_t)));
    GPTOSS_CUDA_CHECK(cudaMallocHost(&h_masks_[i], size_t(logit_rows_) * size_t((V + 31) / 32) * sizeof(uint32_t)));
    GPTOSS_CUDA_CHECK(cudaEventCreateWithFlags(&slot_done_[i], cudaEventDisableTiming));
  }
  if (n_cpu_moe_ > 0) {
    const int host_max_tokens = std::min(max_tokens_, stream_min_tokens_);
    host_worker_ = std::make_unique<HostMoeWorker>(host_experts_, host_max_tokens, c.hidden_size,
                                                   c.experts_per_token, opt.cpu_threads);
    handoff_counters_ = alloc<uint32_t>(2);
    GPTOSS_CUDA_CHECK(cudaMemsetAsync(handoff_counters_, 0, 8, stream_));
    const size_t expert = ExpertSizes(c).total();
    for (auto& st : stage_) st = alloc<uint8_t>(expert);
    GPTOSS_CUDA_CHECK(cudaStreamCreateWithFlags(&copy_stream_, cudaStreamNonBlocking));
    for (int i = 0; i < 2; ++i) {
      GPTOSS_CUDA_CHECK(cudaEventCreateWithFlags(&staged_[i], cudaEventDisableTiming));
      GPTOSS_CUDA_CHECK(cudaEventCreateWithFlags(&consumed_[i], cudaEventDisableTiming));
    }
    pin_host_experts();
    log_info("hybrid: experts of layers 0-" + std::to_string(n_cpu_moe_ - 1) + " in host memory (" +
             format_mem_size(size_t(n_cpu_moe_) * expert * E) + "), computed on " +
             std::to_string(host_worker_->threads()) + " CPU threads (" + cpu::moe_simd_path() + ")" +
             (gpu_slots_ > 0 ? ", " + std::to_string(gpu_slots_) + " of each token's " +
                                   std::to_string(c.experts_per_token) + " experts read by the GPU from host memory"
                             : std::string()) +
             " for steps under " + std::to_string(stream_min_tokens_) + " tokens, streamed to the GPU for larger ones");
  }
  make_bounded_head();
  const size_t after = [] { size_t f, t; cudaMemGetInfo(&f, &t); return f; }();
  size_t free_b = 0, total_b = 0;
  cudaMemGetInfo(&free_b, &total_b);
  if (const char* p = std::getenv("GPTOSS_PROFILE"); p && *p && std::string(p) != "0") {
    profile_ = true;
    events_.resize(1024);
    event_cats_.resize(events_.size());
    for (auto& ev : events_) GPTOSS_CUDA_CHECK(cudaEventCreate(&ev));
    log_info("GPTOSS_PROFILE: decode steps run without CUDA graphs, timed per op");
  }
  log_info("model on " + name_ + ": weights " + format_mem_size(weight_bytes_) + ", activations " +
           format_mem_size(before - after) + " (" + std::to_string(max_tokens_) + " tokens/step), " +
           format_mem_size(free_b) + " of " + format_mem_size(total_b) + " free for the KV cache");
}

CudaRunner::~CudaRunner() {
  cudaSetDevice(device_);
  if (profile_) print_profile();
  if (cuda::timeline::enabled()) timeline_.print();
  for (auto ev : events_) cudaEventDestroy(ev);
  for (auto& [_, g] : graphs_) cudaGraphExecDestroy(g);
  for (void* p : allocations_) cudaFree(p);
  if (full_kv_) cudaFree(full_kv_);
  if (window_kv_) cudaFree(window_kv_);
  inputs_.reset();
  cudaFreeHost(h_logits_);
  for (int i = 0; i < 2; ++i) {
    cudaFreeHost(h_choice_[i]);
    cudaFreeHost(h_mask_of_[i]);
    cudaFreeHost(h_masks_[i]);
    if (slot_done_[i]) cudaEventDestroy(slot_done_[i]);
  }
  for (void* p : pinned_ranges_) cudaHostUnregister(p);
  host_worker_.reset();
  for (int i = 0; i < 2; ++i) {
    if (staged_[i]) cudaEventDestroy(staged_[i]);
    if (consumed_[i]) cudaEventDestroy(consumed_[i]);
  }
  if (copy_stream_) cudaStreamDestroy(copy_stream_);
  if (cublas_) cublasDestroy(cublas_);
  if (cublas_workspace_) cudaFree(cublas_workspace_);
  if (stream_) cudaStreamDestroy(stream_);
}

void CudaRunner::allocate_kv(const KvCacheConfig& kv) {
  GPTOSS_CUDA_CHECK(cudaSetDevice(device_));
  for (auto& [_, g] : graphs_) cudaGraphExecDestroy(g);
  graphs_.clear();
  // Checked: a failing free here means a pointer this runner does not own.
  if (!in_flight_.empty()) throw Error("allocate_kv() while submitted steps are not collected");
  for (void* p : {(void*)full_kv_, (void*)window_kv_})
    if (p) GPTOSS_CUDA_CHECK(cudaFree(p));
  full_kv_ = window_kv_ = nullptr;
  chosen_rows_ = -1;
  kv_cfg_ = kv;
  const size_t full = full_block_bytes(kv.block_size) * size_t(kv.num_full_blocks);
  const size_t window = window_block_bytes(kv.block_size) * size_t(kv.num_window_blocks);
  size_t free_b = 0, total_b = 0;
  cudaMemGetInfo(&free_b, &total_b);
  if (full + window > free_b)
    throw Error("KV cache needs " + format_mem_size(full + window) + " but " + name_ + " has " +
                format_mem_size(free_b) + " free: lower --ctx-size or --kv-cache-size");
  full_kv_ = device_buffer<bf16_raw>(std::max<size_t>(full, 16));
  window_kv_ = device_buffer<bf16_raw>(std::max<size_t>(window, 16));
  // Block-table rows: no sequence holds more blocks than the model's context
  // (the pool may be far larger, shared by many sequences).
  const int ctx_blocks = (std::max(cfg_.max_position_embeddings, 131072) + kv.block_size - 1) / kv.block_size;
  inputs_->allocate_tables(std::max(1, std::min(kv.num_full_blocks, ctx_blocks)),
                           std::max(1, std::min(kv.num_window_blocks, ctx_blocks)));
}

// Steps of up to kBoundedStepRows rows that only need each row's token read
// an int8 copy of the unembedding and the few bf16 rows that can still win
// instead of all of it (cuda::bounded_choose_tokens). The copy takes V x H
// bytes (560 MiB for gpt-oss): only on a GPU with room to
// spare (not with experts in host memory, where memory is what is short,
// nor under a --gpu-memory budget). GPTOSS_BOUNDED_HEAD=0 leaves it out, to
// compare.
void CudaRunner::make_bounded_head() {
  const ModelConfig& c = cfg_;
  if (!want_bounded_ || env_int("GPTOSS_BOUNDED_HEAD", 1) == 0 || n_cpu_moe_ > 0 ||
      !cuda::bounded_head_supported(c.hidden_size))
    return;
  const size_t V = size_t(c.vocab_size), H = size_t(c.hidden_size);
  const size_t bytes = V * H + V * 8 + cuda::bounded_choose_scratch_bytes(c.vocab_size);
  size_t free_b = 0, total_b = 0;
  GPTOSS_CUDA_CHECK(cudaMemGetInfo(&free_b, &total_b));
  if (free_b < bytes + (4ull << 30)) {
    log_info("no room for the unembedding's int8 copy (" + format_mem_size(bytes) + "): steps compute full logits");
    return;
  }
  bounded_.q = alloc<uint8_t>(V * H);
  bounded_.scale = alloc<float>(V);
  bounded_.bound = alloc<float>(V);
  bounded_scratch_ = alloc<uint8_t>(cuda::bounded_choose_scratch_bytes(c.vocab_size));
  cuda::clear_bounded_scratch(bounded_scratch_, stream_);
  cuda::quantize_bounded_head(lm_head_, c.vocab_size, c.hidden_size, bounded_, stream_);
  GPTOSS_CUDA_CHECK(cudaStreamSynchronize(stream_));
  log_info("unembedding: an int8 copy (" + format_mem_size(bytes) +
           ") bounds the logits of decode steps, which then read only the bf16 rows that can win");
}

void CudaRunner::mark(const char* category) {
  if (cuda::timeline::enabled()) timeline_.op(category);
  if (!profile_ || n_marks_ >= events_.size()) return;
  event_cats_[n_marks_] = category;
  GPTOSS_CUDA_CHECK(cudaEventRecord(events_[n_marks_++], stream_));
}

void CudaRunner::collect_profile(int T) {
  if (!profile_ || n_marks_ < 2) return;
  GPTOSS_CUDA_CHECK(cudaEventSynchronize(events_[n_marks_ - 1]));
  // Decode at 65-256 sequences apart from prompt-sized steps.
  const std::string kind = T == 1 ? "T=1" : T <= 16 ? "T=2..16" : T <= 64 ? "T=17..64" : T <= 256 ? "T=65..256" : "T>256";
  ProfileBucket& b = profile_buckets_[kind];
  ++b.steps;
  for (size_t i = 1; i < n_marks_; ++i) {
    float ms = 0;
    GPTOSS_CUDA_CHECK(cudaEventElapsedTime(&ms, events_[i - 1], events_[i]));
    b.ms[event_cats_[i]] += ms;
  }
  n_marks_ = 0;
}

void CudaRunner::print_profile() const {
  for (const auto& [kind, b] : profile_buckets_) {
    double total = 0;
    for (const auto& [_, ms] : b.ms) total += ms;
    std::fprintf(stderr, "GPTOSS_PROFILE %s: %d steps, %.3f ms/step\n", kind.c_str(), b.steps, total / b.steps);
    std::vector<std::pair<double, std::string>> rows;
    for (const auto& [cat, ms] : b.ms) rows.push_back({ms, cat});
    std::sort(rows.rbegin(), rows.rend());
    for (const auto& [ms, cat] : rows)
      std::fprintf(stderr, "  %-14s %9.1f us/step %5.1f%%\n", cat.c_str(), 1e3 * ms / b.steps, 100.0 * ms / total);
  }
}

void CudaRunner::gemm(const bf16_raw* x, int T, int K, const bf16_raw* W, int N, float* y, bool accumulate) {
  if (cuda::small_gemm_supported(T, K)) {
    cuda::small_gemm_bf16(x, T, K, W, N, y, accumulate, stream_);
    return;
  }
  const float alpha = 1.0f, beta = accumulate ? 1.0f : 0.0f;
  GPTOSS_CUBLAS_CHECK(cublasGemmEx(cublas_, CUBLAS_OP_T, CUBLAS_OP_N, N, T, K, &alpha, W, CUDA_R_16BF, K, x,
                                   CUDA_R_16BF, K, &beta, y, CUDA_R_32F, N, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
}

void CudaRunner::pack_experts(DeviceLayer& d, size_t gu_blocks, size_t dn_blocks) {
  if (gpu_layout_ != cuda::Mxfp4Layout::kMma) return;
  const size_t H = size_t(cfg_.hidden_size), I = size_t(cfg_.intermediate_size);
  cuda::pack_mxfp4_for_mma(d.gu_blocks, d.gu_scales, int(gu_blocks * 32 / (2 * I * H)), int(2 * I), int(H), stream_);
  cuda::pack_mxfp4_for_mma(d.dn_blocks, d.dn_scales, int(dn_blocks * 32 / (H * I)), int(H), int(I), stream_);
}

ExpertPtrs CudaRunner::device_expert(int l, int e) const {
  const DeviceLayer& d = layers_[size_t(l)];
  const ExpertSizes z(cfg_);
  const size_t i = size_t(e);
  return {d.gu_blocks + i * z.gu_blocks, d.gu_scales + i * z.gu_scales, d.dn_blocks + i * z.dn_blocks,
          d.dn_scales + i * z.dn_scales, d.gu_bias + i * z.gu_bias / 2, d.dn_bias + i * z.dn_bias / 2};
}

// Copies expert e of a host-expert layer into staging slot `slot` on the copy
// stream; the compute stream waits for it. The slot is reused two experts
// later, after the compute stream has consumed it.
ExpertPtrs CudaRunner::stage_expert(int l, int e, int slot) {
  const cpu::MoeExperts& h = host_experts_[size_t(l)];
  const ExpertSizes z(cfg_);
  const size_t i = size_t(e);
  GPTOSS_CUDA_CHECK(cudaStreamWaitEvent(copy_stream_, consumed_[slot], 0));
  uint8_t* dst = stage_[slot];
  auto put = [&](const void* src, size_t bytes) {
    GPTOSS_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, copy_stream_));
    dst += bytes;
    return dst - bytes;
  };
  ExpertPtrs p;
  p.gu_blocks = put(h.gu_blocks + i * z.gu_blocks, z.gu_blocks);
  p.gu_scales = put(h.gu_scales + i * z.gu_scales, z.gu_scales);
  p.dn_blocks = put(h.dn_blocks + i * z.dn_blocks, z.dn_blocks);
  p.dn_scales = put(h.dn_scales + i * z.dn_scales, z.dn_scales);
  p.gu_bias = reinterpret_cast<const bf16_raw*>(put(h.gu_bias + i * z.gu_bias / 2, z.gu_bias));
  p.dn_bias = reinterpret_cast<const bf16_raw*>(put(h.dn_bias + i * z.dn_bias / 2, z.dn_bias));
  GPTOSS_CUDA_CHECK(cudaEventRecord(staged_[slot], copy_stream_));
  GPTOSS_CUDA_CHECK(cudaStreamWaitEvent(stream_, staged_[slot], 0));
  return p;
}

void CudaRunner::moe_prefill(int l, int T) {
  const ModelConfig& c = cfg_;
  const bool streamed = layers_[size_t(l)].gu_blocks == nullptr;
  const int E = local_experts();
  const int K = c.experts_per_token, H = c.hidden_size, I = c.intermediate_size;
  std::vector<int32_t> offsets(size_t(E) + 1);
  GPTOSS_CUDA_CHECK(cudaMemcpyAsync(offsets.data(), offsets_, (E + 1) * 4, cudaMemcpyDeviceToHost, stream_));
  GPTOSS_CUDA_CHECK(cudaStreamSynchronize(stream_));
  (void)T;
  int staged = 0;
  for (int e = 0; e < E; ++e) {
    const int n = offsets[size_t(e) + 1] - offsets[size_t(e)];
    if (n == 0) continue;
    const int slot = staged++ % 2;
    const ExpertPtrs w = streamed ? stage_expert(l, e, slot) : device_expert(l, e);
    const int32_t* slots = slots_ + offsets[size_t(e)];
    const cuda::Mxfp4Layout layout = streamed ? cuda::Mxfp4Layout::kCheckpoint : gpu_layout_;
    cuda::dequant_mxfp4_bf16(w.gu_blocks, w.gu_scales, 2 * I, H, w_gu_, stream_, layout);
    cuda::gather_slots_bf16(h32_, slots, n, K, H, gath_, stream_);
    gemm(gath_, n, H, w_gu_, 2 * I, gu32_, false);
    cuda::bias_swiglu_bf16(gu32_, w.gu_bias, n, I, c.swiglu_alpha, c.swiglu_limit, actb_, stream_);
    cuda::dequant_mxfp4_bf16(w.dn_blocks, w.dn_scales, H, I, w_dn_, stream_, layout);
    // The bias is read last: from here on the staging slot may be refilled.
    gemm(actb_, n, I, w_dn_, H, dn32_, false);
    cuda::scatter_slots_bias(dn32_, w.dn_bias, slots, n, H, y_, stream_);
    if (streamed) GPTOSS_CUDA_CHECK(cudaEventRecord(consumed_[slot], stream_));
  }
}

void CudaRunner::all_reduce_residual(int T) {
#ifdef GPTOSS_WITH_NCCL
  group_->all_reduce_sum(group_local_, x_, size_t(T) * size_t(cfg_.hidden_size), stream_);
#else
  (void)T;
  throw Error("this gptoss was built without NCCL: tensor parallelism is not available");
#endif
}

// The CPU computes the token's first k - gpu_slots experts (host_handoff.cu
// posts the request inside the graph); meanwhile the GPU computes the other
// slots reading their experts from host memory. The CPU's weighted sum lands
// in dn32_, the GPU's slots in y_ (moe_combine adds both).
void CudaRunner::moe_on_host(int l, int T, int gpu_slots) {
  const int H = cfg_.hidden_size, K = cfg_.experts_per_token, I = cfg_.intermediate_size, E = cfg_.num_experts;
  HostMoeWorker& w = *host_worker_;
  const int kc = K - gpu_slots;
  cuda::host_post(h32_, topk_ids_, topk_w_, T, H, K, kc, l, handoff_counters_, w.mailbox(), w.in(), w.ids(),
                  w.weights(), stream_);
  if (gpu_slots > 0) {
    const DeviceLayer& m = mapped_experts_[size_t(l)];
    cuda::moe_gate_up_mma(hq_, T, m.gu_blocks, m.gu_scales, m.gu_bias, E, H, I, K, offsets_, slots_, active_,
                          cfg_.swiglu_alpha, cfg_.swiglu_limit, actq_, stream_);
    cuda::moe_down_mma(actq_, T, m.dn_blocks, m.dn_scales, m.dn_bias, E, H, I, K, offsets_, slots_, active_, y_,
                       stream_);
  }
  cuda::host_wait(w.mailbox(), handoff_counters_, w.out(), T, H, dn32_, stream_);
}

// Page-locks the host experts so streamed copies run at full PCIe speed and
// overlap the GPU's work. Neighbouring tensors share pages, so the ranges are
// merged before registering; a failure only costs speed. Runs after every
// upload: a cudaMemcpy that starts inside a registered range and runs past its
// end fails, which a neighbouring tensor's upload could do.
void CudaRunner::pin_host_experts() {
  const size_t page = 4096;
  const ExpertSizes z(cfg_);
  const size_t E = size_t(cfg_.num_experts);
  std::vector<std::pair<uintptr_t, uintptr_t>> ranges;
  for (const cpu::MoeExperts& h : host_experts_) {
    auto add = [&](const void* p, size_t bytes) {
      const auto a = reinterpret_cast<uintptr_t>(p);
      ranges.push_back({a / page * page, (a + bytes + page - 1) / page * page});
    };
    add(h.gu_blocks, E * z.gu_blocks);
    add(h.gu_scales, E * z.gu_scales);
    add(h.gu_bias, E * z.gu_bias);
    add(h.dn_blocks, E * z.dn_blocks);
    add(h.dn_scales, E * z.dn_scales);
    add(h.dn_bias, E * z.dn_bias);
  }
  std::sort(ranges.begin(), ranges.end());
  std::vector<std::pair<uintptr_t, uintptr_t>> merged;
  for (auto r : ranges)
    if (!merged.empty() && r.first <= merged.back().second) merged.back().second = std::max(merged.back().second, r.second);
    else merged.push_back(r);
  int read_only = 0;
  cudaDeviceGetAttribute(&read_only, cudaDevAttrHostRegisterReadOnlySupported, device_);
  size_t pinned = 0;
  Progress progress("pinning host experts");
  for (size_t i = 0; i < merged.size(); ++i) {
    void* p = reinterpret_cast<void*>(merged[i].first);
    const size_t bytes = merged[i].second - merged[i].first;
    // Mapped checkpoints are read-only mappings: they can only be registered read-only.
    const unsigned mapped = cudaHostRegisterMapped;
    cudaError_t err = cudaHostRegister(p, bytes, read_only ? cudaHostRegisterReadOnly | mapped : mapped);
    if (err != cudaSuccess && read_only) err = cudaHostRegister(p, bytes, mapped);
    if (err == cudaSuccess) {
      pinned_ranges_.push_back(p);
      pinned += bytes;
    } else {
      cudaGetLastError();
      log_warn(std::string("could not page-lock ") + format_mem_size(bytes) + " of host experts (" +
               cudaGetErrorString(err) + "): prompt steps will copy them more slowly");
    }
    progress.update(i + 1, merged.size());
  }
  log_info("hybrid: " + format_mem_size(pinned) + " of host experts page-locked");
  // The GPU's view of them, for the slots it reads from host memory.
  if (gpu_slots_ == 0) return;
  size_t all = 0;
  for (auto& m : merged) all += m.second - m.first;
  if (pinned < all) {
    log_warn("hybrid: experts not all page-locked, so the CPU computes every slot of the host layers");
    gpu_slots_ = 0;
    return;
  }
  auto dev = [](const void* h) {
    void* d = nullptr;
    GPTOSS_CUDA_CHECK(cudaHostGetDevicePointer(&d, const_cast<void*>(h), 0));
    return d;
  };
  for (const cpu::MoeExperts& h : host_experts_) {
    DeviceLayer m{};
    m.gu_blocks = static_cast<uint8_t*>(dev(h.gu_blocks));
    m.gu_scales = static_cast<uint8_t*>(dev(h.gu_scales));
    m.gu_bias = static_cast<bf16_raw*>(dev(h.gu_bias));
    m.dn_blocks = static_cast<uint8_t*>(dev(h.dn_blocks));
    m.dn_scales = static_cast<uint8_t*>(dev(h.dn_scales));
    m.dn_bias = static_cast<bf16_raw*>(dev(h.dn_bias));
    mapped_experts_.push_back(m);
  }
}

void CudaRunner::run_layers(int T, int n_rows, bool gemv_path, const LayerTrace& trace) {
  const ModelConfig& c = cfg_;
  const int H = c.hidden_size, Q = c.q_dim(), KVD = c.kv_dim(), E = c.num_experts, K = c.experts_per_token;
  const int I = c.intermediate_size;
  cuda::TokenKv tk{in_.pos, in_.seq, in_.full, inputs_->full_pitch(), in_.window, in_.window_len, inputs_->window_pitch(),
                   kv_cfg_.block_size};
  mark("start");
  cuda::embed_rmsnorm(in_.tokens, in_.feed, d_choice_, T, embed_, H, x_, layers_[0].attn_norm, h_, c.rms_norm_eps, stream_);
  mark("embed");  // and the first layer's input norm; later layers get theirs from the previous combine
  std::vector<float> host_x;
  const int fuse = fused_decode();
  const bool fused_attention = step_decode_ && T <= kMaxFusedDecodeTokens &&
                               (fuse < 0 ? T >= kFusedAttentionFrom && !decode_mma_fused_ : fuse != 0);
  const auto skip = [&](const char* op) { return step_decode_ && ablated(op); };
  // Decode steps: each token is its sequence's logits row (run_step), so the
  // rows picked for the final norm are all of them, in order.
  const bool final_norm_in_combine = step_decode_ && n_rows == T;
  for (int l = 0; l < c.num_layers; ++l) {
    const DeviceLayer& d = layers_[size_t(l)];
    const bool sliding = c.is_sliding(l);
    const size_t kind_blocks = size_t(sliding ? kv_cfg_.num_window_blocks : kv_cfg_.num_full_blocks);
    bf16_raw* cache = (sliding ? window_kv_ : full_kv_) +
                      size_t(slot_in_kind_[size_t(l)]) * kind_blocks * 2 * kv_cfg_.block_size * KVD;
    if (!skip("qkv")) gemm(h_, T, H, d.qkv_w, Q + 2 * KVD, qkv_, false);
    mark("qkv");
    // Decode steps split each token's keys among blocks on full-attention
    // layers: a few tokens x 8 kv heads would otherwise be a handful of blocks
    // walking the whole context. The fused kernel merges splits without a
    // second launch, so it splits the sliding window's 128 keys too.
    // GPTOSS_ATTN_SPLITS=1 turns splitting off, to compare.
    static const bool split_keys = env_int("GPTOSS_ATTN_SPLITS", 0) != 1;
    // Decode steps whose keys on this layer fit in shared memory (every
    // sliding layer; full ones while the context is short): rope, the store
    // and attention in one launch, 4 warps per query head. H100,
    // synthetic:20b, same call, 2 rounds, off -> on (2026-11-24): tg128 489
    // -> 515 t/s, 1 sequence (512+64) 466 -> 485, 4 sequences 1049 -> 1074;
    // at 64 sequences (one warp per head) it lost, 8508 -> 8403, so larger
    // steps keep the kernels below. GPTOSS_STAGED_ATTENTION=0 to compare.
    static const bool staged_on = env_int("GPTOSS_STAGED_ATTENTION", 1) != 0;
    const bool staged = staged_on && step_decode_ && T <= kMaxStagedTokens &&
                        cuda::staged_decode_attention_fits(sliding ? std::min(max_keys_, c.sliding_window) : max_keys_,
                                                           c.num_heads, c.num_kv_heads, c.head_dim);
    if (staged) {
      if (!skip("attention"))
        cuda::staged_decode_attention(qkv_, d.qkv_b, inv_freq_, attention_factor_, T, c.num_heads, c.num_kv_heads, tk,
                                      sliding, c.sliding_window, cache, d.sinks, attn_, stream_);
      mark("attention");
    } else if (fused_attention) {
      // At 64 sequences a full layer's 512 (token, kv head) blocks would each
      // walk the whole context tile by tile: 4 shares each quarter that chain.
      const int splits = !split_keys ? 1 : T <= 8 ? (sliding ? 4 : 16) : !sliding ? 4 : 1;
      if (!skip("attention"))
        cuda::decode_attention(qkv_, d.qkv_b, inv_freq_, attention_factor_, T, c.num_heads, c.num_kv_heads, c.head_dim,
                             tk, sliding, c.sliding_window, cache, d.sinks, attn_, stream_, splits, attn_part_,
                             attn_counters_);
      mark("attention");
    } else {
      if (!skip("rope"))
        cuda::rope_store_kv(qkv_, d.qkv_b, inv_freq_, attention_factor_, T, c.num_heads, c.num_kv_heads, c.head_dim, tk,
                          sliding, cache, int(kind_blocks), q_, stream_);
      mark("rope_kv");
      const int splits = sliding || !split_keys || !long_context_ ? 1 : T <= 8 ? 16 : T <= 32 ? 4 : 1;
      for (const AttentionRun& r : attention_runs_) {
        if (skip("attention")) break;
        cuda::TokenKv rk = tk;
        rk.pos += r.t0;
        rk.seq += r.t0;
        const size_t at = size_t(r.t0) * size_t(Q);
        if (r.flash)
          cuda::flash_attention(q_ + at, cache, d.sinks, r.t1 - r.t0, c.num_heads, c.num_kv_heads, rk, sliding,
                                c.sliding_window, attn_ + at, stream_);
        else if (splits == 1 && decode_mma_ok_)
          // Tokens with few new keys each, when their keys are not split:
          // tensor cores instead of attention.cu's float32 dot products.
          cuda::decode_mma_attention(q_ + at, cache, d.sinks, r.t1 - r.t0, c.num_heads, c.num_kv_heads, rk, sliding,
                                     c.sliding_window, attn_ + at, stream_);
        else
          cuda::attention(q_ + at, cache, int(kind_blocks), d.sinks, r.t1 - r.t0, c.num_heads, c.num_kv_heads,
                          c.head_dim, rk, sliding, c.sliding_window, attn_ + at, stream_, splits, attn_part_);
      }
      mark("attention");
    }
    // Tensor parallel: rank 0 adds its heads' share to the residual, the
    // others put theirs in its place; the sum is the residual plus all heads.
    if (!skip("o_proj")) gemm(attn_, T, Q, d.o_w, H, x_, !tp() || shard_.rank == 0);
    mark("o_proj");
    if (tp()) {
      all_reduce_residual(T);
      mark("all_reduce");
    }
    const bool host_layer = d.gu_blocks == nullptr;
    const bool on_cpu = host_layer && T < stream_min_tokens_;
    // On the CPU's layers the GPU's expert lists hold only the slots it computes.
    const int k_gpu_from = on_cpu ? K - (gemv_path ? gpu_slots_ : 0) : 0;
    // Expert parallelism: the lists hold only this GPU's experts, numbered from 0.
    const int e_lo = shard_.expert0, n_local = local_experts();
    // Decode steps on GPU experts: the norm inside the router kernel (one
    // launch fewer per layer), the attention's output bias with the combine.
    static const bool norm_in_router = env_int("GPTOSS_NORM_ROUTER", 1) != 0;
    // Prompt-sized steps: the grouped GEMMs; decode-sized ones: the MMA GEMVs.
    const bool grouped_moe = grouped_moe_ok_ && !host_layer && T >= grouped_from_;
    const bool gpu_moe = gemv_path && !host_layer && !grouped_moe;
    const bool fused_router = norm_in_router && step_decode_ && T <= 4 && gpu_moe && !tp();
    if (fused_router) {
      if (!skip("router"))
        cuda::norm_router_logits(x_, d.o_b, d.mlp_norm, c.rms_norm_eps, T, H, d.router_w, E, router_, hq_, stream_);
      mark("router");
    } else {
      if (!skip("norm"))
        cuda::add_bias_rmsnorm(x_, d.o_b, d.mlp_norm, nullptr, h32_, gemv_path || grouped_moe ? hq_ : nullptr, T, H,
                               c.rms_norm_eps, nullptr, stream_);
      mark("norm");
      if (!skip("router")) cuda::router_logits_f32(h32_, T, H, d.router_w, E, router_, stream_);
      mark("router");
    }
    if (!skip("topk"))
      cuda::route_topk(router_, d.router_b, T, E, K, topk_ids_, topk_w_, offsets_, slots_, active_, stream_,
                     k_gpu_from, e_lo, n_local);
    mark("topk");
    if (on_cpu) {
      moe_on_host(l, T, K - k_gpu_from);
      mark("moe_host");
    } else if (grouped_moe) {
      if (!skip("gate_up"))
        cuda::moe_gate_up_grouped(hq_, T, d.gu_blocks, d.gu_scales, d.gu_bias, n_local, H, I, K, offsets_, slots_,
                                  c.swiglu_alpha, c.swiglu_limit, actq_, stream_);
      mark("moe_gate_up");
      if (!skip("down"))
        cuda::moe_down_grouped(actq_, T, d.dn_blocks, d.dn_scales, d.dn_bias, n_local, H, I, K, offsets_, slots_, y_,
                               stream_);
      mark("moe_down");
    } else if (gpu_moe) {
      if (!skip("gate_up"))
        cuda::moe_gate_up_mma(hq_, T, d.gu_blocks, d.gu_scales, d.gu_bias, n_local, H, I, K, offsets_, slots_, active_,
                              c.swiglu_alpha, c.swiglu_limit, actq_, stream_, gpu_layout_);
      mark("moe_gate_up");
      if (!skip("down"))
        cuda::moe_down_mma(actq_, T, d.dn_blocks, d.dn_scales, d.dn_bias, n_local, H, I, K, offsets_, slots_, active_,
                           y_, stream_, gpu_layout_);
      mark("moe_down");
    } else {
      moe_prefill(l, T);
      mark("moe_prefill");
    }
    const bool last = l + 1 == c.num_layers;
    // Under tensor parallelism the norm waits for the sum. The model's final
    // norm joins the last combine when every token is a logits row (decode).
    const bool fuse_norm = !tp() && (!last || final_norm_in_combine);
    const bf16_raw* next_norm = last ? final_norm_ : layers_[size_t(l) + 1].attn_norm;
    if (tp() && shard_.rank != 0) GPTOSS_CUDA_CHECK(cudaMemsetAsync(x_, 0, size_t(T) * H * 4, stream_));
    if (!skip("combine"))
      cuda::moe_combine(y_, topk_w_, T, K, H, x_, fuse_norm ? next_norm : nullptr, fuse_norm ? h_ : nullptr,
                        c.rms_norm_eps, stream_, k_gpu_from, on_cpu ? dn32_ : nullptr,
                        shard_.expert_parallel ? topk_ids_ : nullptr, e_lo, e_lo + n_local,
                        fused_router ? d.o_b : nullptr);
    mark("combine");
    if (tp()) {
      all_reduce_residual(T);
      mark("all_reduce");
      if (!last) {
        cuda::add_bias_rmsnorm(x_, nullptr, layers_[size_t(l) + 1].attn_norm, h_, nullptr, nullptr, T, H, c.rms_norm_eps,
                               nullptr, stream_);
        mark("norm");
      }
    }
    if (trace && l + 1 < c.num_layers) {
      host_x.resize(size_t(T) * H);
      GPTOSS_CUDA_CHECK(cudaMemcpyAsync(host_x.data(), x_, host_x.size() * 4, cudaMemcpyDeviceToHost, stream_));
      GPTOSS_CUDA_CHECK(cudaStreamSynchronize(stream_));
      trace(l, host_x.data(), T);
    }
  }
  if (trace) {
    // The final norm of every row, for the test's per-layer comparison.
    cuda::add_bias_rmsnorm(x_, nullptr, final_norm_, nullptr, h32_, nullptr, T, H, c.rms_norm_eps, nullptr, stream_);
    host_x.resize(size_t(T) * H);
    GPTOSS_CUDA_CHECK(cudaMemcpyAsync(host_x.data(), h32_, host_x.size() * 4, cudaMemcpyDeviceToHost, stream_));
    GPTOSS_CUDA_CHECK(cudaStreamSynchronize(stream_));
    trace(c.num_layers, host_x.data(), T);
  }
  if (!final_norm_in_combine || tp()) {
    cuda::add_bias_rmsnorm(x_, nullptr, final_norm_, h_, nullptr, nullptr, n_rows, H, c.rms_norm_eps, in_.rows, stream_);
    mark("norm");
  }
  if (bounded_step_) {
    if (!skip("lm_head"))
      cuda::bounded_choose_tokens(bounded_, h_, n_rows, in_.choice, bounded_scratch_, d_choice_, stream_, d_masks_,
                                  d_mask_of_);
    mark("lm_head");
    return;
  }
  if (!skip("lm_head")) gemm(h_, n_rows, H, lm_head_, c.vocab_size, logits_, false);
  mark("lm_head");
  if (choose_) {
    cuda::choose_tokens(logits_, n_rows, c.vocab_size, in_.choice, d_argmax_keys_, d_choice_, stream_, d_masks_,
                        d_mask_of_);
    mark("argmax");
  }
}

void CudaRunner::forward(const ForwardBatch& batch, float* logits, const LayerTrace& trace) {
  if (!in_flight_.empty()) throw Error("forward() while submitted steps are not collected");
  if (!batch.feed.empty()) throw Error("feed is for submit()");
  const int slot = next_slot_;
  next_slot_ ^= 1;
  const int rows = run_step(batch, trace, false, true, slot);
  chosen_rows_ = -1;  // d_choice_ is stale now
  const size_t V = size_t(cfg_.vocab_size);
  if (rows > 0) {
    GPTOSS_CUDA_CHECK(cudaMemcpyAsync(h_logits_, logits_, size_t(rows) * V * 4, cudaMemcpyDeviceToHost, stream_));
    GPTOSS_CUDA_CHECK(cudaStreamSynchronize(stream_));
    if (host_worker_) host_worker_->check();
    std::memcpy(logits, h_logits_, size_t(rows) * V * 4);
  }
}

void CudaRunner::forward_sample(const ForwardBatch& batch, float* logits, int32_t* tokens) {
  if (!in_flight_.empty()) throw Error("forward_sample() while submitted steps are not collected");
  submit(batch);
  collect(logits, tokens);
}

void CudaRunner::sync_slot(int slot) {
  GPTOSS_CUDA_CHECK(cudaEventSynchronize(slot_done_[slot]));
  if (host_worker_) host_worker_->check();
}

void CudaRunner::unpin_logits(InFlight& f) {
  if (!f.logits_pinned) return;
  sync_slot(f.slot);
  const size_t V = size_t(cfg_.vocab_size);
  f.logits.resize(size_t(f.rows) * V);
  for (auto [a, b] : f.runs) std::memcpy(f.logits.data() + a * V, h_logits_ + a * V, (b - a) * V * 4);
  f.logits_pinned = false;
}

void CudaRunner::submit(const ForwardBatch& batch) {
  if (int(in_flight_.size()) >= kMaxInFlight)
    throw Error("submit(): " + std::to_string(kMaxInFlight) + " steps are in flight already; collect() one first");
  InFlight f;
  // Logits rows the caller reads, in runs of consecutive rows.
  size_t r = 0;
  for (const BatchSeq& sq : batch.seqs) {
    const size_t n = sq.all_logits ? size_t(sq.n_tokens) : (sq.n_tokens > 0 ? 1 : 0);
    if (n && sq.want_logits) {
      if (!f.runs.empty() && f.runs.back().second == r) f.runs.back().second = r + n;
      else f.runs.push_back({r, r + n});
    }
    r += n;
  }
  // h_logits_ holds one step's rows at a time.
  if (!f.runs.empty())
    for (InFlight& g : in_flight_) unpin_logits(g);
  f.slot = next_slot_;
  f.rows = run_step(batch, {}, true, !f.runs.empty(), f.slot);
  next_slot_ ^= 1;
  chosen_rows_ = f.rows;
  const size_t V = size_t(cfg_.vocab_size);
  if (f.rows > 0) {
    GPTOSS_CUDA_CHECK(cudaMemcpyAsync(h_choice_[f.slot], d_choice_, size_t(f.rows) * 4, cudaMemcpyDeviceToHost, stream_));
    for (auto [a, b] : f.runs)
      GPTOSS_CUDA_CHECK(cudaMemcpyAsync(h_logits_ + a * V, logits_ + a * V, (b - a) * V * 4, cudaMemcpyDeviceToHost, stream_));
    f.logits_pinned = !f.runs.empty();
  }
  GPTOSS_CUDA_CHECK(cudaEventRecord(slot_done_[f.slot], stream_));
  in_flight_.push_back(std::move(f));
}

void CudaRunner::collect(float* logits, int32_t* tokens) {
  if (in_flight_.empty()) throw Error("collect() without a submitted step");
  InFlight f = std::move(in_flight_.front());
  in_flight_.pop_front();
  sync_slot(f.slot);
  const size_t V = size_t(cfg_.vocab_size);
  std::memcpy(tokens, h_choice_[f.slot], size_t(f.rows) * 4);
  const float* from = f.logits_pinned ? h_logits_ : f.logits.data();
  for (auto [a, b] : f.runs) std::memcpy(logits + a * V, from + a * V, (b - a) * V * 4);
}

// Prompt chunks take the tensor-core kernel; sequences with a few tokens
// (decodes riding along in a mixed step) keep attention.cu, which gives each
// token its own blocks instead of a serial pass in a shared one.
// GPTOSS_FLASH_ATTENTION=0 never takes it, to compare.
void CudaRunner::plan_attention_runs(const ForwardBatch& batch) {
  static const bool flash_on = env_int("GPTOSS_FLASH_ATTENTION", 1) != 0;
  attention_runs_.clear();
  int t = 0;
  for (const BatchSeq& s : batch.seqs) {
    if (s.n_tokens == 0) continue;
    const bool flash = flash_on && flash_ok_ && s.n_tokens >= kFlashMinTokens;
    if (!attention_runs_.empty() && attention_runs_.back().flash == flash)
      attention_runs_.back().t1 = t + s.n_tokens;
    else
      attention_runs_.push_back({t, t + s.n_tokens, flash});
    t += s.n_tokens;
  }
}

// Each logits row's mask index and the masks themselves go up with the step
// (the index array always, so a captured graph reads the current one).
void CudaRunner::stage_masks(const ForwardBatch& batch, int rows, int slot) {
  const size_t words = size_t((cfg_.vocab_size + 31) / 32);
  int r = 0, k = 0;
  for (const BatchSeq& s : batch.seqs) {
    const int n = s.all_logits ? s.n_tokens : (s.n_tokens > 0 ? 1 : 0);
    for (int j = 0; j < n; ++j, ++r) {
      h_mask_of_[slot][r] = -1;
      if (j + 1 == n && s.mask) {
        std::memcpy(h_masks_[slot] + size_t(k) * words, s.mask, words * sizeof(uint32_t));
        h_mask_of_[slot][r] = k++;
      }
    }
  }
  GPTOSS_CUDA_CHECK(cudaMemcpyAsync(d_mask_of_, h_mask_of_[slot], size_t(rows) * sizeof(int32_t),
                                    cudaMemcpyHostToDevice, stream_));
  if (k > 0)
    GPTOSS_CUDA_CHECK(cudaMemcpyAsync(d_masks_, h_masks_[slot], size_t(k) * words * sizeof(uint32_t),
                                      cudaMemcpyHostToDevice, stream_));
}

int CudaRunner::run_step(const ForwardBatch& batch, const LayerTrace& trace, bool choose, bool logits_wanted,
                         int slot) {
  const int T = batch.total_tokens();
  if (T == 0) return 0;
  choose_ = choose;
  GPTOSS_CUDA_CHECK(cudaSetDevice(device_));
  const StagedStep st = inputs_->stage(slot, batch, cfg_.vocab_size, kv_cfg_.block_size, n_full_ > 0,
                                       chosen_rows_);
  inputs_->upload(slot, stream_);
  in_ = inputs_->device(st.shape);
  const int rows = st.shape.rows;
  const bool all_single = st.all_single;
  if (choose) stage_masks(batch, rows, slot);
  bounded_step_ = choose && !logits_wanted && bounded_.q && rows <= kBoundedStepRows && !trace;
  step_decode_ = all_single;
  // Measured on an H100, synthetic:20b, batch 1 (2026-11-24), splits from
  // 0 / 256 / 384 keys: tg128 (16..144 keys) 450 / 459 / 458 t/s; 128..192
  // keys 445 / 440 / 439; 256..320 keys 446 / 446 / 428; never split at
  // 512..576 keys: 444 -> 406. From 128 vs 0, same binary, 2 runs each:
  // tg128 463 / 457 vs 453 / 454; 128..192 keys and 64 sequences unchanged.
  // GPTOSS_ATTN_SPLIT_FROM=N to compare.
  static const int split_from = env_int("GPTOSS_ATTN_SPLIT_FROM", kSplitKeysFrom);
  max_keys_ = st.max_keys;
  long_context_ = max_keys_ > split_from;
  plan_attention_runs(batch);
  const bool gemv = T <= mma_max_tokens();
  // A graph cannot hold a streamed step (it reads the routing on the host).
  const bool graphable = n_cpu_moe_ == 0 || T < stream_min_tokens_;
  if (host_worker_ && T < stream_min_tokens_) host_worker_->expect(n_cpu_moe_);
  // GPTOSS_CUDA_GRAPHS=0 runs decode steps eagerly, to compare.
  static const bool graphs_on = [] {
    const char* e = std::getenv("GPTOSS_CUDA_GRAPHS");
    return !(e && std::string(e) == "0");
  }();
  if (all_single && gemv && graphable && graphs_on && !trace && !profile_) {
    // Decode: the whole step as one graph launch per batch size.
    // Also keyed by what picks each layer's attention kernel.
    const int key = 2 * T + (choose ? 1 : 0) + (long_context_ ? 1 << 20 : 0) +
                    (max_keys_ <= cuda::kStagedKeys ? 1 << 21 : 0) + (bounded_step_ ? 1 << 22 : 0);
    auto it = graphs_.find(key);
    if (it == graphs_.end()) {
      cudaGraph_t graph;
      GPTOSS_CUDA_CHECK(cudaStreamBeginCapture(stream_, cudaStreamCaptureModeThreadLocal));
      if (cuda::timeline::enabled())
        timeline_.begin_capture(key, std::to_string(T) + " token(s)" + (long_context_ ? ", past 128 keys" : "") +
                                         (choose ? ", choosing tokens" : ""));
      run_layers(T, rows, true, {});
      if (cuda::timeline::enabled()) timeline_.end_capture();
      GPTOSS_CUDA_CHECK(cudaStreamEndCapture(stream_, &graph));
      cudaGraphExec_t exec;
      GPTOSS_CUDA_CHECK(cudaGraphInstantiate(&exec, graph, 0));
      cudaGraphDestroy(graph);
      it = graphs_.emplace(key, exec).first;
    }
    if (cuda::timeline::enabled()) timeline_.before_replay(stream_);
    GPTOSS_CUDA_CHECK(cudaGraphLaunch(it->second, stream_));
    if (cuda::timeline::enabled()) timeline_.after_replay(key, stream_);
  } else {
    run_layers(T, rows, gemv, trace);
    collect_profile(T);
  }
  return rows;
}

}  // namespace

int cuda_device_count() {
  int n = 0;
  return cudaGetDeviceCount(&n) == cudaSuccess ? n : 0;
}

std::unique_ptr<ModelRunner> make_cuda_runner(const ModelSource& source, const CudaRunnerOptions& options) {
  return std::make_unique<CudaRunner>(source, options);
}

std::unique_ptr<ModelRunner> make_cuda_runner(const ModelSource& source, int device_index, int max_step_tokens) {
  CudaRunnerOptions o;
  o.device = device_index;
  o.max_step_tokens = max_step_tokens;
  return make_cuda_runner(source, o);
}

bool cuda_memory_info(int device, size_t* free_bytes, size_t* total_bytes) {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess || device < 0 || device >= n) return false;
  return cudaSetDevice(device) == cudaSuccess && cudaMemGetInfo(free_bytes, total_bytes) == cudaSuccess;
}

}  // namespace gptoss

namespace gptoss {

double measure_copy_bandwidth(int device) {
  GPTOSS_CUDA_CHECK(cudaSetDevice(device));
  const size_t n = 1ull << 30;
  void *a, *b;
  GPTOSS_CUDA_CHECK(cudaMalloc(&a, n));
  GPTOSS_CUDA_CHECK(cudaMalloc(&b, n));
  cudaEvent_t e0, e1;
  cudaEventCreate(&e0);
  cudaEventCreate(&e1);
  cudaMemcpy(b, a, n, cudaMemcpyDeviceToDevice);
  cudaEventRecord(e0);
  for (int i = 0; i < 10; ++i) cudaMemcpy(b, a, n, cudaMemcpyDeviceToDevice);
  cudaEventRecord(e1);
  cudaEventSynchronize(e1);
  float ms = 0;
  cudaEventElapsedTime(&ms, e0, e1);
  cudaEventDestroy(e0);
  cudaEventDestroy(e1);
  cudaFree(a);
  cudaFree(b);
  return 2.0 * n * 10 / (ms / 1e3);
}

double datasheet_bandwidth(int device) {
  cudaDeviceProp p{};
  if (cudaGetDeviceProperties(&p, device) != cudaSuccess) return 0;
  std::string name = p.name;
  auto has = [&](const char* s) { return name.find(s) != std::string::npos; };
  if (has("H200")) return 4.8e12;
  if (has("H100") && has("PCIe")) return 2.0e12;
  if (has("H100")) return 3.35e12;
  if (has("A100")) return p.totalGlobalMem > (50ull << 30) ? 2.039e12 : 1.555e12;
  if (has("V100")) return 0.9e12;
  if (has("RTX 4090")) return 1.008e12;
  if (has("RTX 3090")) return 0.936e12;
  if (has("A6000")) return 0.768e12;
  return 0;
}

}  // namespace gptoss
