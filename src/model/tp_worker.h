#pragma once
// One rank (1..N-1) of a multi-process tensor-parallel group: `gptoss
// tp-worker`. It joins the group whose NCCL id the leader wrote to a file,
// loads only its shard, and then makes, on its shard, exactly the runner calls
// the leader broadcasts (model/tp_command.h) until told to stop.
#include <string>

#include "format/model_source.h"

namespace gptoss {

struct TpWorkerOptions {
  int rank = 1, size = 2;
  int device = 0;
  std::string id_file;
  double join_timeout_seconds = 600;    // for the id file, then for the group to form
  double leader_timeout_seconds = 120;  // silence (the leader pings when idle) that means it is gone
};

// Returns when the leader says stop; throws Error when the leader's model
// differs, a rank fails, or the leader disappears.
void run_tp_worker(const ModelSource& source, const TpWorkerOptions& options);

}  // namespace gptoss
