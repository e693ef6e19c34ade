#pragma once
// A grammar over bytes, the form every constraint is compiled to: JSON Schema
// values, the Harmony headers around them, and the free text of the analysis
// channel. Nodes form a graph (a $ref may point back up, so it can be
// cyclic); Matcher (matcher.h) walks it as a pushdown automaton, one stack per
// alternative still alive.
//
// Harmony control tokens appear in the grammar as two bytes, kMarker then the
// token's code (marker_of): 0xFF never occurs in UTF-8, and Vocabulary leaves
// out the few tokens that contain it, so text can never pass for a token.
#include <cstdint>
#include <string>
#include <vector>

namespace gptoss::constrain {

inline constexpr uint8_t kMarker = 0xFF;

enum class NodeKind : uint8_t {
  Literal,  // exactly `text`
  Seq,      // kids in order
  Alt,      // one of kids (a single kid: an indirection, e.g. a $ref)
  Object,   // {"k":v,...}: props in order; optional ones may be left out
  Map,      // any object: {kids[1]: kids[0], ...} (kids[1] a String node)
  Array,    // [kids[0], ...] with min_count..max_count items
  String,   // "...": min_count..max_count characters, matching dfa if >= 0
  Number,   // -?int(.frac)?, within the bounds; integer: no fraction
  Free,     // any text up to the marker `end_marker` (which it consumes)
};

struct Property {
  std::string key_json;  // the key as JSON text, quotes included
  int value = -1;        // node id
  bool required = true;
};

struct Node {
  NodeKind kind = NodeKind::Literal;
  std::string text;                  // Literal
  std::vector<int> kids;             // Seq, Alt; Map/Array: kids[0] the values
  std::vector<Property> props;       // Object
  int64_t min_count = 0, max_count = -1;  // Array items, String characters; -1: none
  int dfa = -1;                      // String: Grammar::dfas index, or -1
  bool integer = false;              // Number
  bool has_min = false, has_max = false, excl_min = false, excl_max = false;
  double min = 0, max = 0;           // Number
  uint8_t end_marker = 0;            // Free
};

// A deterministic automaton over the (ASCII) characters of a string value.
struct Dfa {
  std::vector<int16_t> next;  // [state * 128 + char], -1: no way on
  std::vector<bool> accepting;
  int states() const { return int(accepting.size()); }
};

struct Grammar {
  std::vector<Node> nodes;
  std::vector<Dfa> dfas;
  int root = -1;

  int add(Node n) {
    nodes.push_back(std::move(n));
    return int(nodes.size()) - 1;
  }
  int literal(std::string text) {
    Node n;
    n.text = std::move(text);
    return add(std::move(n));
  }
  int seq(std::vector<int> kids) {
    Node n;
    n.kind = NodeKind::Seq;
    n.kids = std::move(kids);
    return add(std::move(n));
  }
  int alt(std::vector<int> kids) {
    Node n;
    n.kind = NodeKind::Alt;
    n.kids = std::move(kids);
    return add(std::move(n));
  }
  // Appends `other`'s nodes (renumbered) and returns the id of its root.
  int splice(const Grammar& other);
  // A rough size in bytes, for the compile budget.
  size_t size_bytes() const;
};

// The two bytes a Harmony control token stands for in a grammar.
std::string marker_of(int32_t token_id);

}  // namespace gptoss::constrain
