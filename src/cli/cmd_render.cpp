// gptoss render: a chat conversation (OpenAI JSON on standard input) as the
// Harmony prompt gpt-oss reads: its text, or with --ids its token ids.
#include <cctype>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <iterator>
#include <memory>

#include "cli/commands.h"
#include "cli/json_ids.h"
#include "cli/tokenizer_lookup.h"
#include "core/error.h"
#include "harmony/rendered_prompt.h"
#include "tokenizer/tokenizer.h"

namespace gptoss::cli {

namespace {

struct RenderFlags {
  std::string model;
  std::string tokenizer;
  std::string input = "-";
  std::string date;
  std::string reasoning_effort;
  bool ids = false;
  bool no_generation_prompt = false;
  bool keep_reasoning = false;
  bool channel_first = false;
};

std::string read_input(const std::string& path) {
  if (path == "-") return std::string(std::istreambuf_iterator<char>(std::cin), {});
  std::ifstream f(path, std::ios::binary);
  if (!f) throw Error("cannot read " + path + ": check the path");
  return std::string(std::istreambuf_iterator<char>(f), {});
}

}  // namespace

void add_render_command(CLI::App& app) {
  auto* cmd = app.add_subcommand(
      "render", "print the Harmony prompt for a conversation read as OpenAI chat JSON ({\"messages\":[...], "
                "\"tools\":[...], \"reasoning_effort\":...}) from standard input");
  auto f = std::make_shared<RenderFlags>();
  cmd->add_option("-m,--model", f->model, "checkpoint directory whose tokenizer.json to use (with --ids)");
  cmd->add_option("--tokenizer", f->tokenizer, "a Hugging Face tokenizer.json (with --ids; overrides --model)");
  cmd->add_option("-i,--input", f->input, "read the conversation from this file instead of standard input");
  cmd->add_flag("--ids", f->ids, "print the token ids as a JSON array instead of the text");
  cmd->add_option("--date", f->date, "the system message's current date, YYYY-MM-DD (default: today, UTC)");
  cmd->add_option("--reasoning-effort", f->reasoning_effort, "low, medium or high (overrides the conversation's)");
  cmd->add_flag("--no-generation-prompt", f->no_generation_prompt, "do not end with <|start|>assistant");
  cmd->add_flag("--keep-reasoning", f->keep_reasoning, "keep the analysis of earlier turns");
  cmd->add_flag("--channel-first", f->channel_first,
                "write tool calls as `<|channel|>commentary to=functions.f` (default: `to=functions.f<|channel|>`, "
                "as openai/harmony)");
  cmd->callback([f] {
    harmony::RenderOptions opt;
    if (!f->date.empty()) {
      bool ok = f->date.size() == 10 && f->date[4] == '-' && f->date[7] == '-';
      for (size_t i = 0; ok && i < 10; ++i) ok = i == 4 || i == 7 || std::isdigit(static_cast<unsigned char>(f->date[i]));
      if (!ok)
        throw Error("--date '" + f->date + "': write it as YYYY-MM-DD");
      opt.current_date = f->date;
    }
    opt.add_generation_prompt = !f->no_generation_prompt;
    opt.drop_old_reasoning = !f->keep_reasoning;
    opt.tool_call_recipient_first = !f->channel_first;

    harmony::Conversation conv = harmony::conversation_from_json_text(read_input(f->input));
    if (!f->reasoning_effort.empty()) conv.reasoning_effort = harmony::parse_reasoning_effort(f->reasoning_effort);
    harmony::RenderedPrompt prompt = harmony::render_conversation(conv, opt);

    if (f->ids) {
      auto tok = load_tokenizer(f->model, f->tokenizer);
      std::printf("%s\n", ids_to_json(prompt.ids(*tok)).c_str());
      return;
    }
    std::string text = prompt.text();
    std::fwrite(text.data(), 1, text.size(), stdout);
    std::fputc('\n', stdout);
  });
}

}  // namespace gptoss::cli
