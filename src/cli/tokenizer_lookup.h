#pragma once
// Which tokenizer.json a command uses.
#include <memory>
#include <string>

#include "tokenizer/tokenizer.h"

namespace gptoss::cli {

// In order: `tokenizer_flag` (--tokenizer FILE) if given; MODEL/tokenizer.json
// when `model` is a directory holding one (or `model` itself when it names a
// tokenizer.json file); $GPTOSS_TOKENIZER; the copy gptoss ships
// (<prefix>/share/gptoss/tokenizer.json when installed; from the build folder,
// the test oracles' npm copy in the source tree: shipped_data.h). Throws Error
// listing what was tried when none exists.
std::string find_tokenizer_json(const std::string& model, const std::string& tokenizer_flag);
// The tokenizer itself: a .gguf model's own (its tokenizer.ggml.* metadata)
// unless --tokenizer is given, else the tokenizer.json found as above.
std::shared_ptr<const Tokenizer> load_tokenizer(const std::string& model, const std::string& tokenizer_flag);

}  // namespace gptoss::cli
