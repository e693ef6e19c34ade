// libFuzzer target: a GGUF file through the reader (metadata of every type,
// tensor infos, the data section) and, when it says gpt-oss, through the
// mapping to our config and Hugging Face-named weights (dtype conversions,
// MXFP4 re-layout, fused and split experts). Bad files must be refused with
// gptoss::Error: no read out of bounds, no allocation sized by a lying header.
//
// The seeds in fuzz/corpus/fuzz_gguf/ are tiny whole models (under the 8 KiB
// -max_len of scripts/fuzz.sh) and a metadata sampler, written by this binary:
//   GPTOSS_WRITE_GGUF_SEEDS=fuzz/corpus/fuzz_gguf build-fuzz/fuzz/fuzz_gguf
#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "core/error.h"
#include "format/gguf.h"
#include "format/gguf_model.h"
#include "gguf_samples.h"

using namespace gptoss;

namespace {

// One layer, 32 wide, 1 expert, 4 tokens: every tensor a gpt-oss GGUF has,
// in the types llama.cpp writes (and F16/Q8_0 ones when `mixed`).
void write_tiny_model(const std::string& path, bool fused, bool mixed) {
  const int64_t H = 32, I = 32, E = 1, V = 4, heads = 1, head_dim = 4, Q = heads * head_dim;
  using T = GgufType;
  GgufWriter g;
  g.add_kv("general.architecture", T::STRING, "gpt-oss");
  g.add_kv("general.name", T::STRING, fused ? "tiny-fused" : "tiny");
  g.add_kv("general.alignment", T::U32, 8);
  g.add_kv("gpt-oss.block_count", T::U32, 1);
  g.add_kv("gpt-oss.context_length", T::U32, 64);
  g.add_kv("gpt-oss.embedding_length", T::U32, H);
  g.add_kv("gpt-oss.expert_feed_forward_length", T::U32, I);
  g.add_kv("gpt-oss.attention.head_count", T::U32, heads);
  g.add_kv("gpt-oss.attention.head_count_kv", T::U32, heads);
  g.add_kv("gpt-oss.attention.key_length", T::U32, head_dim);
  g.add_kv("gpt-oss.attention.sliding_window", T::U32, 16);
  g.add_kv("gpt-oss.attention.layer_norm_rms_epsilon", T::F32, 1e-5);
  g.add_kv("gpt-oss.rope.freq_base", T::F32, 150000.0);
  if (mixed) {
    g.add_kv("gpt-oss.rope.scaling.type", T::STRING, "yarn");
    g.add_kv("gpt-oss.rope.scaling.factor", T::F32, 32.0);
    g.add_kv("gpt-oss.rope.scaling.original_context_length", T::U32, 16);
  }
  g.add_kv("gpt-oss.expert_count", T::U32, E);
  g.add_kv("gpt-oss.expert_used_count", T::U32, 1);
  g.add_kv("tokenizer.ggml.eos_token_id", T::U32, 3);

  std::vector<uint8_t> bytes(4096);
  for (size_t i = 0; i < bytes.size(); ++i) bytes[i] = uint8_t(i * 37 + 11);
  std::vector<float> ones(4096, 1.0f);
  auto bf16 = [&](const std::string& n, std::vector<int64_t> dims) { g.add_tensor(n, GgmlType::BF16, dims, bytes.data()); };
  auto f32 = [&](const std::string& n, std::vector<int64_t> dims) { g.add_tensor(n, GgmlType::F32, dims, ones.data()); };
  bf16("token_embd.weight", {H, V});
  f32("output_norm.weight", {H});
  if (mixed) g.add_tensor("output.weight", GgmlType::Q8_0, {H, V}, bytes.data());  // else tied to token_embd
  f32("blk.0.attn_norm.weight", {H});
  f32("blk.0.post_attention_norm.weight", {H});
  if (mixed) g.add_tensor("blk.0.attn_q.weight", GgmlType::F16, {H, Q}, bytes.data());
  else bf16("blk.0.attn_q.weight", {H, Q});
  bf16("blk.0.attn_k.weight", {H, Q});
  bf16("blk.0.attn_v.weight", {H, Q});
  bf16("blk.0.attn_output.weight", {Q, H});
  for (const char* b : {"blk.0.attn_q.bias", "blk.0.attn_k.bias", "blk.0.attn_v.bias"}) f32(b, {Q});
  f32("blk.0.attn_output.bias", {H});
  f32("blk.0.attn_sinks.weight", {heads});
  bf16("blk.0.ffn_gate_inp.weight", {H, E});
  f32("blk.0.ffn_gate_inp.bias", {E});
  if (fused) {
    g.add_tensor("blk.0.ffn_gate_up_exps.weight", GgmlType::MXFP4, {H, 2 * I, E}, bytes.data());
    f32("blk.0.ffn_gate_up_exps.bias", {2 * I, E});
  } else {
    g.add_tensor("blk.0.ffn_gate_exps.weight", GgmlType::MXFP4, {H, I, E}, bytes.data());
    g.add_tensor("blk.0.ffn_up_exps.weight", GgmlType::MXFP4, {H, I, E}, bytes.data());
    f32("blk.0.ffn_gate_exps.bias", {I, E});
    f32("blk.0.ffn_up_exps.bias", {I, E});
  }
  g.add_tensor("blk.0.ffn_down_exps.weight", GgmlType::MXFP4, {I, H, E}, bytes.data());
  f32("blk.0.ffn_down_exps.bias", {H, E});
  g.write(path, 8);
}

// Every metadata type, nested arrays, a 64-byte alignment and one tensor.
void write_metadata_sampler(const std::string& path) {
  using T = GgufType;
  GgufWriter w;
  w.add_kv("general.alignment", T::U32, 64);
  test::add_metadata_of_every_type(w);
  w.add_kv("nested", T::ARRAY, {{1, 2}, {3}}, T::ARRAY);
  const float data[32] = {1, 2, 3};
  w.add_tensor("t", GgmlType::F32, {8, 4}, data);
  w.write(path, 64);
}

void write_seeds(const std::string& dir) {
  write_tiny_model(dir + "/tiny_split.gguf", false, false);
  write_tiny_model(dir + "/tiny_fused_mixed.gguf", true, true);
  write_metadata_sampler(dir + "/metadata.gguf");
  for (const char* m : {"/tiny_split.gguf", "/tiny_fused_mixed.gguf"}) open_gguf(dir + m);  // seeds that load
  std::printf("wrote GGUF seeds to %s\n", dir.c_str());
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  if (const char* dir = std::getenv("GPTOSS_WRITE_GGUF_SEEDS")) {
    write_seeds(dir);
    std::exit(0);
  }
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // The reader maps a file by path: an in-memory file keeps the disk out of it.
  static const int fd = memfd_create("fuzz.gguf", 0);
  if (fd < 0 || ftruncate(fd, 0) != 0 || pwrite(fd, data, size, 0) != ssize_t(size)) return 0;
  const std::string path = "/proc/self/fd/" + std::to_string(fd);
  try {
    auto f = GgufFile::open(path);
    for (const GgufTensor& t : f->tensors()) (void)f->find(t.name);
    if (f->find_kv("general.architecture")) {
      // The model's own sizes are bounded by the file's (each tensor is
      // checked against them first), so loading it whole stays cheap.
      ModelSource src = open_gguf(path);
      (void)src;
    }
  } catch (const Error&) {
  }
  return 0;
}
