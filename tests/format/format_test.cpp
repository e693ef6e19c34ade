// Loading: good checkpoints load, and every kind of malformed input is a clear
// error naming the file and tensor, never a crash.
#include <gtest/gtest.h>

#include "test_paths.h"

#include <cstring>
#include <filesystem>
#include <fstream>

#include "core/error.h"
#include "format/model_source.h"
#include "format/safetensors.h"
#include "model/model_weights.h"

using namespace gptoss;
namespace fs = std::filesystem;

namespace {

const std::string kFixture = gptoss::test::fixtures_dir() + "/tiny-gptoss";

std::string temp_dir() {
  auto d = fs::temp_directory_path() / ("gptoss_format_" + std::to_string(::getpid()) + "_" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
  fs::create_directories(d);
  return d.string();
}

std::string read_all(const std::string& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}
void write_all(const std::string& p, const std::string& s) { std::ofstream(p, std::ios::binary) << s; }

// Expects an Error whose message contains every fragment.
template <typename F>
void expect_error(F f, std::initializer_list<std::string> fragments) {
  try {
    f();
    ADD_FAILURE() << "no error thrown";
  } catch (const Error& e) {
    for (auto& frag : fragments) EXPECT_NE(std::string(e.what()).find(frag), std::string::npos) << e.what();
  }
}

std::string make_file(const std::string& dir, const std::string& header_json, size_t data_bytes) {
  std::string path = dir + "/t.safetensors";
  uint64_t n = header_json.size();
  std::string s(reinterpret_cast<char*>(&n), 8);
  s += header_json;
  s += std::string(data_bytes, '\0');
  write_all(path, s);
  return path;
}

TEST(Safetensors, ReadsFixtureShard) {
  auto f = SafetensorsFile::open(kFixture + "/model-00000.safetensors");
  auto* t = f->find("model.embed_tokens.weight");
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t->dtype, DType::BF16);
  EXPECT_EQ(t->shape, (std::vector<int64_t>{2048, 256}));
  EXPECT_EQ(f->metadata().at("format"), "pt");
}

TEST(Safetensors, WriteThenReadRoundTrip) {
  auto dir = temp_dir();
  std::vector<float> v = {1, 2, 3, 4, 5, 6};
  write_safetensors(dir + "/x.safetensors", {{"x", DType::F32, {2, 3}, v.data()}}, {{"k", "v"}});
  auto f = SafetensorsFile::open(dir + "/x.safetensors");
  ASSERT_NE(f->find("x"), nullptr);
  EXPECT_EQ(std::memcmp(f->find("x")->data, v.data(), 24), 0);
  EXPECT_EQ(f->metadata().at("k"), "v");
}

TEST(Safetensors, MalformedFilesAreClearErrors) {
  auto dir = temp_dir();
  write_all(dir + "/short.safetensors", "abc");
  expect_error([&] { SafetensorsFile::open(dir + "/short.safetensors"); }, {"short.safetensors", "shorter"});
  // Header length pointing past the end (a truncated download).
  std::string s(8, '\0');
  uint64_t big = 1 << 20;
  std::memcpy(s.data(), &big, 8);
  write_all(dir + "/trunc.safetensors", s + "{}");
  expect_error([&] { SafetensorsFile::open(dir + "/trunc.safetensors"); }, {"trunc.safetensors", "truncated"});
  expect_error([&] { SafetensorsFile::open(make_file(dir, "{not json", 0)); }, {"not valid JSON"});
  expect_error([&] { SafetensorsFile::open(make_file(dir, "[1,2]", 0)); }, {"not a JSON object"});
  expect_error([&] { SafetensorsFile::open(make_file(dir, R"({"w":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})", 8)); },
               {"tensor 'w'", "outside the data section"});
  expect_error([&] { SafetensorsFile::open(make_file(dir, R"({"w":{"dtype":"F32","shape":[4],"data_offsets":[0,8]}})", 8)); },
               {"tensor 'w'", "span 8 bytes"});
  expect_error([&] { SafetensorsFile::open(make_file(dir, R"({"w":{"dtype":"Q9","shape":[4],"data_offsets":[0,4]}})", 4)); },
               {"tensor 'w'", "unknown dtype"});
  expect_error([&] { SafetensorsFile::open(make_file(dir, R"({"w":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}})", 4)); },
               {"tensor 'w'", "bad dimension"});
  expect_error([&] { SafetensorsFile::open(make_file(dir, R"({"w":{"dtype":"F32","shape":[4]}})", 16)); },
               {"tensor 'w'", "lacks"});
  expect_error([&] {
    SafetensorsFile::open(make_file(dir, R"({"w":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,16]}})", 16));
  }, {"tensor 'w'"});
  expect_error([&] { SafetensorsFile::open(dir + "/missing.safetensors"); }, {"missing.safetensors"});
}

TEST(Checkpoint, LoadsFixtureDirectory) {
  ModelSource src = open_model(kFixture);
  EXPECT_EQ(src.config.num_layers, 4);
  EXPECT_EQ(src.config.vocab_size, 2048);
  EXPECT_TRUE(src.config.is_sliding(0));
  EXPECT_FALSE(src.config.is_sliding(1));
  EXPECT_FLOAT_EQ(src.config.rope.factor, 32.0f);
  EXPECT_NO_THROW(bind_model_weights(src.config, *src.weights));
}

// Copies the fixture so a test can break one thing in it.
std::string copy_fixture() {
  auto dir = temp_dir() + "/ckpt";
  fs::remove_all(dir);
  fs::copy(kFixture, dir);
  for (auto& e : fs::directory_iterator(dir)) fs::permissions(e.path(), fs::perms::owner_write, fs::perm_options::add);
  return dir;
}

TEST(Checkpoint, BrokenCheckpointsNameWhatIsWrong) {
  {
    auto dir = copy_fixture();
    auto p = dir + "/model-00002.safetensors";
    auto s = read_all(p);
    write_all(p, s.substr(0, s.size() / 2));
    expect_error([&] { open_model(dir); }, {"model-00002.safetensors", "outside the data section"});
  }
  {
    auto dir = copy_fixture();
    auto cfg = read_all(dir + "/config.json");
    cfg.replace(cfg.find("\"gpt_oss\""), 9, "\"llama\"");
    cfg.replace(cfg.find("GptOssForCausalLM"), 17, "LlamaForCausalLM");
    write_all(dir + "/config.json", cfg);
    expect_error([&] { open_model(dir); }, {"config.json", "unknown architecture"});
  }
  {
    auto dir = copy_fixture();
    auto cfg = read_all(dir + "/config.json");
    cfg.replace(cfg.find("\"hidden_size\": 256"), 18, "\"hidden_size\": 288");
    write_all(dir + "/config.json", cfg);
    ModelSource src = open_model(dir);
    expect_error([&] { bind_model_weights(src.config, *src.weights); },
                 {"model.embed_tokens.weight", "[2048, 256]", "expected [2048, 288]"});
  }
  {
    auto dir = copy_fixture();
    write_all(dir + "/config.json", "{\"model_type\": \"gpt_oss\"");
    expect_error([&] { open_model(dir); }, {"config.json", "not valid JSON"});
  }
  {
    auto dir = copy_fixture();
    auto idx = read_all(dir + "/model.safetensors.index.json");
    idx.replace(idx.find("model-00005.safetensors"), 23, "model-00009.safetensors");
    write_all(dir + "/model.safetensors.index.json", idx);
    expect_error([&] { open_model(dir); }, {"model-00009.safetensors"});
  }
  {
    // A tensor stored with the wrong dtype.
    auto dir = copy_fixture();
    std::vector<float> w(256, 1.0f);
    auto f = SafetensorsFile::open(kFixture + "/model-00005.safetensors");
    std::vector<TensorToWrite> ts;
    for (auto& [n, t] : f->tensors())
      ts.push_back(n == "model.norm.weight" ? TensorToWrite{n, DType::F32, {256}, w.data()}
                                            : TensorToWrite{n, t.dtype, t.shape, t.data});
    write_safetensors(dir + "/model-00005.safetensors", ts);
    ModelSource src = open_model(dir);
    expect_error([&] { bind_model_weights(src.config, *src.weights); },
                 {"model-00005.safetensors", "model.norm.weight", "is F32, expected BF16"});
  }
  {
    // A missing tensor.
    auto dir = copy_fixture();
    auto f = SafetensorsFile::open(kFixture + "/model-00005.safetensors");
    std::vector<TensorToWrite> ts;
    for (auto& [n, t] : f->tensors())
      if (n != "lm_head.weight") ts.push_back({n, t.dtype, t.shape, t.data});
    write_safetensors(dir + "/model-00005.safetensors", ts);
    ModelSource src = open_model(dir);
    expect_error([&] { bind_model_weights(src.config, *src.weights); }, {"missing tensor 'lm_head.weight'"});
  }
}

TEST(ModelSource, HubCacheAndSyntheticAndUnknown) {
  auto dir = temp_dir();
  setenv("HF_HOME", dir.c_str(), 1);
  expect_error([&] { open_model("openai/gpt-oss-20b"); }, {"not in the Hugging Face cache", "models--openai--gpt-oss-20b"});
  // A cache laid out as huggingface_hub does resolves to its snapshot.
  auto snap = fs::path(dir) / "hub/models--openai--gpt-oss-20b/snapshots/abc123";
  fs::create_directories(snap);
  fs::create_directories(fs::path(dir) / "hub/models--openai--gpt-oss-20b/refs");
  write_all((fs::path(dir) / "hub/models--openai--gpt-oss-20b/refs/main").string(), "abc123");
  for (auto& e : fs::directory_iterator(kFixture)) fs::copy(e.path(), snap / e.path().filename());
  ModelSource hub = open_model("openai/gpt-oss-20b");
  EXPECT_EQ(hub.name, "openai/gpt-oss-20b");
  EXPECT_EQ(hub.config.num_layers, 4);
  unsetenv("HF_HOME");

  ModelSource tiny = open_model("synthetic:tiny", 7);
  EXPECT_EQ(tiny.config.vocab_size, 201088);
  EXPECT_NO_THROW(bind_model_weights(tiny.config, *tiny.weights));
  ModelSource again = open_model("synthetic:tiny", 7);
  auto* a = tiny.weights->find("model.layers.1.mlp.experts.down_proj_blocks");
  auto* b = again.weights->find("model.layers.1.mlp.experts.down_proj_blocks");
  EXPECT_EQ(std::memcmp(a->data, b->data, a->nbytes), 0) << "synthetic weights must be reproducible from the seed";
  expect_error([&] { open_model("synthetic:7b"); }, {"unknown synthetic model"});
  expect_error([&] { open_model("/no/such/dir"); }, {"not found"});
}

// Integer fields out of an int's range are errors: json's own conversion of
// 1e30 to int was undefined behaviour (UBSan, fuzz_model_config input).
TEST(ModelConfig, IntegerFieldsMustFitAnInt) {
  nlohmann::json j = ModelConfig::preset("20b").to_json();
  for (const nlohmann::json& bad : {nlohmann::json(1e30), nlohmann::json(4294967300ull), nlohmann::json(-1e12),
                                   nlohmann::json(2.5)}) {
    j["num_hidden_layers"] = bad;
    expect_error([&] { ModelConfig::from_json(j, "c.json"); },
                 {"c.json", "\"num_hidden_layers\" must be a whole number that fits an int"});
  }
  j["num_hidden_layers"] = 24.0;  // a whole float is the number it says
  EXPECT_EQ(ModelConfig::from_json(j, "c.json").num_layers, 24);
}

TEST(ModelConfig, PresetsHaveTheRealShapes) {
  auto c20 = ModelConfig::preset("20b");
  EXPECT_NEAR(double(c20.params_total()) / 1e9, 20.9, 0.1);
  EXPECT_NEAR(double(c20.params_active()) / 1e9, 3.6, 0.15);
  auto c120 = ModelConfig::preset("120b");
  EXPECT_NEAR(double(c120.params_total()) / 1e9, 116.8, 0.3);
  EXPECT_NEAR(double(c120.params_active()) / 1e9, 5.1, 0.15);
}

}  // namespace
