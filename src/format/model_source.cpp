#include "format/model_source.h"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>

#include "core/error.h"
#include "format/gguf_model.h"

namespace fs = std::filesystem;

namespace gptoss {

namespace {

bool is_gguf_path(const std::string& s) {
  return s.size() > 5 && s.compare(s.size() - 5, 5, ".gguf") == 0 && !fs::is_directory(s);
}

bool looks_like_repo_id(const std::string& s) {
  auto slash = s.find('/');
  return slash != std::string::npos && slash > 0 && s.find('/', slash + 1) == std::string::npos && s[0] != '.' &&
         !fs::exists(s);
}

}  // namespace

std::string resolve_hf_cache(const std::string& repo_id) {
  std::string hub;
  if (const char* c = std::getenv("HF_HUB_CACHE")) hub = c;
  else if (const char* h = std::getenv("HF_HOME")) hub = std::string(h) + "/hub";
  else if (const char* home = std::getenv("HOME")) hub = std::string(home) + "/.cache/huggingface/hub";
  else hub = ".cache/huggingface/hub";
  std::string folder = "models--";
  for (char ch : repo_id) folder += ch == '/' ? std::string("--") : std::string(1, ch);
  fs::path repo = fs::path(hub) / folder;
  fs::path snapshots = repo / "snapshots";
  std::string rev;
  if (std::ifstream ref{repo / "refs" / "main"}; ref) std::getline(ref, rev);
  if (!rev.empty() && fs::is_directory(snapshots / rev)) return (snapshots / rev).string();
  if (fs::is_directory(snapshots)) {
    for (auto& e : fs::directory_iterator(snapshots))
      if (fs::exists(e.path() / "config.json")) return e.path().string();
  }
  throw Error("model '" + repo_id + "' is not in the Hugging Face cache (looked in " + repo.string() +
              "). Download it first, e.g. `huggingface-cli download " + repo_id +
              "`, or pass --model with a checkpoint directory");
}

ModelSource open_checkpoint_dir(const std::string& dir, const LoadProgress& progress) {
  if (!fs::is_directory(dir)) throw Error("model directory " + dir + " does not exist");
  ModelSource src;
  src.directory = dir;
  src.name = fs::path(dir).filename().string();
  if (src.name.empty()) src.name = fs::path(dir).parent_path().filename().string();
  src.config = ModelConfig::from_file((fs::path(dir) / "config.json").string());
  src.weights = std::make_shared<WeightStore>();
  src.weights->origin = dir;

  std::vector<std::string> shards;
  fs::path index = fs::path(dir) / "model.safetensors.index.json";
  if (fs::exists(index)) {
    std::ifstream in(index);
    nlohmann::json j;
    try {
      in >> j;
    } catch (const std::exception& e) {
      throw Error(index.string() + ": not valid JSON (" + e.what() + ")");
    }
    if (!j.contains("weight_map") || !j["weight_map"].is_object())
      throw Error(index.string() + ": has no weight_map object");
    std::set<std::string> files;
    for (auto& [name, f] : j["weight_map"].items()) {
      if (!f.is_string()) throw Error(index.string() + ": weight_map entry for '" + name + "' is not a file name");
      auto file = f.get<std::string>();
      if (file.find("..") != std::string::npos || file.find('/') != std::string::npos)
        throw Error(index.string() + ": shard name '" + file + "' must be a plain file name in the same folder");
      files.insert(file);
    }
    shards.assign(files.begin(), files.end());
  } else if (fs::exists(fs::path(dir) / "model.safetensors")) {
    shards.push_back("model.safetensors");
  } else {
    throw Error(dir + ": no model.safetensors.index.json or model.safetensors found");
  }
  for (size_t i = 0; i < shards.size(); ++i) {
    src.weights->add_file(SafetensorsFile::open((fs::path(dir) / shards[i]).string()));
    if (progress) progress(i + 1, shards.size());
  }
  return src;
}

ModelConfig read_model_config(const std::string& model, std::string* name) {
  const std::string prefix = "synthetic:";
  if (name) *name = model;
  if (model.rfind(prefix, 0) == 0) {
    std::string what = model.substr(prefix.size());
    return (what.size() > 5 && what.substr(what.size() - 5) == ".json") ? ModelConfig::from_file(what)
                                                                       : ModelConfig::preset(what);
  }
  if (is_gguf_path(model)) return gguf_model_config(*GgufFile::open(model));
  std::string dir = model;
  if (!fs::is_directory(model) && looks_like_repo_id(model)) dir = resolve_hf_cache(model);
  if (fs::is_directory(dir)) {
    fs::path config = fs::path(dir) / "config.json";
    if (!fs::exists(config)) throw Error(dir + ": no config.json (is this a Hugging Face gpt-oss checkpoint?)");
    return ModelConfig::from_file(config.string());
  }
  throw Error("model '" + model +
              "' not found: give a checkpoint directory, a .gguf file, a Hugging Face repo id in the local cache "
              "(openai/gpt-oss-20b), or synthetic:tiny|20b|120b");
}

ModelSource open_model(const std::string& model, uint64_t seed, const LoadProgress& progress) {
  const std::string prefix = "synthetic:";
  if (model.rfind(prefix, 0) == 0) {
    std::string what = model.substr(prefix.size());
    ModelConfig cfg = (what.size() > 5 && what.substr(what.size() - 5) == ".json") ? ModelConfig::from_file(what)
                                                                                  : ModelConfig::preset(what);
    return make_synthetic_model(cfg, model, seed, progress);
  }
  if (fs::is_directory(model)) return open_checkpoint_dir(model, progress);
  if (is_gguf_path(model)) return open_gguf(model, progress);
  if (looks_like_repo_id(model)) {
    ModelSource src = open_checkpoint_dir(resolve_hf_cache(model), progress);
    src.name = model;
    return src;
  }
  throw Error("model '" + model +
              "' not found: give a checkpoint directory, a .gguf file, a Hugging Face repo id in the local cache "
              "(openai/gpt-oss-20b), or synthetic:tiny|20b|120b");
}

}  // namespace gptoss
