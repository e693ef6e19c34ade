#pragma once
// What a chat request asks its answer to be (response_format, strict tools,
// tool_choice, thinking_token_budget), compiled once per distinct schema
// (ServerContext::constraints) to the engine's constraint.
#include <memory>
#include <string>
#include <vector>

#include "constrain/harmony_constraint.h"
#include "harmony/conversation.h"
#include "server/request_fields.h"
#include "server/server_context.h"

namespace gptoss::server {

struct ToolChoice {
  enum Mode { Auto, None, Required, Named } mode = Auto;
  std::string name;  // Named
};

// Null when nothing is enforced (plain text, no strict tool, no budget).
// Throws ApiError 400 naming the schema keyword that strict mode cannot
// enforce (response_format's json_schema.strict, a tool's strict); a schema
// without strict mode that cannot be compiled is enforced as JSON only.
std::shared_ptr<const constrain::ConstraintSpec> prepare_constraint(const ServerContext& ctx, const Json& body,
                                                                   const std::vector<harmony::FunctionTool>& tools,
                                                                   const ToolChoice& choice,
                                                                   harmony::ReasoningEffort effort);

}  // namespace gptoss::server
