// GGUF: the reader on files the writer builds, a tiny gpt-oss GGUF made from
// the fixture checkpoint with llama.cpp's names and MXFP4 layout (split and fused
// gate/up) giving the fixture's tensors and logits, and malformed files giving
// errors that name the file and tensor.
#include <gtest/gtest.h>

#include "gguf_samples.h"
#include "test_paths.h"

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>

#include "core/bf16.h"
#include "core/error.h"
#include "core/mxfp4.h"
#include "format/gguf.h"
#include "format/gguf_model.h"
#include "format/model_source.h"
#include "format/safetensors.h"
#include "model/cpu_runner.h"
#include "runtime/solo_session.h"

using namespace gptoss;
namespace fs = std::filesystem;

namespace {

const std::string kFixture = test::fixtures_dir() + "/tiny-gptoss";

std::string temp_path(const std::string& file) {
  auto d = fs::temp_directory_path() / ("gptoss_gguf_" + std::to_string(::getpid()));
  fs::create_directories(d);
  return (d / file).string();
}

std::vector<uint8_t> read_all(const std::string& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}
void write_all(const std::string& p, const std::vector<uint8_t>& b) {
  std::ofstream out(p, std::ios::binary);
  out.write(reinterpret_cast<const char*>(b.data()), std::streamsize(b.size()));
}

std::string error_of(const std::string& path) {
  try {
    GgufFile::open(path);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

// The fixture as llama.cpp's convert_hf_to_gguf.py would write it: norms, sinks
// and biases F32, the other dense tensors BF16, experts MXFP4 with gate and up
// de-interleaved (separate tensors, or one fused tensor of gate rows then up rows).
void write_fixture_gguf(const ModelSource& src, const std::string& path, bool fused) {
  const ModelConfig& c = src.config;
  const WeightStore& w = *src.weights;
  const int64_t H = c.hidden_size, I = c.intermediate_size, E = c.num_experts;
  GgufWriter g;
  using T = GgufType;
  g.add_kv("general.architecture", T::STRING, "gpt-oss");
  g.add_kv("general.name", T::STRING, "tiny-gptoss");
  g.add_kv("general.alignment", T::U32, 64);
  g.add_kv("gpt-oss.block_count", T::U32, c.num_layers);
  g.add_kv("gpt-oss.context_length", T::U32, c.max_position_embeddings);
  g.add_kv("gpt-oss.embedding_length", T::U32, c.hidden_size);
  g.add_kv("gpt-oss.feed_forward_length", T::U32, c.intermediate_size);
  g.add_kv("gpt-oss.expert_feed_forward_length", T::U32, c.intermediate_size);
  g.add_kv("gpt-oss.attention.head_count", T::U32, c.num_heads);
  g.add_kv("gpt-oss.attention.head_count_kv", T::U32, c.num_kv_heads);
  g.add_kv("gpt-oss.attention.key_length", T::U32, c.head_dim);
  g.add_kv("gpt-oss.attention.value_length", T::U32, c.head_dim);
  g.add_kv("gpt-oss.attention.sliding_window", T::U32, c.sliding_window);
  g.add_kv("gpt-oss.attention.layer_norm_rms_epsilon", T::F32, c.rms_norm_eps);
  g.add_kv("gpt-oss.rope.freq_base", T::F32, c.rope_theta);
  g.add_kv("gpt-oss.rope.scaling.type", T::STRING, "yarn");
  g.add_kv("gpt-oss.rope.scaling.factor", T::F32, c.rope.factor);
  g.add_kv("gpt-oss.rope.scaling.original_context_length", T::U32, c.rope.original_max_position);
  g.add_kv("gpt-oss.expert_count", T::U32, c.num_experts);
  g.add_kv("gpt-oss.expert_used_count", T::U32, c.experts_per_token);
  g.add_kv("tokenizer.ggml.model", T::STRING, "gpt2");
  g.add_kv("tokenizer.ggml.pre", T::STRING, "gpt-4o");
  g.add_kv("tokenizer.ggml.tokens", T::ARRAY, {"a", "b", "ab"}, T::STRING);
  g.add_kv("tokenizer.ggml.token_type", T::ARRAY, {1, 1, 1}, T::I32);
  g.add_kv("tokenizer.ggml.merges", T::ARRAY, {"a b"}, T::STRING);
  g.add_kv("tokenizer.ggml.eos_token_id", T::U32, c.eos_token_ids.empty() ? 0 : c.eos_token_ids[0]);

  auto rev = [](std::vector<int64_t> s) { return std::vector<int64_t>(s.rbegin(), s.rend()); };
  auto as_bf16 = [&](const std::string& hf, const std::string& gg) {
    const TensorInfo* t = w.find(hf);
    g.add_tensor(gg, GgmlType::BF16, rev(t->shape), t->data);
  };
  auto as_f32 = [&](const std::string& hf, const std::string& gg) {
    const TensorInfo* t = w.find(hf);
    std::vector<float> v(size_t(t->numel()));
    for (size_t i = 0; i < v.size(); ++i) v[i] = bf16_to_f32(reinterpret_cast<const uint16_t*>(t->data)[i]);
    g.add_tensor(gg, GgmlType::F32, rev(t->shape), v.data());
  };
  as_bf16("model.embed_tokens.weight", "token_embd.weight");
  as_f32("model.norm.weight", "output_norm.weight");
  as_bf16("lm_head.weight", "output.weight");
  for (int l = 0; l < c.num_layers; ++l) {
    const std::string p = "model.layers." + std::to_string(l) + ".", b = "blk." + std::to_string(l) + ".";
    as_f32(p + "input_layernorm.weight", b + "attn_norm.weight");
    as_f32(p + "post_attention_layernorm.weight", b + "post_attention_norm.weight");
    for (auto [hf, gg] : {std::pair{"q_proj", "attn_q"}, {"k_proj", "attn_k"}, {"v_proj", "attn_v"}, {"o_proj", "attn_output"}}) {
      as_bf16(p + "self_attn." + hf + ".weight", b + gg + ".weight");
      as_f32(p + "self_attn." + hf + ".bias", b + gg + ".bias");
    }
    as_f32(p + "self_attn.sinks", b + "attn_sinks.weight");
    as_bf16(p + "mlp.router.weight", b + "ffn_gate_inp.weight");
    as_f32(p + "mlp.router.bias", b + "ffn_gate_inp.bias");

    const uint8_t* gub = w.find(p + "mlp.experts.gate_up_proj_blocks")->data;
    const uint8_t* gus = w.find(p + "mlp.experts.gate_up_proj_scales")->data;
    const auto* gubias = reinterpret_cast<const uint16_t*>(w.find(p + "mlp.experts.gate_up_proj_bias")->data);
    const int64_t hb = H / 32, ib = I / 32;
    // Rows of expert e: gate row i is HF row 2i, up row i is 2i + 1.
    auto rows = [&](int parity, std::vector<uint8_t>& out, std::vector<float>& bias, size_t row_base, size_t stride) {
      for (int64_t e = 0; e < E; ++e)
        for (int64_t i = 0; i < I; ++i) {
          const int64_t src = e * 2 * I + 2 * i + parity;
          const size_t dst = size_t(e) * stride + row_base + size_t(i);
          for (int64_t k = 0; k < hb; ++k)
            mxfp4_block_to_ggml(gub + size_t((src * hb + k) * 16), gus[size_t(src * hb + k)],
                                out.data() + (dst * size_t(hb) + size_t(k)) * 17);
          bias[dst] = bf16_to_f32(gubias[src]);
        }
    };
    if (fused) {
      std::vector<uint8_t> gu(size_t(E * 2 * I * hb * 17));
      std::vector<float> bias(size_t(E * 2 * I));
      rows(0, gu, bias, 0, size_t(2 * I));
      rows(1, gu, bias, size_t(I), size_t(2 * I));
      g.add_tensor(b + "ffn_gate_up_exps.weight", GgmlType::MXFP4, {H, 2 * I, E}, gu.data());
      g.add_tensor(b + "ffn_gate_up_exps.bias", GgmlType::F32, {2 * I, E}, bias.data());
    } else {
      std::vector<uint8_t> gate(size_t(E * I * hb * 17)), up(gate.size());
      std::vector<float> gate_bias(size_t(E * I)), up_bias(size_t(E * I));
      rows(0, gate, gate_bias, 0, size_t(I));
      rows(1, up, up_bias, 0, size_t(I));
      g.add_tensor(b + "ffn_gate_exps.weight", GgmlType::MXFP4, {H, I, E}, gate.data());
      g.add_tensor(b + "ffn_up_exps.weight", GgmlType::MXFP4, {H, I, E}, up.data());
      g.add_tensor(b + "ffn_gate_exps.bias", GgmlType::F32, {I, E}, gate_bias.data());
      g.add_tensor(b + "ffn_up_exps.bias", GgmlType::F32, {I, E}, up_bias.data());
    }
    const uint8_t* db = w.find(p + "mlp.experts.down_proj_blocks")->data;
    const uint8_t* ds = w.find(p + "mlp.experts.down_proj_scales")->data;
    std::vector<uint8_t> down(size_t(E * H * ib * 17));
    for (int64_t r = 0; r < E * H * ib; ++r) mxfp4_block_to_ggml(db + r * 16, ds[r], down.data() + r * 17);
    g.add_tensor(b + "ffn_down_exps.weight", GgmlType::MXFP4, {I, H, E}, down.data());
    as_f32(p + "mlp.experts.down_proj_bias", b + "ffn_down_exps.bias");
  }
  g.write(path, 64);
}

float max_abs_diff(const float* a, const float* b, size_t n) {
  float m = 0;
  for (size_t i = 0; i < n; ++i) m = std::max(m, std::fabs(a[i] - b[i]));
  return m;
}

class GgufModelTest : public ::testing::TestWithParam<bool> {};

TEST_P(GgufModelTest, FixtureAsGgufHasTheSameTensorsAndLogits) {
  const bool fused = GetParam();
  ModelSource ref = open_model(kFixture);
  const std::string path = temp_path(fused ? "tiny-fused.gguf" : "tiny.gguf");
  write_fixture_gguf(ref, path, fused);

  // Config only (what `gptoss plan` reads) and the full model agree with config.json.
  std::string name;
  ModelConfig cfg = read_model_config(path, &name);
  EXPECT_EQ(cfg.to_json(), ref.config.to_json());
  ModelSource g = open_model(path);
  EXPECT_EQ(g.name, "tiny-gptoss");
  EXPECT_EQ(g.config.to_json(), ref.config.to_json());

  // Every tensor, byte for byte: the MXFP4 nibble order, the gate/up interleave
  // and the bf16 conversions are all exact.
  ASSERT_EQ(g.weights->tensors().size(), ref.weights->tensors().size());
  for (auto& [n, t] : ref.weights->tensors()) {
    const TensorInfo* u = g.weights->find(n);
    ASSERT_NE(u, nullptr) << n;
    EXPECT_EQ(u->dtype, t.dtype) << n;
    EXPECT_EQ(u->shape, t.shape) << n;
    ASSERT_EQ(u->nbytes, t.nbytes) << n;
    EXPECT_EQ(std::memcmp(u->data, t.data, t.nbytes), 0) << n << " differs";
  }

  // Logits through the CPU runner: the golden ones, like tests/model/golden_test.cpp.
  auto golden = SafetensorsFile::open(kFixture + "/golden.safetensors");
  const auto* ids_t = golden->find("input_ids");
  std::vector<int32_t> ids(reinterpret_cast<const int32_t*>(ids_t->data),
                           reinterpret_cast<const int32_t*>(ids_t->data) + ids_t->numel());
  ids.resize(64);
  CpuRunner runner(g, ThreadPool::global());
  SoloSession s(runner, 256);
  std::vector<float> logits = s.feed(ids, true);
  CpuRunner ref_runner(ref, ThreadPool::global());
  SoloSession rs(ref_runner, 256);
  std::vector<float> ref_logits = rs.feed(ids, true);
  ASSERT_EQ(logits.size(), ref_logits.size());
  EXPECT_LE(max_abs_diff(logits.data(), ref_logits.data(), logits.size()), 1e-5f);
  const float* gl = reinterpret_cast<const float*>(golden->find("logits")->data);
  EXPECT_LT(max_abs_diff(logits.data(), gl, logits.size()), 1e-3f);
}

INSTANTIATE_TEST_SUITE_P(SplitAndFused, GgufModelTest, ::testing::Values(false, true));

TEST(Gguf, MetadataOfEveryTypeRoundTrips) {
  GgufWriter w;
  using T = GgufType;
  test::add_metadata_of_every_type(w);
  const float data[32] = {1, 2, 3};
  w.add_tensor("t", GgmlType::F32, {8, 4}, data);
  const std::string p = temp_path("kv.gguf");
  w.write(p);
  auto f = GgufFile::open(p);
  EXPECT_EQ(f->version(), 3u);
  EXPECT_EQ(f->alignment(), 32u);
  EXPECT_EQ(f->find_kv("u8")->value, 200);
  EXPECT_EQ(f->find_kv("i8")->value, -100);
  EXPECT_EQ(f->find_kv("u16")->value, 60000);
  EXPECT_EQ(f->find_kv("i16")->value, -30000);
  EXPECT_EQ(f->find_kv("u32")->value, 4000000000u);
  EXPECT_EQ(f->find_kv("i32")->value, -2000000000);
  EXPECT_EQ(f->find_kv("f32")->value.get<double>(), 1.5);
  EXPECT_EQ(f->find_kv("bool")->value, true);
  EXPECT_EQ(f->find_kv("string")->value, "h\xc3\xa9llo");
  EXPECT_EQ(f->find_kv("u64")->value.get<uint64_t>(), 1ull << 60);
  EXPECT_EQ(f->find_kv("i64")->value.get<int64_t>(), -(1ll << 60));
  EXPECT_EQ(f->find_kv("f64")->value.get<double>(), 0.1);
  EXPECT_EQ(f->find_kv("strings")->value, nlohmann::json({"x", "", "yz"}));
  EXPECT_EQ(f->find_kv("strings")->array_type, T::STRING);
  EXPECT_EQ(f->find_kv("floats")->value, nlohmann::json({1.0, -2.5}));
  EXPECT_TRUE(f->find_kv("empty")->value.empty());
  const GgufTensor* t = f->find("t");
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t->dims, (std::vector<int64_t>{8, 4}));
  EXPECT_EQ(t->nbytes, 128u);
  EXPECT_EQ(reinterpret_cast<const float*>(t->data)[2], 3.0f);
  EXPECT_EQ(t->offset, 0u);
}

TEST(Gguf, DenseConversionsToBf16) {
  // F16: 1.0 = 0x3c00, -2.0 = 0xc000, 65504 = 0x7bff, smallest subnormal 2^-24 = 0x0001.
  const uint16_t f16[4] = {0x3c00, 0xc000, 0x7bff, 0x0001};
  uint16_t out[32];
  ggml_to_bf16(GgmlType::F16, reinterpret_cast<const uint8_t*>(f16), 4, out, "f16");
  EXPECT_EQ(bf16_to_f32(out[0]), 1.0f);
  EXPECT_EQ(bf16_to_f32(out[1]), -2.0f);
  EXPECT_EQ(bf16_to_f32(out[2]), 65536.0f);  // 65504 rounds to the nearest bf16
  EXPECT_EQ(bf16_to_f32(out[3]), std::ldexp(1.0f, -24));
  // Q8_0: scale 0.5 (f16 0x3800), q = -16..15 -> -8..7.5.
  uint8_t q8[34];
  const uint16_t d = 0x3800;
  std::memcpy(q8, &d, 2);
  for (int i = 0; i < 32; ++i) q8[2 + i] = uint8_t(int8_t(i - 16));
  ggml_to_bf16(GgmlType::Q8_0, q8, 32, out, "q8");
  for (int i = 0; i < 32; ++i) EXPECT_EQ(bf16_to_f32(out[i]), 0.5f * float(i - 16)) << i;
  const float f32[2] = {3.140625f, -1e-3f};
  ggml_to_bf16(GgmlType::F32, reinterpret_cast<const uint8_t*>(f32), 2, out, "f32");
  EXPECT_EQ(bf16_to_f32(out[0]), 3.140625f);
  EXPECT_EQ(out[1], f32_to_bf16(-1e-3f));
  try {
    ggml_to_bf16(GgmlType::Q4_K, q8, 256, out, "model.gguf: tensor 'x'");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("'x' is Q4_K"), std::string::npos) << e.what();
  }
}

TEST(Gguf, Mxfp4BlockOrder) {
  // ggml: value k in the low nibble of byte 1 + k, value k + 16 in its high nibble.
  uint8_t g[17];
  g[0] = 128;  // scale 2
  for (int k = 0; k < 16; ++k) g[1 + k] = uint8_t((k % 8) | (((k + 3) % 8) << 4));
  uint8_t blocks[16], scale;
  mxfp4_block_from_ggml(g, blocks, &scale);
  EXPECT_EQ(scale, 128);
  float v[32];
  dequant_mxfp4_block(blocks, scale, v);
  for (int k = 0; k < 16; ++k) {
    EXPECT_EQ(v[k], 2 * kFp4E2M1Values[k % 8]) << k;
    EXPECT_EQ(v[k + 16], 2 * kFp4E2M1Values[(k + 3) % 8]) << k + 16;
  }
  uint8_t back[17];
  mxfp4_block_to_ggml(blocks, scale, back);
  EXPECT_EQ(std::memcmp(g, back, 17), 0);
}

// A one-tensor file whose byte positions are known: header 0..23, tensor info at
// 24 (name length 8 bytes, "t" at 32, n_dims at 33, dim at 37, type at 45,
// offset at 49), data at 64 (16 bytes).
std::string small_file(const std::string& name) {
  GgufWriter w;
  const float data[4] = {1, 2, 3, 4};
  w.add_tensor("t", GgmlType::F32, {4}, data);
  const std::string p = temp_path(name);
  w.write(p);
  return p;
}

template <typename V>
std::string patched(const std::string& name, size_t at, V value) {
  const std::string p = small_file(name);
  auto b = read_all(p);
  std::memcpy(b.data() + at, &value, sizeof(V));
  write_all(p, b);
  return p;
}

TEST(Gguf, MalformedFilesAreErrorsNamingTheProblem) {
  const std::string good = small_file("good.gguf");
  ASSERT_EQ(read_all(good).size(), 80u);
  ASSERT_EQ(error_of(good), "");
  auto expect = [](const std::string& path, const std::string& words) {
    const std::string e = error_of(path);
    EXPECT_NE(e.find(words), std::string::npos) << "got: " << e;
    EXPECT_NE(e.find(path), std::string::npos) << "error does not name the file: " << e;
  };
  expect(patched("magic.gguf", 0, uint32_t(0x46554746)), "not a GGUF file");
  expect(patched("v1.gguf", 4, uint32_t(1)), "version 1 is not supported");
  expect(patched("v9.gguf", 4, uint32_t(9)), "version 9");
  expect(patched("ntensors.gguf", 8, uint64_t(1) << 60), "tensors, more than the file can hold");
  expect(patched("nkv.gguf", 16, uint64_t(1) << 40), "metadata entries");
  expect(patched("namelen.gguf", 24, uint64_t(1) << 50), "truncated");
  expect(patched("ndims.gguf", 33, uint32_t(5)), "tensor 't' has 5 dimensions");
  expect(patched("dim0.gguf", 37, uint64_t(0)), "tensor 't' has dimension 0");
  expect(patched("type.gguf", 45, uint32_t(77)), "tensor 't' has unknown ggml type 77");
  expect(patched("misaligned.gguf", 49, uint64_t(4)), "not a multiple of the alignment");
  expect(patched("past_end.gguf", 49, uint64_t(64)), "tensor 't' (16 bytes at data offset 64) runs past the end");
  expect(patched("huge_dim.gguf", 37, uint64_t(1) << 39), "runs past the end");
  expect(patched("q8_partial.gguf", 45, uint32_t(8)), "not a multiple of the Q8_0 block");

  // Every truncation is an error, never a crash or a read past the end.
  const auto bytes = read_all(good);
  for (size_t n = 0; n < bytes.size(); ++n) {
    const std::string p = temp_path("trunc.gguf");
    write_all(p, std::vector<uint8_t>(bytes.begin(), bytes.begin() + long(n)));
    EXPECT_NE(error_of(p), "") << "truncated to " << n << " bytes";
  }

  // Bad metadata: unknown value types, bad alignment, duplicate keys.
  GgufWriter w;
  w.add_kv("general.alignment", GgufType::U32, 48);
  w.write(temp_path("align.gguf"));
  expect(temp_path("align.gguf"), "general.alignment 48 is not a power of two");
  GgufWriter d;
  d.add_kv("k", GgufType::U8, 1);
  d.add_kv("k", GgufType::U8, 2);
  d.write(temp_path("dup.gguf"));
  expect(temp_path("dup.gguf"), "metadata key 'k' appears twice");
  GgufWriter bt;
  bt.add_kv("flag", GgufType::BOOL, true);
  bt.write(temp_path("kvtype.gguf"));
  auto kb = read_all(temp_path("kvtype.gguf"));
  kb[24 + 8 + 4] = 13;  // the value type of the first key ("flag")
  write_all(temp_path("kvtype.gguf"), kb);
  expect(temp_path("kvtype.gguf"), "metadata 'flag' has unknown value type 13");
  GgufWriter arr;
  arr.add_kv("list", GgufType::ARRAY, {1, 2, 3}, GgufType::U32);
  arr.write(temp_path("arr.gguf"));
  auto ab = read_all(temp_path("arr.gguf"));
  const uint64_t huge = 1ull << 58;
  std::memcpy(ab.data() + 24 + 8 + 4 + 4 + 4, &huge, 8);  // the array's length
  write_all(temp_path("arr.gguf"), ab);
  expect(temp_path("arr.gguf"), "metadata 'list' claims 288230376151711744 u32 elements");
}

TEST(Gguf, RandomCorruptionNeverCrashes) {
  ModelSource ref = open_model(kFixture);
  const std::string good = temp_path("fuzz-src.gguf");
  write_fixture_gguf(ref, good, false);
  const auto bytes = read_all(good);
  // Corrupt the first 4 KiB: metadata and tensor infos, where every field is parsed.
  const size_t header_end = std::min<size_t>(bytes.size(), 4096);
  std::mt19937 rng(7);
  int errors = 0;
  for (int i = 0; i < 300; ++i) {
    auto b = bytes;
    for (int k = 0; k < 4; ++k) b[rng() % header_end] = uint8_t(rng());
    const std::string p = temp_path("fuzz.gguf");
    write_all(p, b);
    try {
      ModelSource s = open_model(p);
      (void)s;
    } catch (const Error&) {
      ++errors;
    }
  }
  EXPECT_GT(errors, 0);
}

TEST(Gguf, ModelLevelErrorsNameTheKeyOrTensor) {
  ModelSource ref = open_model(kFixture);
  const std::string good = temp_path("model-src.gguf");
  write_fixture_gguf(ref, good, false);
  auto bytes = read_all(good);
  auto expect_open = [&](std::vector<uint8_t> b, const std::string& words) {
    const std::string p = temp_path("model-bad.gguf");
    write_all(p, b);
    try {
      open_model(p);
      ADD_FAILURE() << "expected an error with: " << words;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(words), std::string::npos) << e.what();
    }
  };
  auto replace = [&](std::string from, std::string to) {
    EXPECT_EQ(from.size(), to.size());
    auto b = bytes;
    auto it = std::search(b.begin(), b.end(), from.begin(), from.end());
    EXPECT_NE(it, b.end()) << from;
    std::copy(to.begin(), to.end(), it);
    return b;
  };
  expect_open(replace("gpt-oss", "llama-2"), "architecture \"llama-2\" is not gpt-oss");
  expect_open(replace("gpt-oss.block_count", "gpt-oss.block_cnunt"), "metadata 'gpt-oss.block_count' is missing");
  expect_open(replace("blk.1.attn_sinks.weight", "blk.1.attn_sinkz.weight"), "missing tensor 'blk.1.attn_sinks.weight'");
  // An expert tensor in another type: named, with what to do.
  auto b = bytes;
  {
    // The tensor info is name, n_dims, 3 dims, then the type: find it by name.
    const std::string n = "blk.0.ffn_down_exps.weight";
    auto it = std::search(b.begin(), b.end(), n.begin(), n.end());
    const size_t type_at = size_t(it - b.begin()) + n.size() + 4 + 3 * 8;
    uint32_t q8 = 8;  // Q8_0: 34 bytes per block of 32, so the tensor is larger but still inside the file
    std::memcpy(b.data() + type_at, &q8, 4);
  }
  const std::string p = temp_path("q8-experts.gguf");
  write_all(p, b);
  try {
    open_model(p);
    FAIL();
  } catch (const Error& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("tensor 'blk.0.ffn_down_exps.weight' is Q8_0"), std::string::npos) << m;
    EXPECT_NE(m.find("MXFP4"), std::string::npos) << m;
  }
}

