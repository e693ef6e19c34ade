#pragma once
// JSON Schema, as OpenAI's strict structured outputs take it, compiled to a
// Grammar whose language is compact JSON text (no whitespace) that
// validates against the schema. Supported: type (one or a list), object
// (properties, required, additionalProperties), array (items, minItems,
// maxItems), string (enum, const, pattern, format, minLength, maxLength),
// number and integer (minimum, maximum, exclusiveMinimum, exclusiveMaximum),
// boolean, null, enum, const, anyOf, $defs/definitions with $ref (recursion
// included). Annotations (description, title, default, examples, $schema,
// $id, $comment) are ignored. Anything else throws SchemaError naming it.
//
// Properties come out in the schema's order, optional ones may be left out;
// numbers have at most 15 integer and 9 fraction digits and no exponent, so a
// value never runs on forever where the schema bounds it.
#include <nlohmann/json.hpp>

#include "constrain/grammar.h"
#include "constrain/schema_error.h"

namespace gptoss::constrain {

struct SchemaLimits {
  size_t max_nodes = 20000;
  size_t max_bytes = 8u << 20;  // compiled size, DFAs included
  int max_depth = 64;           // nesting of schema objects
  int max_pattern_states = 2000;
};

// The grammar of JSON text that validates against `schema`.
Grammar compile_json_schema(const nlohmann::ordered_json& schema, const SchemaLimits& limits = {});

// Any JSON object ({"type":"json_object"}).
Grammar any_json_object();

}  // namespace gptoss::constrain
