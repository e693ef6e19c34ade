// libFuzzer target: the incremental Harmony parser fed an arbitrary stream of
// sampled tokens (two bytes per token; ids biased towards the control tokens
// and a few hundred ordinary ones so headers and messages really form).
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <vector>

#include "core/error.h"
#include "fuzz_support.h"
#include "harmony/harmony_parser.h"

namespace {
std::shared_ptr<const gptoss::Tokenizer> tok;
}

// Loaded before the first input so the load never counts against -timeout.
extern "C" int LLVMFuzzerInitialize(int*, char***) {
  tok = gptoss::fuzz::real_tokenizer();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  gptoss::harmony::ParserOptions opt;
  opt.after_assistant_start = data[0] & 1;
  opt.recover_text_tool_calls = data[0] & 2;
  opt.max_header_bytes = 16 + (data[0] >> 2) * 8;
  opt.tool_names = {"get_weather", "f"};
  gptoss::harmony::HarmonyParser p([](int32_t id) { return tok->token_bytes(id); }, opt);
  std::vector<gptoss::harmony::HarmonyEvent> events;
  for (size_t i = 1; i + 1 < size; i += 2) {
    const unsigned v = unsigned(data[i]) | unsigned(data[i + 1]) << 8;
    int32_t id;
    switch (v >> 14) {
      case 0: id = 199998 + int32_t(v % 24); break;   // control tokens
      case 1: id = int32_t(v % 512); break;            // bytes, short pieces
      default: id = int32_t(v % 200000); break;        // anything
    }
    p.push(id, events);
    if (events.size() > 4096) events.clear();
  }
  p.finish(events);
  (void)p.content();
  (void)p.reasoning();
  (void)p.tool_calls();
  return 0;
}
