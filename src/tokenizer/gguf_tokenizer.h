#pragma once
// The tokenizer stored in a llama.cpp GGUF's metadata: tokenizer.ggml.model
// "gpt2" (byte-level BPE), .tokens (id order), .token_type (1 normal, 3 control
// = special added token, 4 user-defined = non-special added token, 5 unused
// padding, 6 byte), .merges ("a b" in rank order) and .pre naming the
// pre-tokenizer; "gpt-4o" is o200k's Split regex, the one gpt-oss uses.
#include <memory>
#include <string>

#include "format/gguf.h"
#include "tokenizer/tokenizer.h"

namespace gptoss {

TokenizerSpec gguf_tokenizer_spec(const GgufFile& file);  // Error naming the file and key
std::shared_ptr<const Tokenizer> load_gguf_tokenizer(const std::string& gguf_path);

}  // namespace gptoss
