#pragma once
// Tensor parallelism with one process per GPU, on one node or several: this
// process is the leader, rank 0. It makes NCCL's unique id, writes it to a
// file the workers read (`gptoss tp-worker`, model/tp_worker.h), holds rank
// 0's shard and, before each runner call, broadcasts the call through NCCL
// (model/tp_command.h) so that every rank makes the same call on its shard.
// The engine, scheduler, tokenizer and API stay here, single.
#include <memory>
#include <string>

#include "format/model_source.h"
#include "model/model_runner.h"

namespace gptoss {

struct RemoteTpOptions {
  int device = 0;               // rank 0's GPU
  int size = 2;                 // ranks in the group, this one included
  int max_step_tokens = 2048;   // sent to the workers: they size their buffers alike
  std::string id_file;          // where the NCCL id goes for the workers
  double join_timeout_seconds = 600;
};

// Blocks until every worker has joined and loaded its shard; throws Error
// when a worker refuses (different model) or fails to load.
std::unique_ptr<ModelRunner> make_remote_tensor_parallel_runner(const ModelSource& source, const RemoteTpOptions& options);

}  // namespace gptoss