// Found by fuzz/fuzz_gguf: metadata sizes are not trusted before the tensors
// (whose sizes the file bounds) agree with them, and counts that do not fit
// an int are errors, not undefined float-to-int casts.
TEST(Gguf, LyingSizesInTheMetadataAreErrorsNotAllocations) {
  ModelSource ref = open_model(kFixture);
  const std::string good = temp_path("sizes-src.gguf");
  write_fixture_gguf(ref, good, false);
  const auto bytes = read_all(good);
  // The u32 value of a metadata key: after the key and its u32 type tag.
  auto with_u32 = [&](std::vector<std::pair<std::string, uint32_t>> kvs) {
    auto b = bytes;
    for (auto& [key, v] : kvs) {
      auto it = std::search(b.begin(), b.end(), key.begin(), key.end());
      EXPECT_NE(it, b.end()) << key;
      uint32_t type;
      std::memcpy(&type, &*(it + long(key.size())), 4);
      EXPECT_EQ(type, uint32_t(GgufType::U32)) << key;
      std::memcpy(&*(it + long(key.size()) + 4), &v, 4);
    }
    return b;
  };
  auto error_opening = [&](const std::vector<uint8_t>& b) {
    const std::string p = temp_path("sizes-bad.gguf");
    write_all(p, b);
    try {
      open_model(p);
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("opened");
  };
  // 2^30 experts of 2^30 rows: the bias scratch once asked for 2^61 bytes
  // (std::length_error) before any expert tensor was looked at.
  std::string e = error_opening(
      with_u32({{"gpt-oss.expert_count", 1u << 30}, {"gpt-oss.expert_feed_forward_length", 1u << 30}}));
  EXPECT_NE(e.find("has ggml dims"), std::string::npos) << e;
  // A layer count past INT32_MAX: once an out-of-range double-to-int cast.
  e = error_opening(with_u32({{"gpt-oss.block_count", 0xffffffffu}}));
  EXPECT_NE(e.find("metadata 'gpt-oss.block_count' is 4294967295"), std::string::npos) << e;
  // Heads x head_dim past an int (q_dim()).
  e = error_opening(with_u32({{"gpt-oss.attention.head_count", 1u << 24}, {"gpt-oss.attention.head_count_kv", 1u << 24}}));
  EXPECT_NE(e.find("num_attention_heads must be at most 65536"), std::string::npos) << e;
}

}  // namespace
