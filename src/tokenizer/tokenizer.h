#pragma once
// The o200k_harmony tokenizer, loaded from a Hugging Face tokenizer.json
// (byte-level BPE with the Split pre-tokenizer regex and added tokens).
//
// CONTRACT used by harmony/, server/ and cli/: members may be added, but these
// signatures stay.
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace gptoss {

class Tokenizer {
 public:
  // Throws Error naming the file on any problem (missing, not JSON, not BPE...).
  static std::shared_ptr<const Tokenizer> load(const std::string& tokenizer_json_path);
  virtual ~Tokenizer() = default;

  // allow_special=false: text like "<|start|>" is encoded as ordinary text
  // (what untrusted user content needs). true: added/special tokens found in
  // the text become their ids.
  virtual std::vector<int32_t> encode(std::string_view text, bool allow_special = false) const = 0;
  // Concatenated bytes of the tokens; special tokens render as their text
  // unless skip_special. Invalid UTF-8 bytes are kept as they are.
  virtual std::string decode(std::span<const int32_t> ids, bool skip_special = false) const = 0;
  // The raw bytes one token stands for (special tokens: their text).
  virtual std::string token_bytes(int32_t id) const = 0;
  virtual std::optional<int32_t> token_id(std::string_view token_text) const = 0;  // e.g. "<|start|>"
  virtual bool is_special(int32_t id) const = 0;
  virtual int32_t vocab_size() const = 0;  // one past the largest id
};

// Turns a stream of token ids into UTF-8 text pieces, never splitting a
// multi-byte character: bytes of an unfinished character are held back until
// the next token completes it (or flush() gives them up as they are).
class StreamDecoder {
 public:
  explicit StreamDecoder(std::shared_ptr<const Tokenizer> tok, bool skip_special = false);
  std::string push(int32_t id);  // the text that became complete with this token
  std::string flush();           // whatever is held back
 private:
  std::shared_ptr<const Tokenizer> tok_;
  bool skip_special_;
  std::string pending_;
};

}  // namespace gptoss
