// gptoss generate: continue a prompt (token ids, or text once a tokenizer is
// found) with the KV cache; greedy at --temperature 0.
#include <chrono>
#include <cmath>
#include <cstdio>

#include "cli/commands.h"
#include "core/error.h"
#include "cli/json_ids.h"
#include "cli/model_loading.h"
#include "cli/tokenizer_lookup.h"
#include "tokenizer/tokenizer.h"
#include "runtime/sampler.h"
#include "runtime/solo_session.h"

namespace gptoss::cli {

namespace {
struct GenerateFlags {
  ModelFlags model;
  std::string ids;
  int max_tokens = 32;
  SamplingParams sampling;
  uint64_t sample_seed = 0;
  bool has_seed = false;
  bool print_ids = false;
  bool ignore_eos = false;
  std::string prompt, tokenizer;
};
}  // namespace

void add_generate_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("generate", "generate tokens after a prompt");
  auto f = std::make_shared<GenerateFlags>();
  f->model.add_to(*cmd);
  auto* ids_opt = cmd->add_option("--ids", f->ids, "prompt token ids: 1,2,3 or [1,2,3]");
  cmd->add_option("--prompt", f->prompt, "prompt text (tokenized; special tokens like <|start|> allowed)")
      ->excludes(ids_opt);
  cmd->add_option("--tokenizer", f->tokenizer, "tokenizer.json for --prompt (default: the model's)");
  cmd->add_option("-n,--max-tokens", f->max_tokens, "tokens to generate")->capture_default_str();
  cmd->add_option("--temperature", f->sampling.temperature, "0 = greedy")->capture_default_str();
  cmd->add_option("--top-p", f->sampling.top_p)->capture_default_str();
  cmd->add_option("--top-k", f->sampling.top_k)->capture_default_str();
  cmd->add_option("--min-p", f->sampling.min_p)->capture_default_str();
  cmd->add_option("--sample-seed", f->sample_seed, "seed for sampling (reproducible output)");
  cmd->add_flag("--print-ids", f->print_ids, "print the generated ids as a JSON array");
  cmd->add_flag("--ignore-eos", f->ignore_eos, "keep going past end-of-sequence tokens");
  cmd->callback([f, cmd] {
    std::shared_ptr<const Tokenizer> tok;
    std::vector<int32_t> prompt;
    if (!f->prompt.empty()) {
      tok = load_tokenizer(f->model.model, f->tokenizer);
      prompt = tok->encode(f->prompt, true);
    } else {
      prompt = parse_ids(f->ids);
    }
    if (prompt.empty()) throw gptoss::Error("the prompt is empty: give --ids or --prompt");
    if (cmd->count("--sample-seed")) f->sampling.seed = f->sample_seed;
    ModelSource src = load_model(f->model);
    auto runner = load_runner(f->model, src);
    const int V = src.config.vocab_size;
    SoloSession session(*runner, std::max(f->model.ctx_size, int(prompt.size()) + f->max_tokens));
    Sampler sampler(f->sampling);
    auto t0 = std::chrono::steady_clock::now();
    std::vector<float> logits = session.feed(prompt);
    auto t1 = std::chrono::steady_clock::now();
    std::vector<int32_t> out;
    std::unique_ptr<StreamDecoder> decoder;
    if (tok) decoder = std::make_unique<StreamDecoder>(tok);
    for (int i = 0; i < f->max_tokens; ++i) {
      if (tok)  // ids past the tokenizer's vocabulary stand for no text
        for (int v = tok->vocab_size(); v < V; ++v) logits[size_t(v)] = -INFINITY;
      int32_t id = sampler.sample(logits.data(), V).token;
      sampler.observe(id);
      out.push_back(id);
      if (tok && !f->print_ids) {
        std::printf("%s", decoder->push(id).c_str());
        std::fflush(stdout);
      }
      bool eos = std::find(src.config.eos_token_ids.begin(), src.config.eos_token_ids.end(), id) !=
                 src.config.eos_token_ids.end();
      if ((eos && !f->ignore_eos) || i + 1 == f->max_tokens) break;
      logits = session.feed(std::vector<int32_t>{id});
    }
    auto t2 = std::chrono::steady_clock::now();
    double pre = std::chrono::duration<double>(t1 - t0).count(), dec = std::chrono::duration<double>(t2 - t1).count();
    std::fprintf(stderr, "prompt %zu tokens in %.3f s (%.1f t/s), generated %zu tokens in %.3f s (%.1f t/s)\n",
                 prompt.size(), pre, double(prompt.size()) / pre, out.size(), dec,
                 out.size() > 1 ? double(out.size() - 1) / dec : 0.0);
    if (f->print_ids || !tok) std::printf("%s\n", ids_to_json(out).c_str());
    else std::printf("%s\n", decoder->flush().c_str());
  });
}

}  // namespace gptoss::cli
