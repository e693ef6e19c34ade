// gptoss logits: one prefill over given ids, logits of every position to a
// safetensors file (F32 "logits" [T, vocab]). Used to compare engines.
#include "cli/commands.h"
#include "core/error.h"
#include "cli/json_ids.h"
#include "cli/model_loading.h"
#include "format/safetensors.h"
#include "runtime/solo_session.h"

namespace gptoss::cli {

void add_logits_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("logits", "write the logits of every position of one prefill to a safetensors file");
  auto flags = std::make_shared<ModelFlags>();
  flags->add_to(*cmd);
  auto ids_file = std::make_shared<std::string>();
  auto out = std::make_shared<std::string>();
  cmd->add_option("--ids-file", *ids_file, "JSON array of token ids")->required();
  cmd->add_option("-o,--out", *out, "output .safetensors file")->required();
  cmd->callback([flags, ids_file, out] {
    auto ids = read_ids_file(*ids_file);
    if (ids.empty()) throw gptoss::Error(*ids_file + ": no token ids");
    ModelSource src = load_model(*flags);
    auto runner = load_runner(*flags, src);
    SoloSession session(*runner, std::max(flags->ctx_size, int(ids.size())));
    std::vector<float> logits = session.feed(ids, true);
    write_safetensors(*out, {{"logits", DType::F32, {int64_t(ids.size()), src.config.vocab_size}, logits.data()}},
                      {{"model", src.name}, {"device", runner->device_name()}});
    std::fprintf(stderr, "wrote %s: logits [%zu, %d]\n", out->c_str(), ids.size(), src.config.vocab_size);
  });
}

}  // namespace gptoss::cli
