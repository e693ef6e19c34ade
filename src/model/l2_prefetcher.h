#pragma once
// Brings weights a later kernel of the step will read into the GPU's L2 cache,
// on a side stream, while the kernels before it leave memory bandwidth idle.
// At batch 1 a layer's rope and attention read a few hundred KiB in several
// microseconds; o_proj's 23.6 MB (20b) can stream in meanwhile, and o_proj
// then reads from L2. Only a hint: it changes no result. Works eagerly and
// inside a captured CUDA graph (the side stream forks from and joins the
// captured one).
#include <cuda_runtime.h>

#include <cstddef>
#include <vector>

namespace gptoss {

class L2Prefetcher {
 public:
  L2Prefetcher();  // on the current device
  ~L2Prefetcher();
  L2Prefetcher(const L2Prefetcher&) = delete;
  L2Prefetcher& operator=(const L2Prefetcher&) = delete;

  // Prefetches [p, p + bytes) once `main`'s work so far has been issued.
  void fetch(cudaStream_t main, const void* p, size_t bytes);
  // `main` waits for every fetch so far (a graph capture must join its streams).
  void join(cudaStream_t main);

 private:
  cudaStream_t side_ = nullptr;
  std::vector<cudaEvent_t> forks_;  // a pool, so that a captured step records each once
  size_t next_ = 0;
  cudaEvent_t done_ = nullptr;
  bool pending_ = false;
};

// GPTOSS_L2_PREFETCH: 0 (default) off; 1 o_proj's weights during attention;
// 2 also the next layer's qkv weights during the routing.
int l2_prefetch_level();

}  // namespace gptoss
