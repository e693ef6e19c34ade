// gptoss: one binary for serving, chatting, generating, inspecting and
// benchmarking gpt-oss models.
#include <cstdio>

#include "cli/commands.h"
#include "core/error.h"

int main(int argc, char** argv) {
  CLI::App app{"gptoss: fast gpt-oss inference on CPU and NVIDIA GPUs"};
  app.require_subcommand(1);
  app.set_help_all_flag("--help-all", "help for every subcommand");
  // Every flag can come from a TOML/INI file instead (a [serve] section for
  // `gptoss serve`; the command line wins). Subcommands pass --config up, so
  // `gptoss serve --config /etc/gptoss/serve.toml` works.
  app.set_config("--config", "", "read options from a TOML/INI file ([serve] section for serve flags)");
  app.fallthrough();
  using namespace gptoss::cli;
  add_inspect_command(app);
  add_plan_command(app);
  add_logits_command(app);
  add_generate_command(app);
  add_bench_command(app);
  add_tp_worker_command(app);
#ifdef GPTOSS_CMD_TOKENIZE
  add_tokenize_command(app);
#endif
#ifdef GPTOSS_CMD_CHAT
  add_chat_command(app);
#endif
#ifdef GPTOSS_CMD_SERVE
  add_serve_command(app);
#endif
#ifdef GPTOSS_CMD_RENDER
  add_render_command(app);
#endif
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const gptoss::Error& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "internal error: %s\n", e.what());
    return 2;
  }
  return 0;
}
