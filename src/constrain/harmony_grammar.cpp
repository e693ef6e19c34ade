#include "constrain/harmony_grammar.h"

#include "constrain/json_schema.h"
#include "core/error.h"
#include "harmony/special_tokens.h"

namespace gptoss::constrain {

namespace h = gptoss::harmony;

namespace {

int free_text(Grammar& g, int32_t end_token) {
  Node n;
  n.kind = NodeKind::Free;
  n.end_marker = uint8_t(marker_of(end_token)[1]);
  return g.add(std::move(n));
}

}  // namespace

Grammar harmony_turn_grammar(const AnswerSpec& spec) {
  Grammar g;
  const std::string channel = marker_of(h::kChannel), message = marker_of(h::kMessage);
  std::vector<int> answers;
  if (spec.allow_final) {
    const int head = g.literal(channel + "final" + message);
    if (spec.final_json) answers.push_back(g.seq({head, g.splice(*spec.final_json), g.literal(marker_of(h::kReturn))}));
    else answers.push_back(g.seq({head, free_text(g, h::kReturn)}));
  }
  for (const AnswerSpec::Call& c : spec.calls) {
    const int head = g.literal(channel + "commentary to=functions." + c.name + " " + marker_of(h::kConstrain) + "json" + message);
    const int args = g.splice(c.args ? *c.args : any_json_object());
    answers.push_back(g.seq({head, args, g.literal(marker_of(h::kCall))}));
  }
  if (answers.empty()) throw Error("a constrained turn needs a final answer or a function to call");
  const int answer = answers.size() == 1 ? answers[0] : g.alt(answers);
  const int analysis = g.seq({g.literal(channel + "analysis" + message), free_text(g, h::kEnd),
                              g.literal(marker_of(h::kStart) + "assistant")});
  g.root = g.alt({g.seq({analysis, answer}), answer});
  return g;
}

}  // namespace gptoss::constrain
