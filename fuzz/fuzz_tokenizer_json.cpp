// libFuzzer target: a (small) tokenizer.json loaded from text, then used to
// encode and decode a little. Bad files must give gptoss::Error only.
#include <cstdint>
#include <string>
#include <string_view>

#include "core/error.h"
#include "tokenizer/tokenizer.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  try {
    auto tok = gptoss::Tokenizer::from_json_text(text, "fuzz/tokenizer.json");
    for (bool special : {false, true}) {
      auto ids = tok->encode("Hello <|start|>world 123 ünï\xff", special);
      (void)tok->decode(ids);
    }
    for (int32_t id = 0; id < 8 && id < int32_t(tok->vocab_size()); ++id) (void)tok->token_bytes(id);
  } catch (const gptoss::Error&) {
  }
  return 0;
}
