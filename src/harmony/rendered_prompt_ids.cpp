// RenderedPrompt::ids lives apart from the rest of the renderer: it is the
// only part that needs a tokenizer.
#include "core/error.h"
#include "harmony/rendered_prompt.h"
#include "tokenizer/tokenizer.h"

namespace gptoss::harmony {

std::vector<int32_t> RenderedPrompt::ids(const Tokenizer& tok) const {
  for (Special s : kAllSpecials) {
    if (s == Special::StartOfText || s == Special::EndOfText || s == Special::EndOfPrompt) continue;
    auto id = tok.token_id(text_of(s));
    if (id && *id != id_of(s))
      throw Error("the tokenizer gives " + std::string(text_of(s)) + " id " + std::to_string(*id) + ", not " +
                  std::to_string(id_of(s)) + ": gpt-oss needs the o200k_harmony tokenizer");
  }
  std::vector<int32_t> out;
  for (const auto& p : pieces) {
    if (p.is_special()) {
      out.push_back(id_of(p.special));
    } else {
      auto ids = tok.encode(p.text, /*allow_special=*/false);
      out.insert(out.end(), ids.begin(), ids.end());
    }
  }
  return out;
}

}  // namespace gptoss::harmony
