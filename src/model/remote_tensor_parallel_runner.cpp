#include "model/remote_tensor_parallel_runner.h"

#include <condition_variable>
#include <cstdio>
#include <exception>
#include <mutex>
#include <thread>

#include "backend/cuda/nccl_channel.h"
#include "backend/cuda/nccl_group.h"
#include "core/error.h"
#include "core/log.h"
#include "core/watchdog.h"
#include "model/cuda_runner.h"
#include "model/nccl_id_file.h"
#include "model/tensor_parallel.h"
#include "model/tp_command.h"

namespace gptoss {

namespace {

// No step takes minutes; one that does is waiting on a worker that died.
constexpr double kStepTimeoutSeconds = 300;
constexpr double kLoadTimeoutSeconds = 3600;

class RemoteTensorParallelRunner : public ModelRunner {
 public:
  RemoteTensorParallelRunner(const ModelSource& src, const RemoteTpOptions& o) : id_file_(o.id_file) {
    const int n = o.size;
    const std::string hex = cuda::nccl_unique_id_hex();
    write_nccl_id_file(o.id_file, hex);
    log_info("waiting for " + std::to_string(n - 1) + " tp-workers: NCCL id in " + o.id_file +
             " (on other nodes copy it to the same path); start each with `gptoss tp-worker --model " + src.name +
             " --tp " + std::to_string(n) + " --rank R --nccl-id-file " + o.id_file + "`");
    watchdog_.arm(o.join_timeout_seconds,
                  "the tp-workers did not join within " + std::to_string(int(o.join_timeout_seconds)) +
                      " s: start ranks 1.." + std::to_string(n - 1) + " with `gptoss tp-worker --tp " + std::to_string(n) +
                      " --rank R --nccl-id-file " + o.id_file + "` and the same --model");
    group_ = std::make_unique<cuda::NcclGroup>(cuda::nccl_unique_id_from_hex(hex), 0, n, o.device);
    channel_ = std::make_unique<cuda::NcclChannel>(*group_, 0, o.device);
    // The workers check the model against ours and learn the step size before
    // they load anything: a mismatch stops every process with a reason.
    auto hello = encode_tp_hello(o.max_step_tokens, tp_model_summary(src.config, src.weights->total_bytes()));
    channel_->broadcast(hello, 0);
    if (int bad = channel_->count_failures(false))
      throw Error(std::to_string(bad) + " tp-worker(s) hold a different model: give every process the same --model " +
                  "(and --seed for synthetic models); see the workers' logs");
    log_info("all " + std::to_string(n) + " ranks joined; loading rank 0's shard on cuda:" + std::to_string(o.device));
    watchdog_.arm(kLoadTimeoutSeconds, "a tp-worker did not finish loading its shard within an hour");
    const CudaRunnerOptions c = tp_rank_options(o.device, o.max_step_tokens, tp_shard(src.config, 0, n), group_.get(), 0);
    std::exception_ptr err;
    try {
      rank0_ = make_cuda_runner(src, c);
    } catch (...) {
      err = std::current_exception();
    }
    // Everyone learns whether everyone loaded: a worker that failed has exited.
    const int failed = channel_->count_failures(err != nullptr);
    if (err) std::rethrow_exception(err);
    if (failed) throw Error(std::to_string(failed) + " tp-worker(s) could not load their shard: see their logs");
    watchdog_.disarm();
    name_ = "tensor parallel x" + std::to_string(n) + " across processes [rank 0: " + rank0_->device_name() + "]";
    log_info(name_ + ": " + std::to_string(c.shard.q_heads) + " query heads and " + std::to_string(c.shard.inter) +
             " expert columns per GPU");
    last_command_ = std::chrono::steady_clock::now();
    pinger_ = std::thread([this] { ping_loop(); });
  }

  ~RemoteTensorParallelRunner() override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
    }
    stop_cv_.notify_all();
    if (pinger_.joinable()) pinger_.join();
    try {
      std::lock_guard<std::mutex> lock(mu_);
      if (broken_) throw Error("the group had failed");
      watchdog_.arm(30, "the tp-workers did not take the shutdown command within 30 s");
      send(encode_tp_simple(TpCommandKind::shutdown));
      watchdog_.disarm();
    } catch (const std::exception& e) {
      log_warn(std::string("could not tell the tp-workers to stop: ") + e.what());
    }
    std::remove(id_file_.c_str());  // a stale id would send the next workers to a group that is gone
  }

  const ModelConfig& config() const override { return rank0_->config(); }
  std::string device_name() const override { return name_; }
  // Only this process's GPU: the workers' memory is theirs to report.
  std::vector<DeviceMemory> device_memory() const override { return rank0_->device_memory(); }
  size_t full_block_bytes(int bs) const override { return rank0_->full_block_bytes(bs); }
  size_t window_block_bytes(int bs) const override { return rank0_->window_block_bytes(bs); }
  const KvCacheConfig& kv_config() const override { return rank0_->kv_config(); }
  int max_step_tokens() const override { return rank0_->max_step_tokens(); }
  int max_logit_rows() const override { return rank0_->max_logit_rows(); }
  int max_step_seqs() const override { return rank0_->max_step_seqs(); }

