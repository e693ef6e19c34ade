#include "tokenizer/gguf_tokenizer.h"

#include "core/error.h"

namespace gptoss {

namespace {

// o200k's pre-tokenizer (tokenizer.json's Split regex for gpt-oss and gpt-4o).
const char* kGpt4oPattern =
    "[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]*[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?"
    "|[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]+[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?"
    "|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

const nlohmann::json& array_of(const GgufFile& f, const std::string& key, GgufType elem) {
  const GgufKv* kv = f.find_kv(key);
  if (!kv) throw Error(f.path() + ": metadata '" + key + "' is missing: this GGUF has no usable tokenizer");
  if (kv->type != GgufType::ARRAY || (!kv->value.empty() && kv->array_type != elem))
    throw Error(f.path() + ": metadata '" + key + "' has the wrong type");
  return kv->value;
}

}  // namespace

TokenizerSpec gguf_tokenizer_spec(const GgufFile& f) {
  const GgufKv* model = f.find_kv("tokenizer.ggml.model");
  if (!model || !model->value.is_string() || model->value.get<std::string>() != "gpt2")
    throw Error(f.path() + ": tokenizer.ggml.model must be \"gpt2\" (byte-level BPE) for gpt-oss");
  const GgufKv* pre = f.find_kv("tokenizer.ggml.pre");
  const std::string pre_name = pre && pre->value.is_string() ? pre->value.get<std::string>() : "";
  if (pre_name != "gpt-4o")
    throw Error(f.path() + ": tokenizer.ggml.pre \"" + pre_name +
                "\" is not supported (gpt-oss uses \"gpt-4o\"); pass --tokenizer tokenizer.json instead");
  const auto& tokens = array_of(f, "tokenizer.ggml.tokens", GgufType::STRING);
  const auto& types = array_of(f, "tokenizer.ggml.token_type", GgufType::I32);
  const auto& merges = array_of(f, "tokenizer.ggml.merges", GgufType::STRING);
  if (types.size() != tokens.size())
    throw Error(f.path() + ": tokenizer.ggml.token_type has " + std::to_string(types.size()) + " entries for " +
                std::to_string(tokens.size()) + " tokens");
  TokenizerSpec spec;
  spec.pattern = kGpt4oPattern;
  spec.ignore_merges = true;
  for (size_t id = 0; id < tokens.size(); ++id) {
    const std::string& text = tokens[id].get_ref<const std::string&>();
    switch (types[id].get<int>()) {
      case 3: spec.added.push_back({int32_t(id), text, true}); break;
      case 4: spec.added.push_back({int32_t(id), text, false}); break;
      case 5: break;  // unused: padding up to the embedding's rows
      default: spec.vocab.emplace_back(text, int32_t(id));
    }
  }
  spec.merges.reserve(merges.size());
  for (size_t i = 0; i < merges.size(); ++i) {
    const std::string& m = merges[i].get_ref<const std::string&>();
    const size_t sp = m.find(' ');
    if (sp == std::string::npos || sp == 0 || sp + 1 == m.size())
      throw Error(f.path() + ": tokenizer.ggml.merges entry " + std::to_string(i) + " \"" + m +
                  "\" is not two tokens separated by a space");
    spec.merges.emplace_back(m.substr(0, sp), m.substr(sp + 1));
  }
  return spec;
}

std::shared_ptr<const Tokenizer> load_gguf_tokenizer(const std::string& path) {
  auto f = GgufFile::open(path);
  return Tokenizer::from_spec(gguf_tokenizer_spec(*f), path);
}

}  // namespace gptoss
