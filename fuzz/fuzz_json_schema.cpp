// libFuzzer target: the JSON Schema compiler and the matcher. Input: schema
// text, a 0 byte, then bytes fed to the compiled grammar (and the token mask
// of where they lead, over the real vocabulary). A schema is compiled or
// refused with SchemaError, within the size limits; the matcher never
// crashes, never grows past its bounds, and a mask only allows tokens the
// matcher takes one by one.
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>

#include "constrain/json_schema.h"
#include "constrain/matcher.h"
#include "constrain/token_mask.h"

namespace {
std::shared_ptr<const gptoss::constrain::Vocabulary> vocab;
}

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  const char* env = std::getenv("GPTOSS_TOKENIZER");
  auto tok = gptoss::Tokenizer::load(env ? env : GPTOSS_FUZZ_TOKENIZER);
  vocab = std::make_shared<const gptoss::constrain::Vocabulary>(*tok, 201088);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace gptoss::constrain;
  const std::string in(reinterpret_cast<const char*>(data), size);
  const size_t cut = in.find('\0');
  const auto schema = nlohmann::ordered_json::parse(in.substr(0, cut), nullptr, false);
  if (schema.is_discarded()) return 0;
  SchemaLimits lim;
  lim.max_nodes = 4000;  // smaller than the server's, so the fuzzer stays fast
  lim.max_pattern_states = 500;
  std::shared_ptr<const Grammar> g;
  try {
    g = std::make_shared<const Grammar>(compile_json_schema(schema, lim));
  } catch (const SchemaError&) {
    return 0;
  }
  if (g->nodes.size() > lim.max_nodes + 16) std::abort();  // the limit holds
  Matcher m(g);
  MatchState s = m.start();
  const std::string bytes = cut == std::string::npos ? std::string() : in.substr(cut + 1);
  MatchState next;
  for (char c : bytes) {
    m.feed(s, uint8_t(c), next);
    if (next.dead()) break;
    if (next.ends.size() > size_t(Matcher::kMaxStacks)) std::abort();
    s = next;
  }
  // The mask agrees with feeding each allowed token (a sample of them).
  const TokenMask mask = compute_token_mask(m, *vocab, s);
  for (int32_t t = 0; t < vocab->size(); t += 997) {
    MatchState c = s;
    const bool ok = vocab->usable(t) && m.feed(c, vocab->bytes(t));
    if (ok != bool((mask[size_t(t) >> 5] >> (t & 31)) & 1u)) std::abort();
  }
  return 0;
}
