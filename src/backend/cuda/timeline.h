#pragma once
// Where a decode step's time goes inside its CUDA graph, at full speed: in a
// build configured with -DGPTOSS_TIMELINE=ON (scripts/device/timeline.sh),
// block 0 of every kernel launched through launch.cuh records when it became
// resident and when its wait for the previous kernel ended (%globaltimer).
// Kernels wait for each other in launch order, so a kernel's cost on the
// step's critical path is the time from its release to the next kernel's;
// "lead" is how long before its release it was already resident (what PDL
// gave it to prefetch weights in). Nsight Compute times kernels one by one,
// without those overlaps; GPTOSS_PROFILE runs eagerly, without the graph.
// In other builds enabled() is false and nothing is recorded.
#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace gptoss::cuda::timeline {

struct Record {
  uint64_t enter;  // ns: block 0 started
  uint64_t go;     // ns: block 0's wait for the previous kernel ended
};
constexpr unsigned kMaxRecords = 8192;  // records per replay

bool enabled();
// launch.cuh: one more kernel launched (host side, also during capture).
void note_launch();
// Registers a translation unit's device-side record pointers (launch.cuh).
bool add_binder(void (*bind)(Record* slots, unsigned* count));

// Per-op, per-kernel times of replayed graphs, by graph key. The runner
// calls begin_capture/op/end_capture around a graph's capture (op after each
// op, naming it: the kernels launched since the previous op are its), and
// before_replay/after_replay around each replay.
class StepTimeline {
 public:
  void begin_capture(int key, std::string label);
  void op(const char* name);
  void end_capture();
  void before_replay(cudaStream_t s);
  void after_replay(int key, cudaStream_t s);
  // Per graph key: each op's critical-path microseconds per step, then each
  // kernel of the middle layer (stderr).
  void print() const;

 private:
  struct Graph {
    std::string label;
    std::vector<const char*> ops;  // by launch index
    std::vector<double> us, lead_us;
    int replays = 0, mismatched = 0;
  };
  std::map<int, Graph> graphs_;
  Graph* building_ = nullptr;
  size_t launches_at_op_ = 0;
};

}  // namespace gptoss::cuda::timeline
