// gptoss chat: an interactive terminal chat in the Harmony format. Reasoning
// (the analysis channel) is shown dimmed as it streams, the final answer
// plainly; tool calls are printed (there are no tools to run here).
#include <unistd.h>

#include <cstdio>
#include <iostream>

#include "cli/commands.h"
#include "cli/model_loading.h"
#include "cli/tokenizer_lookup.h"
#include "core/error.h"
#include "harmony/harmony_parser.h"
#include "harmony/rendered_prompt.h"
#include "runtime/sampler.h"
#include "runtime/solo_session.h"
#include "tokenizer/tokenizer.h"

namespace gptoss::cli {

namespace {
struct ChatFlags {
  ModelFlags model;
  std::string tokenizer;
  std::string system;
  std::string effort = "medium";
  int max_tokens = 2048;
  SamplingParams sampling;
  uint64_t sample_seed = 0;
};

// Ids past the tokenizer's vocabulary exist in the model's output layer but
// stand for no text: never sample them.
void mask_unused_ids(std::vector<float>& logits, int tokenizer_vocab) {
  for (size_t i = size_t(tokenizer_vocab); i < logits.size(); ++i) logits[i] = -INFINITY;
}
}  // namespace

void add_chat_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("chat", "chat with the model in the terminal (Harmony format)");
  auto f = std::make_shared<ChatFlags>();
  f->model.add_to(*cmd);
  cmd->add_option("--tokenizer", f->tokenizer, "tokenizer.json (default: the model's, else the bundled one)");
  cmd->add_option("--system", f->system, "developer instructions");
  cmd->add_option("--reasoning-effort", f->effort, "low, medium or high")->capture_default_str();
  cmd->add_option("-n,--max-tokens", f->max_tokens, "tokens per reply")->capture_default_str();
  cmd->add_option("--temperature", f->sampling.temperature)->capture_default_str();
  cmd->add_option("--top-p", f->sampling.top_p)->capture_default_str();
  cmd->add_option("--sample-seed", f->sample_seed, "seed for reproducible sampling");
  cmd->callback([f, cmd] {
    if (cmd->count("--sample-seed")) f->sampling.seed = f->sample_seed;
    auto tok = load_tokenizer(f->model.model, f->tokenizer);
    ModelSource src = load_model(f->model);
    auto runner = load_runner(f->model, src);
    SoloSession session(*runner, f->model.ctx_size);
    const bool tty = isatty(STDOUT_FILENO);
    const char* dim = tty ? "\033[2m" : "";
    const char* plain = tty ? "\033[0m" : "";
    harmony::Conversation conv;
    conv.reasoning_effort = harmony::parse_reasoning_effort(f->effort);
    if (!f->system.empty()) conv.messages.push_back({harmony::ChatRole::Developer, f->system, {}, {}, {}, {}});
    std::fprintf(stderr, "chatting with %s on %s; empty line or Ctrl-D to quit\n", src.name.c_str(),
                 runner->device_name().c_str());
    std::string line;
    Sampler sampler(f->sampling);
    for (;;) {
      std::printf("%s> ", plain);
      std::fflush(stdout);
      if (!std::getline(std::cin, line) || line.empty()) break;
      conv.messages.push_back({harmony::ChatRole::User, line, {}, {}, {}, {}});
      auto ids = harmony::render_conversation(conv).ids(*tok);
      session.reset();  // earlier turns render differently (old reasoning is dropped): start over
      std::vector<float> logits = session.feed(ids);
      harmony::ParserOptions po;
      po.is_special = [&](int32_t id) { return tok->is_special(id); };
      harmony::HarmonyParser parser([&](int32_t id) { return tok->generated_bytes(id); }, po);
      bool in_reasoning = false;
      for (int i = 0; i < f->max_tokens && !parser.stopped(); ++i) {
        mask_unused_ids(logits, tok->vocab_size());
        int32_t id = sampler.sample(logits.data(), int(logits.size())).token;
        for (auto& e : parser.push(id)) {
          if (e.kind == harmony::HarmonyEvent::Kind::ReasoningDelta) {
            if (!in_reasoning) std::printf("%s", dim), in_reasoning = true;
            std::printf("%s", e.text.c_str());
          } else if (e.kind == harmony::HarmonyEvent::Kind::ContentDelta) {
            if (in_reasoning) std::printf("%s\n", plain), in_reasoning = false;
            std::printf("%s", e.text.c_str());
          } else if (e.kind == harmony::HarmonyEvent::Kind::ToolCallDone) {
            std::printf("%s\n[tool call %s(%s)]\n", plain, e.tool_call.name.c_str(), e.tool_call.arguments.c_str());
          }
        }
        std::fflush(stdout);
        if (parser.stopped() || session.position() >= session.max_context()) break;
        logits = session.feed(std::vector<int32_t>{id});
      }
      parser.finish();
      std::printf("%s\n", plain);
      harmony::ChatMessage reply{harmony::ChatRole::Assistant, parser.content(), parser.reasoning(), {}, {}, {}};
      for (auto& c : parser.tool_calls()) reply.tool_calls.push_back({"call_" + std::to_string(c.index), c.name, c.arguments});
      conv.messages.push_back(reply);
    }
  });
}

}  // namespace gptoss::cli