  void allocate_kv(const KvCacheConfig& kv) override {
    std::lock_guard<std::mutex> lock(mu_);
    Step step(*this, "allocate_kv");
    send(encode_tp_allocate_kv(kv));
    std::exception_ptr err;
    try {
      rank0_->allocate_kv(kv);
    } catch (...) {
      err = std::current_exception();
    }
    const int failed = channel_->count_failures(err != nullptr);
    if (err) std::rethrow_exception(err);
    if (failed) throw Error(std::to_string(failed) + " tp-worker(s) could not allocate their KV cache (they exit): see their logs");
  }

  // Every rank computes the logits (the unembedding is replicated); rank 0's are returned.
  void forward(const ForwardBatch& batch, float* logits, const LayerTrace& trace) override {
    std::lock_guard<std::mutex> lock(mu_);
    Step step(*this, "forward");
    send(encode_tp_forward(batch, false));
    rank0_->forward(batch, logits, trace);
  }
  void forward_sample(const ForwardBatch& batch, float* logits, int32_t* argmax) override {
    std::lock_guard<std::mutex> lock(mu_);
    Step step(*this, "forward");
    send(encode_tp_forward(batch, true));
    rank0_->forward_sample(batch, logits, argmax);
  }

 private:
  // Guards one call: a worker that died mid-step would otherwise hang this
  // process in NCCL forever.
  struct Step {
    Step(RemoteTensorParallelRunner& r, const char* what) : r_(r) {
      r_.watchdog_.arm(kStepTimeoutSeconds, std::string("a tensor-parallel ") + what + " step took over " +
                                                std::to_string(int(kStepTimeoutSeconds)) +
                                                " s: a tp-worker has probably exited (see its log)");
    }
    ~Step() {
      r_.watchdog_.disarm();
      r_.last_command_ = std::chrono::steady_clock::now();
    }
    RemoteTensorParallelRunner& r_;
  };

  // After a failed broadcast the group is aborted: later calls fail at once
  // instead of waiting on peers that are gone.
  void send(std::vector<uint8_t> bytes) {
    if (broken_) throw Error("the tensor-parallel group failed earlier (a tp-worker exited?): restart the leader and the workers");
    try {
      channel_->broadcast(bytes, 0);
    } catch (...) {
      broken_ = true;
      group_->abort();
      throw;
    }
  }

  // Runs beside the engine; mu_ keeps its pings between whole calls, so all
  // ranks still see one sequence of commands.
  void ping_loop() {
    const auto every = std::chrono::duration_cast<std::chrono::steady_clock::duration>(
        std::chrono::duration<double>(kTpPingSeconds));
    std::unique_lock<std::mutex> lock(mu_);
    while (!stop_) {
      stop_cv_.wait_until(lock, last_command_ + every);
      if (stop_ || std::chrono::steady_clock::now() < last_command_ + every) continue;
      try {
        Step step(*this, "ping");
        send(encode_tp_simple(TpCommandKind::ping));
      } catch (const std::exception& e) {
        log_warn(std::string("tensor-parallel ping failed: ") + e.what());
        return;
      }
    }
  }

  std::string id_file_, name_;
  Watchdog watchdog_;
  std::unique_ptr<cuda::NcclGroup> group_;
  std::unique_ptr<cuda::NcclChannel> channel_;
  std::unique_ptr<ModelRunner> rank0_;
  std::mutex mu_;  // one command at a time: the engine's calls and the pings
  std::condition_variable stop_cv_;
  bool stop_ = false, broken_ = false;
  std::chrono::steady_clock::time_point last_command_;
  std::thread pinger_;
};

}  // namespace

std::unique_ptr<ModelRunner> make_remote_tensor_parallel_runner(const ModelSource& source, const RemoteTpOptions& o) {
  if (o.size < 2) throw Error("--nccl-id-file needs --tp 2 or more (this process is rank 0, the workers the rest)");
  if (o.id_file.empty()) throw Error("tensor parallelism across processes needs --nccl-id-file");
  const int have = cuda_device_count();
  if (o.device < 0 || o.device >= have)
    throw Error("rank 0 would run on GPU " + std::to_string(o.device) + " but this machine has " + std::to_string(have));
  for (int r = 0; r < o.size; ++r) tp_shard(source.config, r, o.size);  // the split is checked before anyone waits
  try {
    return std::make_unique<RemoteTensorParallelRunner>(source, o);
  } catch (...) {
    std::remove(o.id_file.c_str());  // the group it names is gone
    throw;
  }
}

}  // namespace gptoss
