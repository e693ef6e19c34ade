#pragma once
// Function tools as the model was trained to read them: a TypeScript-like
// `namespace functions { type NAME = (_: {...}) => any; }` derived from each
// tool's JSON Schema. Follows openai/harmony's renderer rule for rule (see
// json_schema_to_typescript for the few places where we go further).
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "harmony/conversation.h"

namespace gptoss::harmony {

// The TypeScript-like type of one JSON Schema, every new line starting with
// `indent`. Objects list their properties in the schema's order with
// descriptions as `// ` comments, `?` for optional ones and `// default: x`
// after them; string enums become unions of literals; arrays `T[]`; oneOf
// (and anyOf, which openai/harmony renders as `any`) a `\n | T` list.
std::string json_schema_to_typescript(const nlohmann::ordered_json& schema, const std::string& indent = "");

// True when `parameters` describes no arguments at all (null, {}, or an
// object schema without properties): such a tool is rendered `() => any`.
bool takes_no_arguments(const nlohmann::ordered_json& parameters);

// "## functions\n\nnamespace functions {\n\n// desc\ntype f = ...;\n\n} // namespace functions"
std::string render_functions_namespace(const std::vector<FunctionTool>& tools);

// "# Tools\n\n" + the namespace above: the developer message's tools section.
std::string render_tools_section(const std::vector<FunctionTool>& tools);

}  // namespace gptoss::harmony
