#pragma once
// What several fuzz targets share, built once per process: the real
// o200k_harmony tokenizer (from $GPTOSS_TOKENIZER, else the test oracle's
// copy) and a server context on synthetic:tiny, so request parsing runs
// exactly as in `gptoss serve` minus the HTTP.
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>

#include "format/model_source.h"
#include "model/runner_factory.h"
#include "runtime/engine.h"
#include "server/server_context.h"
#include "tokenizer/tokenizer.h"

namespace gptoss::fuzz {

inline std::shared_ptr<const Tokenizer> real_tokenizer() {
  const char* env = std::getenv("GPTOSS_TOKENIZER");
  const std::string path = env ? env : GPTOSS_FUZZ_TOKENIZER;
  return Tokenizer::load(path);
}

struct ServerFixture {
  ModelSource source = open_model("synthetic:tiny");
  std::unique_ptr<ModelRunner> runner = make_runner(source, [] {
    RunnerOptions o;
    o.max_step_tokens = 256;
    o.threads = 1;
    return o;
  }());
  std::unique_ptr<Engine> engine = [this] {
    EngineOptions o;
    o.max_num_seqs = 4;
    o.max_model_len = 2048;
    return std::make_unique<Engine>(*runner, o);
  }();
  server::ServerContext ctx{*engine, real_tokenizer(), [] {
                              server::ServerOptions o;
                              o.allow_forced_output = true;  // parse the test hooks too
                              return o;
                            }()};
};

}  // namespace gptoss::fuzz
