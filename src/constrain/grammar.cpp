#include "constrain/grammar.h"

#include "core/error.h"

namespace gptoss::constrain {

int Grammar::splice(const Grammar& other) {
  const int base = int(nodes.size());
  const int dfa_base = int(dfas.size());
  for (Node n : other.nodes) {
    for (int& k : n.kids) k += base;
    for (Property& p : n.props) p.value += base;
    if (n.dfa >= 0) n.dfa += dfa_base;
    nodes.push_back(std::move(n));
  }
  dfas.insert(dfas.end(), other.dfas.begin(), other.dfas.end());
  return other.root + base;
}

size_t Grammar::size_bytes() const {
  size_t s = 0;
  for (const Node& n : nodes) {
    s += sizeof(Node) + n.text.size() + n.kids.size() * sizeof(int);
    for (const Property& p : n.props) s += sizeof(Property) + p.key_json.size();
  }
  for (const Dfa& d : dfas) s += d.next.size() * sizeof(int16_t) + d.accepting.size();
  return s;
}

std::string marker_of(int32_t token_id) {
  // The Harmony control tokens lie in [199998, 200018]: codes 8..28.
  if (token_id < 199998 || token_id > 200018) throw Error("token " + std::to_string(token_id) + " has no grammar marker");
  return std::string{char(kMarker), char(token_id - 199990)};
}

}  // namespace gptoss::constrain
