// gptoss tp-worker: one rank (1..N-1) of a tensor-parallel group whose leader
// (rank 0) is `gptoss serve|generate|bench|chat ... --tp N --nccl-id-file F`,
// on this node or another. It loads only its shard and runs the leader's steps;
// the step size and every request come from the leader.
#include "cli/commands.h"
#include "cli/model_loading.h"
#include "core/error.h"
#ifdef GPTOSS_WITH_NCCL
#include "model/cuda_runner.h"
#include "model/tp_worker.h"
#endif

namespace gptoss::cli {

namespace {
struct TpWorkerFlags {
  ModelFlags model;
  int tp = 2, rank = 1, device = -1;
  std::string id_file;
  double join_timeout = 600, leader_timeout = 120;
};
}  // namespace

void add_tp_worker_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("tp-worker", "serve one tensor-parallel rank for a leader started with --nccl-id-file");
  auto f = std::make_shared<TpWorkerFlags>();
  cmd->add_option("-m,--model", f->model.model, "the leader's model (same checkpoint, or synthetic:NAME with the same --seed)")
      ->required();
  cmd->add_option("--seed", f->model.seed, "seed for synthetic weights (the leader's)")->capture_default_str();
  cmd->add_option("--tensor-parallel-size,--tp", f->tp, "ranks in the group, the leader's --tp")
      ->required()
      ->check(CLI::Range(2, 64));
  cmd->add_option("--rank", f->rank, "this process's rank, 1..N-1 (the leader is 0)")->required();
  cmd->add_option("--device", f->device, "GPU index on this node (default: the rank, modulo the GPUs here)");
  cmd->add_option("--nccl-id-file", f->id_file, "the file the leader writes NCCL's id to (copied here on other nodes)")
      ->required();
  cmd->add_option("--join-timeout", f->join_timeout, "seconds to wait for the id file and for the group to form")
      ->capture_default_str();
  cmd->add_option("--leader-timeout", f->leader_timeout,
                  "seconds of silence from the leader after which this worker exits (it pings every 10 s)")
      ->capture_default_str();
  cmd->callback([f] {
#ifdef GPTOSS_WITH_NCCL
    TpWorkerOptions o;
    o.rank = f->rank;
    o.size = f->tp;
    o.id_file = f->id_file;
    o.join_timeout_seconds = f->join_timeout;
    o.leader_timeout_seconds = f->leader_timeout;
    o.device = f->device;
    if (o.device < 0) {
      const int have = cuda_device_count();
      if (have == 0) throw gptoss::Error("tp-worker needs a GPU and finds none (check nvidia-smi)");
      o.device = f->rank % have;
    }
    ModelSource src = load_model(f->model);
    run_tp_worker(src, o);
#else
    (void)f;
    throw gptoss::Error("this gptoss was built without NCCL: tp-worker needs it (libnccl-dev, or the CUDA toolkit's copy)");
#endif
  });
}

}  // namespace gptoss::cli
