#pragma once
// Each subcommand of the `gptoss` binary lives in its own cmd_<name>.cpp and
// registers itself on the CLI11 app here. main.cpp calls every add_*.
#include <CLI/CLI.hpp>

namespace gptoss::cli {

void add_inspect_command(CLI::App& app);
void add_plan_command(CLI::App& app);
void add_logits_command(CLI::App& app);
void add_generate_command(CLI::App& app);
void add_tokenize_command(CLI::App& app);
void add_render_command(CLI::App& app);
void add_serve_command(CLI::App& app);
void add_bench_command(CLI::App& app);
// `gptoss bench serve|scenarios|lengths`: client-side benchmarks of a running server.
void add_bench_serve_command(CLI::App& bench);
void add_bench_scenarios_command(CLI::App& bench);
void add_bench_lengths_command(CLI::App& bench);
void add_chat_command(CLI::App& app);
// A rank of a leader's tensor-parallel group in its own process (--nccl-id-file).
void add_tp_worker_command(CLI::App& app);

}  // namespace gptoss::cli
