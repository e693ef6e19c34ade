#pragma once
// What a step tells the GPU besides the weights: token ids (or, for tokens
// the previous step chose, that step's row: ForwardBatch::feed), positions,
// each token's sequence, the rows that get logits and how each row's token
// is chosen, and every sequence's block tables.
//
// The small arrays go in one packed copy per step, laid out by the step's
// shape (tokens, rows, sequences), so a decode step of a given size finds its
// arrays at the same device addresses every time (its CUDA graph captured
// them). The block tables are copied only when a row the step reads changed.
// Host staging is double-buffered: the host fills step n + 1's while step n's
// copies may still be queued behind step n - 1 on the stream.
#include <cuda_runtime.h>

#include <cstdint>
#include <span>
#include <vector>

#include "core/gumbel.h"
#include "model/forward_batch.h"

namespace gptoss {

struct StepShape {
  int tokens = 0, rows = 0, seqs = 0;
};

// Device addresses a step's kernels read.
struct DeviceStepInputs {
  int32_t *tokens, *feed, *pos, *seq, *rows, *window_len;
  RowChoice* choice;
  int32_t *full, *window;  // [seq][full_pitch], [seq][window_pitch] block ids
};

// A staged step, as the runner needs it to pick kernels.
struct StagedStep {
  StepShape shape;
  bool all_single = true;  // one token per sequence (a decode step)
  int max_keys = 0;        // the most keys (position + 1) of any token
};

class CudaStepInputs {
 public:
  CudaStepInputs(int max_tokens, int max_rows, int max_seqs);
  ~CudaStepInputs();
  CudaStepInputs(const CudaStepInputs&) = delete;
  CudaStepInputs& operator=(const CudaStepInputs&) = delete;

  // (Re)sizes the block tables to rows of at most this many blocks; their
  // device contents are unknown until the next upload.
  void allocate_tables(int full_pitch, int window_pitch);
  int full_pitch() const { return full_pitch_; }
  int window_pitch() const { return window_pitch_; }

  // Checks the batch and fills host staging slot `slot` (0 or 1), whose
  // previous copies must have run. previous_rows: how many tokens the step
  // before chose (-1: none), which feed entries must stay under.
  // full_blocks: whether the model has full-attention layers. Throws Error
  // on a batch the kernels cannot run.
  StagedStep stage(int slot, const ForwardBatch& batch, int vocab, int block_size, bool full_blocks,
                   int previous_rows);
  // Queues a staged slot's copies on the stream (the tables' only when a
  // row the step reads differs from what the device will hold by then).
  void upload(int slot, cudaStream_t stream);
  DeviceStepInputs device(const StepShape& shape) const;

 private:
  struct Layout {
    size_t tokens, feed, pos, seq, rows, window_len, choice, bytes;
  };
  static Layout layout(const StepShape& s);
  struct HostSlot {
    uint8_t* packed = nullptr;
    int32_t *full = nullptr, *window = nullptr;
    StepShape shape;
    bool tables_changed = false;
    int used_full = 1, used_window = 1;
    std::vector<int> full_n, window_n;  // blocks staged per sequence
  };
  // What the device's table rows hold once queued copies have run: the
  // first known[s] entries of row s.
  struct TableShadow {
    std::vector<int32_t> ids;
    std::vector<int> known;
    int pitch = 0;
    bool holds(int s, std::span<const int32_t> blocks) const;
    void record(int s, std::span<const int32_t> blocks);
  };

  int max_tokens_, max_rows_, max_seqs_;
  int full_pitch_ = 0, window_pitch_ = 0;
  uint8_t* device_packed_ = nullptr;
  int32_t *device_full_ = nullptr, *device_window_ = nullptr;
  HostSlot host_[2];
  TableShadow full_shadow_, window_shadow_;
};

}  // namespace gptoss
