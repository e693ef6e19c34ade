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
#include <utility>
#include <vector>

namespace gptoss {

// What a byte-level BPE tokenizer is made of, independent of the file it came
// from (tokenizer.json today, GGUF metadata later). Strings in `vocab` and
// `merges` use the GPT-2 byte-to-unicode mapping, exactly as tokenizer.json
// and GGUF store them.
struct TokenizerSpec {
  struct AddedToken {
    int32_t id = 0;
    std::string content;  // e.g. "<|start|>"
    bool special = true;  // special: recognised only with allow_special; else always
    bool lstrip = false;  // swallow whitespace on the left / right when matched
    bool rstrip = false;
  };
  std::vector<std::pair<std::string, int32_t>> vocab;              // token -> id
  std::vector<std::pair<std::string, std::string>> merges;         // in rank order
  std::vector<AddedToken> added;
  std::string pattern;        // pre-tokenizer Split regex (empty: whole text is one piece)
  bool ignore_merges = true;  // a piece that is itself a token skips the merges
};

class Tokenizer {
 public:
  // Throws Error naming the file on any problem (missing, not JSON, not BPE...).
  static std::shared_ptr<const Tokenizer> load(const std::string& tokenizer_json_path);
  // The same from the text of a tokenizer.json; `origin` names it in errors.
  static std::shared_ptr<const Tokenizer> from_json_text(std::string_view json_text, const std::string& origin);
  // From parts already read (e.g. GGUF). Throws Error mentioning `origin`.
  static std::shared_ptr<const Tokenizer> from_spec(const TokenizerSpec& spec, const std::string& origin);
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
  // Whether `id` stands for something (the tokenizer may have unused ids).
  virtual bool has_token(int32_t id) const { return id >= 0 && id < vocab_size(); }
  // The bytes of a token a model produced. Models have more ids than the
  // tokenizer (gpt-oss: 201088 vs 200019) and can sample the reserved ones,
  // which stand for no text rather than failing the request.
  std::string generated_bytes(int32_t id) const { return has_token(id) ? token_bytes(id) : std::string(); }
};

// Text with every invalid UTF-8 sequence replaced by U+FFFD, one per maximal
// invalid subpart (what a browser's TextDecoder and Python's
// bytes.decode(errors="replace") do). encode() applies this to its input, so
// invalid UTF-8 is tokenized as the JS/HF tokenizers tokenize the decoded
// string. Useful wherever decoded bytes must become valid JSON.
std::string to_valid_utf8(std::string_view bytes);
bool is_valid_utf8(std::string_view bytes);
// How many bytes at the end of `bytes` are an unfinished but so far valid
// UTF-8 character (0..3): what a streaming decoder must hold back.
size_t incomplete_utf8_tail(std::string_view bytes);

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
