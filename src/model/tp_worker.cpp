#include "model/tp_worker.h"

#include <exception>
#include <vector>

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

constexpr double kLoadTimeoutSeconds = 3600;

// Joined: checks the model, loads the shard, serves the leader's commands.
// The runner is the caller's so that it outlives an error until the group is
// aborted (freeing its memory first would wait on a stuck all-reduce).
void serve_leader(const ModelSource& src, const TpWorkerOptions& o, cuda::NcclGroup& group, cuda::NcclChannel& channel,
                  std::unique_ptr<ModelRunner>& runner, Watchdog& dog) {
  std::vector<uint8_t> bytes;
  channel.broadcast(bytes, 0);
  const TpCommand hello = decode_tp_command(bytes);
  if (hello.kind != TpCommandKind::hello) throw Error("the tensor-parallel leader did not start with its hello: same gptoss build?");
  const std::string mine = tp_model_summary(src.config, src.weights->total_bytes());
  const bool differs = hello.model_summary != mine;
  const int bad = channel.count_failures(differs);
  if (differs)
    throw Error("this tp-worker's model (" + mine + ") differs from the leader's (" + hello.model_summary +
                "): give every process the same --model (and --seed for synthetic models)");
  if (bad) throw Error("another tp-worker holds a different model: see its log");

  dog.arm(kLoadTimeoutSeconds, "the leader or another tp-worker did not finish loading within an hour");
  const CudaRunnerOptions c =
      tp_rank_options(o.device, hello.max_step_tokens, tp_shard(src.config, o.rank, o.size), &group, 0);
  std::exception_ptr err;
  try {
    runner = make_cuda_runner(src, c);
  } catch (...) {
    err = std::current_exception();
  }
  const int failed = channel.count_failures(err != nullptr);
  if (err) std::rethrow_exception(err);
  if (failed) throw Error("the leader or another tp-worker could not load its shard: see its log");
  log_info("tp-worker rank " + std::to_string(o.rank) + " ready on " + runner->device_name() + ": " +
           std::to_string(c.shard.q_heads) + " query heads, " + std::to_string(c.shard.inter) + " expert columns");

  const int V = src.config.vocab_size;
  std::vector<float> logits;  // every rank computes them; only the leader's are used
  std::vector<int32_t> ids;
  for (;;) {
    dog.arm(o.leader_timeout_seconds, "the leader sent nothing for " + std::to_string(int(o.leader_timeout_seconds)) +
                                          " s (it pings every " + std::to_string(int(kTpPingSeconds)) +
                                          " s when idle): it exited or hangs, so this tp-worker stops");
    channel.broadcast(bytes, 0);
    TpCommand cmd = decode_tp_command(bytes);
    switch (cmd.kind) {
      case TpCommandKind::ping:
        break;
      case TpCommandKind::shutdown:
        dog.disarm();
        log_info("tp-worker rank " + std::to_string(o.rank) + ": the leader is done");
        return;
      case TpCommandKind::allocate_kv: {
        std::exception_ptr kv_err;
        try {
          runner->allocate_kv(cmd.kv);
        } catch (...) {
          kv_err = std::current_exception();
        }
        channel.count_failures(kv_err != nullptr);  // the leader learns; a failed worker leaves
        if (kv_err) std::rethrow_exception(kv_err);
        break;
      }
      case TpCommandKind::forward:
      case TpCommandKind::forward_sample: {
        const size_t rows = size_t(cmd.batch.logits_rows());
        logits.resize(rows * size_t(V));
        if (cmd.kind == TpCommandKind::forward) {
          runner->forward(cmd.batch, logits.data());
        } else {
          ids.resize(rows);
          runner->forward_sample(cmd.batch, logits.data(), ids.data());
        }
        break;
      }
      case TpCommandKind::hello:
        throw Error("the tensor-parallel leader said hello twice: same gptoss build?");
    }
  }
}

}  // namespace

void run_tp_worker(const ModelSource& src, const TpWorkerOptions& o) {
  if (o.size < 2) throw Error("tp-worker needs --tp 2 or more");
  if (o.rank < 1 || o.rank >= o.size)
    throw Error("tp-worker --rank must be 1.." + std::to_string(o.size - 1) + " (rank 0 is the leader: gptoss serve|generate|bench)");
  const int have = cuda_device_count();
  if (o.device < 0 || o.device >= have)
    throw Error("tp-worker --device " + std::to_string(o.device) + " does not exist: this machine has " + std::to_string(have) + " GPU(s)");
  tp_shard(src.config, o.rank, o.size);  // the split is checked before joining
  const ncclUniqueId id = cuda::nccl_unique_id_from_hex(wait_for_nccl_id_file(o.id_file, o.join_timeout_seconds));
  log_info("tp-worker rank " + std::to_string(o.rank) + " of " + std::to_string(o.size) + " on cuda:" +
           std::to_string(o.device) + ": joining the group in " + o.id_file);
  Watchdog dog;
  dog.arm(o.join_timeout_seconds, "could not join the tensor-parallel group within " +
                                      std::to_string(int(o.join_timeout_seconds)) + " s: is the leader running with --tp " +
                                      std::to_string(o.size) + "? An id file left by a leader that has exited is stale: " +
                                      "delete it and start the leader again");
  cuda::NcclGroup group(id, o.rank, o.size, o.device);
  cuda::NcclChannel channel(group, 0, o.device);
  std::unique_ptr<ModelRunner> runner;
  try {
    serve_leader(src, o, group, channel, runner, dog);
  } catch (...) {
    dog.disarm();
    group.abort();  // peers may be gone: destroying would wait for them
    throw;
  }
}

}  // namespace gptoss
