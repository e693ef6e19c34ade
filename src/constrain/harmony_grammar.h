#pragma once
// The grammar of an assistant turn in Harmony, the prompt having ended with
// "<|start|>assistant": an optional analysis message (free text), then the
// answer: a final message (free text, or JSON per a schema) ending with
// <|return|>, or a call to one of the allowed functions
//   <|channel|>commentary to=functions.NAME <|constrain|>json<|message|>ARGS<|call|>
// with ARGS per the tool's parameters (any JSON object when unconstrained).
// So the analysis stays free and only what the answer must be is enforced.
#include <optional>
#include <string>
#include <vector>

#include "constrain/grammar.h"

namespace gptoss::constrain {

struct AnswerSpec {
  bool allow_final = true;
  std::optional<Grammar> final_json;  // none: the final message is free text
  struct Call {
    std::string name;
    std::optional<Grammar> args;  // none: any JSON object
  };
  std::vector<Call> calls;  // functions the answer may call
};

Grammar harmony_turn_grammar(const AnswerSpec& spec);

}  // namespace gptoss::constrain
