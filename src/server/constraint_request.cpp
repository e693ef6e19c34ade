#include "server/constraint_request.h"

#include "constrain/harmony_grammar.h"
#include "constrain/json_schema.h"
#include "core/log.h"
#include "server/api_error.h"

namespace gptoss::server {

namespace {

// The schema of a response format, or null for free text; "json_object"
// stands for any object. *strict: the format asks for strict mode.
Json answer_schema(const Json& body, bool* strict) {
  auto rf = body.find("response_format");
  if (rf == body.end() || rf->is_null() || !rf->is_object()) return nullptr;
  const std::string type = opt_string(*rf, "type").value_or("text");
  if (type == "json_object") return "json_object";
  if (type != "json_schema") return nullptr;
  const Json& js = rf->contains("json_schema") ? (*rf)["json_schema"] : *rf;
  *strict = js.value("strict", false) == true;
  return js.value("schema", Json(nullptr));
}

// A schema we would enforce but cannot is a 400 naming the keyword, with or
// without strict mode: a schema we accept is one the answer is held to (as
// vLLM, which always enforces it), never a silently looser "any JSON".
constrain::Grammar compile(const Json& schema, const char* param) {
  try {
    if (schema.is_string() && schema.get<std::string>() == "json_object") return constrain::any_json_object();
    if (schema.is_null()) return constrain::compile_json_schema(Json::parse(R"({"type":"object","properties":{}})"));
    return constrain::compile_json_schema(schema);
  } catch (const constrain::SchemaError& e) {
    throw bad_request(std::string(param) + ": " + e.what(), param, "invalid_schema");
  }
}

}  // namespace

std::shared_ptr<const constrain::ConstraintSpec> prepare_constraint(const ServerContext& ctx, const Json& body,
                                                                   const std::vector<harmony::FunctionTool>& tools,
                                                                   const ToolChoice& choice,
                                                                   harmony::ReasoningEffort effort) {
  int budget = ctx.options.thinking_budget[int(effort)];
  if (auto b = opt_int(body, "thinking_token_budget", 0, 1 << 30)) budget = int(*b);
  bool final_strict = false;
  const Json final_schema = answer_schema(body, &final_strict);
  const bool forced_call = choice.mode == ToolChoice::Required || choice.mode == ToolChoice::Named;
  bool strict_tool = false;
  for (const auto& t : tools) strict_tool |= t.strict;
  if (choice.mode == ToolChoice::None) strict_tool = false;
  if (final_schema.is_null() && !forced_call && !strict_tool && budget < 0) return nullptr;

  // The canonical description of the answer: the cache key, and what is compiled.
  Json key = {{"final", forced_call ? Json("(none)") : final_schema}, {"strict", final_strict}, {"calls", Json::array()}};
  if (choice.mode != ToolChoice::None)
    for (const auto& t : tools) {
      if (choice.mode == ToolChoice::Named && t.name != choice.name) continue;
      const bool enforce = t.strict || forced_call;
      key["calls"].push_back({{"name", t.name},
                              {"args", enforce ? (t.parameters.is_null() ? Json::object() : t.parameters) : Json("(any)")},
                              {"strict", t.strict}});
    }
  constrain::CompiledConstraint c = ctx.constraints.get(key.dump(), [&] {
    constrain::AnswerSpec a;
    a.allow_final = !forced_call;
    if (a.allow_final && !final_schema.is_null())
      a.final_json = compile(final_schema, "response_format");
    for (const Json& call : key["calls"]) {
      constrain::AnswerSpec::Call cl;
      cl.name = call["name"].get<std::string>();
      if (!(call["args"].is_string() && call["args"].get<std::string>() == "(any)"))
        cl.args = compile(call["args"], "tools");
      a.calls.push_back(std::move(cl));
    }
    return constrain::harmony_turn_grammar(a);
  });
  if (c.compile_ms > 0) log_debug("constraint compiled in " + std::to_string(c.compile_ms) + " ms");
  auto spec = std::make_shared<constrain::ConstraintSpec>();
  spec->matcher = c.matcher;
  spec->masks = c.masks;
  spec->vocab = ctx.vocabulary();
  spec->thinking_budget = budget;
  return spec;
}

}  // namespace gptoss::server
