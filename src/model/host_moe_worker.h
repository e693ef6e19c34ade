#pragma once
// The CPU side of hybrid decode: a thread that answers the GPU's requests to
// compute a layer's host-memory experts (backend/cuda/host_handoff.cu posts
// them to a mailbox in mapped host memory and polls for the answer, inside the
// step's CUDA graph). While a step is in flight the thread spins on the
// mailbox, so a request is picked up within a microsecond; between steps it
// sleeps.
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "backend/cpu/moe_cpu.h"
#include "backend/cuda/cuda_kernels.h"
#include "core/thread_pool.h"

namespace gptoss {

class HostMoeWorker {
 public:
  // experts[l]: layer l's experts in host memory (layers past the end are
  // not hosted); requests hold up to max_tokens tokens of k slots each.
  HostMoeWorker(std::vector<cpu::MoeExperts> experts, int max_tokens, int hidden, int k, int cpu_threads);
  ~HostMoeWorker();
  HostMoeWorker(const HostMoeWorker&) = delete;
  HostMoeWorker& operator=(const HostMoeWorker&) = delete;

  // Device-visible addresses of the mailbox and its buffers, for the kernels.
  cuda::HostMailbox* mailbox() const { return mailbox_dev_; }
  float* in() const { return in_dev_; }
  int32_t* ids() const { return ids_dev_; }
  float* weights() const { return w_dev_; }
  float* out() const { return out_dev_; }
  int threads() const { return pool_.size(); }

  // A step that will post `requests` requests is about to be launched.
  void expect(int requests);
  // After the step's stream is synchronised: throws the error of a request
  // that failed, or that the GPU stopped waiting for.
  void check();

 private:
  void loop();
  std::vector<cpu::MoeExperts> experts_;
  ThreadPool pool_;
  void* host_ = nullptr;  // one mapped allocation: mailbox, in, ids, weights, out
  cuda::HostMailbox* mailbox_ = nullptr;
  float *in_ = nullptr, *w_ = nullptr, *out_ = nullptr;
  int32_t* ids_ = nullptr;
  cuda::HostMailbox* mailbox_dev_ = nullptr;
  float *in_dev_ = nullptr, *w_dev_ = nullptr, *out_dev_ = nullptr;
  int32_t* ids_dev_ = nullptr;
  std::mutex mu_;
  std::condition_variable cv_;
  long long expected_ = 0, served_ = 0;
  bool stop_ = false;
  std::string error_;
  std::thread thread_;
};

}  // namespace gptoss
