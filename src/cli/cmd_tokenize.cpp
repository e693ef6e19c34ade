// gptoss tokenize: text -> token ids (a JSON array), or back with --decode.
#include <cstdio>
#include <iostream>
#include <iterator>
#include <memory>

#include "cli/commands.h"
#include "cli/json_ids.h"
#include "cli/tokenizer_lookup.h"
#include "core/error.h"
#include "tokenizer/tokenizer.h"

namespace gptoss::cli {

namespace {

struct TokenizeFlags {
  std::string model;
  std::string tokenizer;
  std::string text;
  bool text_given = false;
  bool decode = false;
  bool special = false;
};

}  // namespace

void add_tokenize_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("tokenize", "print the token ids of a text as a JSON array (or --decode ids)");
  auto f = std::make_shared<TokenizeFlags>();
  cmd->add_option("-m,--model", f->model, "checkpoint directory whose tokenizer.json to use");
  cmd->add_option("--tokenizer", f->tokenizer, "a Hugging Face tokenizer.json (overrides --model)");
  cmd->add_option("--text", f->text, "the text (default: read standard input); with --decode, ids as [1,2] or 1,2");
  cmd->add_flag("--decode", f->decode, "turn token ids back into text");
  cmd->add_flag("--special", f->special,
                "recognise special tokens such as <|start|> in the text (default: they are plain text)");
  cmd->callback([f, cmd] {
    std::string text = f->text;
    if (cmd->count("--text") == 0) text.assign(std::istreambuf_iterator<char>(std::cin), {});
    auto tok = load_tokenizer(f->model, f->tokenizer);
    if (f->decode) {
      std::string out = tok->decode(parse_ids(text), /*skip_special=*/false);
      std::fwrite(out.data(), 1, out.size(), stdout);
      std::fputc('\n', stdout);
      return;
    }
    std::printf("%s\n", ids_to_json(tok->encode(text, f->special)).c_str());
  });
}

}  // namespace gptoss::cli
