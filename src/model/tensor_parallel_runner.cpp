#include "model/tensor_parallel_runner.h"

#include <condition_variable>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>

#include "backend/cuda/nccl_group.h"
#include "core/error.h"
#include "core/log.h"
#include "model/cuda_runner.h"
#include "model/tensor_parallel.h"

namespace gptoss {

namespace {

// Runs the same job on every rank's thread at once and waits for all. Each
// rank needs its own thread: a rank that synchronises its stream waits for
// the others' halves of an all-reduce, which they can only launch if nothing
// makes them wait for it.
class RankThreads {
 public:
  explicit RankThreads(int n) : errors_(size_t(n)) {
    for (int r = 0; r < n; ++r) threads_.emplace_back([this, r] { loop(r); });
  }
  ~RankThreads() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    for (auto& t : threads_) t.join();
  }
  void run(const std::function<void(int)>& job) {
    std::unique_lock<std::mutex> lock(mu_);
    job_ = &job;
    pending_ = int(threads_.size());
    ++generation_;
    cv_.notify_all();
    done_cv_.wait(lock, [this] { return pending_ == 0; });
    job_ = nullptr;
    for (auto& e : errors_)
      if (e) {
        auto err = e;
        for (auto& x : errors_) x = nullptr;
        std::rethrow_exception(err);
      }
  }

 private:
  void loop(int r) {
    uint64_t seen = 0;
    for (;;) {
      const std::function<void(int)>* job;
      {
        std::unique_lock<std::mutex> lock(mu_);
        cv_.wait(lock, [&] { return stop_ || generation_ != seen; });
        if (stop_) return;
        seen = generation_;
        job = job_;
      }
      try {
        (*job)(r);
      } catch (...) {
        errors_[size_t(r)] = std::current_exception();
      }
      std::lock_guard<std::mutex> lock(mu_);
      if (--pending_ == 0) done_cv_.notify_one();
    }
  }
  std::vector<std::thread> threads_;
  std::vector<std::exception_ptr> errors_;
  std::mutex mu_;
  std::condition_variable cv_, done_cv_;
  const std::function<void(int)>* job_ = nullptr;
  uint64_t generation_ = 0;
  int pending_ = 0;
  bool stop_ = false;
};

class TensorParallelRunner : public ModelRunner {
 public:
  TensorParallelRunner(const ModelSource& src, const std::vector<int>& devices, int max_step_tokens, bool ep)
      : group_(devices), threads_(int(devices.size())) {
    const int n = int(devices.size());
    for (int r = 0; r < n; ++r) tp_shard(src.config, r, n, ep);  // the split is checked before any upload
    ranks_.resize(size_t(n));
    // Uploads run on the ranks' threads, in parallel.
    threads_.run([&](int r) {
      ranks_[size_t(r)] = make_cuda_runner(
          src, tp_rank_options(devices[size_t(r)], max_step_tokens, tp_shard(src.config, r, n, ep), &group_, r));
    });
    std::string names;
    for (auto& rk : ranks_) names += (names.empty() ? "" : ", ") + rk->device_name();
    name_ = "tensor parallel x" + std::to_string(n) + " [" + names + "]";
    const TpShard s0 = tp_shard(src.config, 0, n, ep);
    log_info(name_ + ": " + std::to_string(s0.q_heads) + " query heads and " +
             (ep ? std::to_string(s0.experts) + " whole experts (expert parallel)"
                 : std::to_string(s0.inter) + " expert columns") + " per GPU");
  }

  const ModelConfig& config() const override { return ranks_[0]->config(); }
  std::string device_name() const override { return name_; }
  std::vector<DeviceMemory> device_memory() const override {
    std::vector<DeviceMemory> all;
    for (auto& r : ranks_)
      for (auto& m : r->device_memory()) all.push_back(m);
    return all;
  }
  size_t full_block_bytes(int bs) const override { return ranks_[0]->full_block_bytes(bs); }
  size_t window_block_bytes(int bs) const override { return ranks_[0]->window_block_bytes(bs); }
  void allocate_kv(const KvCacheConfig& kv) override {
    threads_.run([&](int r) { ranks_[size_t(r)]->allocate_kv(kv); });
  }
  const KvCacheConfig& kv_config() const override { return ranks_[0]->kv_config(); }
  int max_step_tokens() const override { return ranks_[0]->max_step_tokens(); }
  int max_logit_rows() const override { return ranks_[0]->max_logit_rows(); }
  int max_step_seqs() const override { return ranks_[0]->max_step_seqs(); }

  // Every rank computes the logits (the unembedding is replicated); rank 0's are returned.
  void forward(const ForwardBatch& batch, float* logits, const LayerTrace& trace) override {
    scratch_.resize(ranks_.size() - 1);
    threads_.run([&](int r) {
      if (r == 0) return ranks_[0]->forward(batch, logits, trace);
      auto& s = scratch_[size_t(r) - 1];
      s.resize(size_t(batch.logits_rows()) * size_t(config().vocab_size));
      ranks_[size_t(r)]->forward(batch, s.data());
    });
  }
  void forward_sample(const ForwardBatch& batch, float* logits, int32_t* argmax) override {
    scratch_.resize(ranks_.size() - 1);
    ids_.resize(ranks_.size() - 1);
    threads_.run([&](int r) {
      if (r == 0) return ranks_[0]->forward_sample(batch, logits, argmax);
      auto& s = scratch_[size_t(r) - 1];
      s.resize(size_t(batch.logits_rows()) * size_t(config().vocab_size));
      ids_[size_t(r) - 1].resize(size_t(batch.logits_rows()));
      ranks_[size_t(r)]->forward_sample(batch, s.data(), ids_[size_t(r) - 1].data());
    });
  }

 private:
  cuda::NcclGroup group_;
  RankThreads threads_;
  std::vector<std::unique_ptr<ModelRunner>> ranks_;
  std::vector<std::vector<float>> scratch_;
  std::vector<std::vector<int32_t>> ids_;
  std::string name_;
};

}  // namespace

std::unique_ptr<ModelRunner> make_tensor_parallel_runner(const ModelSource& source, const std::vector<int>& devices,
                                                         int max_step_tokens, bool expert_parallel) {
  const int have = cuda_device_count();
  for (int d : devices)
    if (d < 0 || d >= have)
      throw Error("--devices names GPU " + std::to_string(d) + " but this machine has " + std::to_string(have));
  for (int r = 0; r < int(devices.size()); ++r) tp_shard(source.config, r, int(devices.size()), expert_parallel);
  return std::make_unique<TensorParallelRunner>(source, devices, max_step_tokens, expert_parallel);
}

}  // namespace gptoss
