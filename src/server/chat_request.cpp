#include "server/chat_request.h"

#include <regex>

#include "core/error.h"
#include "harmony/conversation.h"
#include "harmony/rendered_prompt.h"
#include "harmony/special_tokens.h"
#include "server/api_error.h"
#include "server/constraint_request.h"

namespace gptoss::server {

namespace h = gptoss::harmony;

std::string response_format_instructions(const Json& f, const char* param) {
  if (!f.is_object()) throw bad_request(std::string(param) + " must be an object like {\"type\":\"json_object\"}", param);
  auto type = opt_string(f, "type");
  if (!type) throw bad_request(std::string(param) + ".type is missing (text, json_object or json_schema)", param);
  if (*type == "text") return {};
  if (*type == "json_object") return "Respond with one valid JSON object and nothing else.";
  if (*type != "json_schema")
    throw bad_request(std::string(param) + ".type '" + *type + "' is not one of text, json_object, json_schema", param);
  // Chat puts the schema under "json_schema"; the Responses API inline.
  const Json& js = f.contains("json_schema") ? f["json_schema"] : f;
  if (!js.is_object()) throw bad_request(std::string(param) + ".json_schema must be an object", param);
  auto name = opt_string(js, "name");
  if (!name || !std::regex_match(*name, std::regex("[A-Za-z0-9_-]{1,64}")))
    throw bad_request(std::string(param) + ".json_schema.name must be 1-64 letters, digits, _ or -", param);
  auto it = js.find("schema");
  if (it == js.end() || !it->is_object())
    throw bad_request(std::string(param) + ".json_schema.schema must be a JSON Schema object", param);
  if (auto t = it->find("type"); t != it->end() && !t->is_string() && !t->is_array())
    throw bad_request(std::string(param) + ".json_schema.schema.type must be a string or an array", param);
  opt_bool(js, "strict");
  std::string out = "# Response Formats\n\n## " + *name + "\n\n";
  if (auto d = opt_string(js, "description")) out += "// " + *d + "\n";
  return out + it->dump();
}

void fit_to_context(const ServerContext& ctx, GenerateRequest& gen, const std::optional<int>& max_tokens,
                    const char* max_param) {
  const int ctx_len = ctx.engine.options().max_model_len;
  const int plen = int(gen.prompt.size());
  if (plen >= ctx_len)
    throw bad_request("This model's maximum context length is " + std::to_string(ctx_len) + " tokens, but the prompt has " +
                          std::to_string(plen) + " tokens. Shorten the messages (or restart the server with a larger --ctx-size).",
                      "messages", "context_length_exceeded");
  if (max_tokens && plen + *max_tokens > ctx_len)
    throw bad_request("'" + std::string(max_param) + "' is too large: " + std::to_string(*max_tokens) + " + " +
                          std::to_string(plen) + " prompt tokens exceed the context length of " + std::to_string(ctx_len) +
                          " tokens; ask for at most " + std::to_string(ctx_len - plen) + ".",
                      max_param, "context_length_exceeded");
  gen.max_tokens = max_tokens.value_or(ctx_len - plen);
}

void apply_forced_output(const ServerContext& ctx, const Json& body, GenerateRequest& gen) {
  if (auto fail = debug_fail_after_tokens(body)) {
    if (!ctx.options.allow_forced_output)
      throw bad_request("gptoss_debug.fail_after_tokens is a test hook: start the server with --debug-allow-forced-output",
                        "gptoss_debug");
    gen.debug_fail_after_tokens = *fail;
  }
  auto forced = forced_output(body);
  if (!forced) return;
  if (!ctx.options.allow_forced_output)
    throw bad_request("gptoss_debug.force_output is a test hook: start the server with --debug-allow-forced-output",
                      "gptoss_debug");
  gen.sampling.forced_tokens = ctx.tokenizer->encode(*forced, /*allow_special=*/true);
}

namespace {

// The conversation as the model reads it, with what the request's tools,
// tool_choice and response_format add; the rest of prepare_chat's job.
struct RenderedChat {
  ChatJob job;  // tool_names, logprobs, top_logprobs and gen.prompt filled
  std::vector<h::FunctionTool> tools;
  ToolChoice choice;
  h::ReasoningEffort effort = h::ReasoningEffort::Medium;
};

RenderedChat render_chat(const ServerContext& ctx, const Json& body) {
  auto msgs = body.find("messages");
  if (msgs == body.end() || !msgs->is_array() || msgs->empty())
    throw bad_request("'messages' must be a non-empty array of {\"role\", \"content\"} objects", "messages");
  h::Conversation conv;
  try {
    conv = h::conversation_from_json(body);
  } catch (const Error& e) {
    const std::string what = e.what();
    const bool tools = what.rfind("tools", 0) == 0;
    throw bad_request(what, tools ? "tools" : "messages", tools ? "invalid_tool_schema" : "invalid_messages");
  }
  RenderedChat out;
  ChatJob& job = out.job;
  std::vector<h::FunctionTool>& tools = out.tools;
  try {
    tools = h::function_tools_from_json(conv.tools);
  } catch (const Error& e) {
    throw bad_request(e.what(), "tools", "invalid_tool_schema");
  }
  for (auto& t : tools) job.tool_names.push_back(t.name);

  std::vector<std::string> extra;  // instructions we add
  ToolChoice& choice = out.choice;
  if (auto tc = body.find("tool_choice"); tc != body.end() && !tc->is_null()) {
    if (tc->is_string()) {
      const std::string c = tc->get<std::string>();
      if (c == "none") {
        conv.tools = h::Conversation{}.tools;
        job.tool_names.clear();
        choice.mode = ToolChoice::None;
      } else if (c == "required") {
        if (tools.empty()) throw bad_request("tool_choice 'required' needs at least one tool", "tool_choice");
        extra.push_back("You must call one of the functions before answering.");
        choice.mode = ToolChoice::Required;
      } else if (c != "auto") {
        throw bad_request("tool_choice must be none, auto, required or {\"type\":\"function\",...}", "tool_choice");
      }
    } else if (tc->is_object()) {
      std::string name;
      if (auto f = tc->find("function"); f != tc->end() && f->is_object()) name = opt_string(*f, "name").value_or("");
      else name = opt_string(*tc, "name").value_or("");
      if (std::find(job.tool_names.begin(), job.tool_names.end(), name) == job.tool_names.end())
        throw bad_request("tool_choice names function '" + name + "', which is not among the tools", "tool_choice");
      extra.push_back("You must call the function " + name + ".");
      choice = ToolChoice{ToolChoice::Named, name};
    } else {
      throw bad_request("tool_choice must be a string or an object", "tool_choice");
    }
  }
  if (auto rf = body.find("response_format"); rf != body.end() && !rf->is_null()) {
    std::string s = response_format_instructions(*rf, "response_format");
    if (!s.empty()) extra.push_back(s);
  }
  if (!extra.empty()) {
    size_t at = 0;
    while (at < conv.messages.size() && (conv.messages[at].role == h::ChatRole::System ||
                                         conv.messages[at].role == h::ChatRole::Developer))
      ++at;
    for (auto& s : extra) {
      h::ChatMessage m;
      m.role = h::ChatRole::Developer;
      m.content = s;
      conv.messages.insert(conv.messages.begin() + long(at++), m);
    }
  }
  job.logprobs = opt_bool(body, "logprobs").value_or(false);
  if (auto v = opt_int(body, "top_logprobs", 0, 20)) job.top_logprobs = int(*v);
  if (job.top_logprobs > 0 && !job.logprobs)
    throw bad_request("top_logprobs needs logprobs: true", "top_logprobs");

  try {
    job.gen.prompt = h::render_conversation(conv).ids(*ctx.tokenizer);
  } catch (const Error& e) {
    throw bad_request(e.what(), "messages");
  }
  out.effort = conv.reasoning_effort;
  return out;
}

}  // namespace

std::vector<int32_t> chat_prompt_ids(const ServerContext& ctx, const Json& body) {
  return render_chat(ctx, body).job.gen.prompt;
}

ChatJob prepare_chat(const ServerContext& ctx, const Json& body, const CommonParams& common, const char* max_param) {
  RenderedChat r = render_chat(ctx, body);
  ChatJob job = std::move(r.job);
  job.gen.sampling = common.sampling;
  job.gen.sampling.logprobs = job.logprobs;
  job.gen.sampling.top_logprobs = job.top_logprobs;
  job.gen.stop_token_ids = {h::kReturn, h::kCall, h::kEndOfText};
  job.stop = common.stop;
  fit_to_context(ctx, job.gen, common.max_tokens, max_param);
  apply_forced_output(ctx, body, job.gen);
  job.gen.constraint = prepare_constraint(ctx, body, r.tools, r.choice, r.effort);
  return job;
}

}  // namespace gptoss::server
