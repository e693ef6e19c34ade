#pragma once
// What the leader of a multi-process tensor-parallel group tells its workers
// before each call, as bytes: every rank must make the same CudaRunner calls
// with the same batch in the same order, or the all-reduces inside the
// forward pass pair up wrongly and NCCL hangs. The bytes travel through NCCL
// itself (the only link between nodes), so this file knows nothing of CUDA.
//
// Layout: little-endian, fixed-width. A kind byte, then per kind:
//   hello:        i32 max_step_tokens, u32 length + bytes of the model summary
//   allocate_kv:  i32 block_size, num_full_blocks, num_window_blocks
//   forward(_greedy): u32 n_tokens, i32 tokens[n]; u32 n_seqs; per sequence
//                 i32 pos0, n_tokens, u8 flags (1 all_logits, 2 want_logits),
//                 u32 n + i32 full_blocks[n], u32 m + i32 window_blocks[m]
//   ping, shutdown: nothing
// decode_tp_command throws Error on anything truncated, oversized or
// inconsistent: a worker must refuse a garbled step, not run it.
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "format/model_config.h"
#include "model/forward_batch.h"

namespace gptoss {

enum class TpCommandKind : uint8_t {
  hello = 1,           // once, after joining: the leader's settings
  allocate_kv = 2,
  forward = 3,
  forward_sample = 4,
  ping = 5,            // keeps idle workers' leader watchdogs quiet
  shutdown = 6,
};

// A decoded command. batch.seqs' block-table spans point into `blocks`, so a
// command moves but never copies.
struct TpCommand {
  TpCommandKind kind = TpCommandKind::ping;
  int max_step_tokens = 0;     // hello
  std::string model_summary;   // hello
  KvCacheConfig kv;            // allocate_kv
  ForwardBatch batch;          // forward, forward_sample
  std::vector<int32_t> blocks;

  TpCommand() = default;
  TpCommand(TpCommand&&) = default;
  TpCommand& operator=(TpCommand&&) = default;
  TpCommand(const TpCommand&) = delete;
  TpCommand& operator=(const TpCommand&) = delete;
};

std::vector<uint8_t> encode_tp_hello(int max_step_tokens, const std::string& model_summary);
std::vector<uint8_t> encode_tp_allocate_kv(const KvCacheConfig& kv);
std::vector<uint8_t> encode_tp_forward(const ForwardBatch& batch, bool sample);
std::vector<uint8_t> encode_tp_simple(TpCommandKind kind);  // ping, shutdown
TpCommand decode_tp_command(std::span<const uint8_t> bytes);

// What two processes must agree on to hold shards of the same model: the
// shape of the config and the bytes of the weights.
std::string tp_model_summary(const ModelConfig& config, uint64_t weight_bytes);

}  // namespace gptoss

namespace gptoss {
// An idle leader pings this often, so a worker that hears nothing for much
// longer (tp-worker --leader-timeout) knows the leader is gone.
constexpr double kTpPingSeconds = 10;
}  // namespace gptoss
