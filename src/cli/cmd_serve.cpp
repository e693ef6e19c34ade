// gptoss serve: the OpenAI-compatible HTTP server (chat completions,
// completions, responses, models, health, metrics, status) and the web chat
// UI on one loaded model.
#include <csignal>
#include <pthread.h>
#include <thread>

#include "cli/commands.h"
#include "cli/model_loading.h"
#include "cli/placement.h"
#include "cli/tokenizer_lookup.h"
#include "core/error.h"
#include "core/log.h"
#include "core/mem_size.h"
#include "runtime/engine.h"
#include "server/http_server.h"

namespace gptoss::cli {

namespace {
struct ServeFlags {
  ModelFlags model;
  server::ServerOptions server;
  EngineOptions engine = [] {
    EngineOptions e;
    e.gpu_memory_utilization = 0.9;  // as vLLM; only used on a GPU
    e.max_queued_requests = 1024;    // bounded: past it clients are told to retry
    // As many sequences as the KV cache holds comfortably (measured on the
    // H100, 2000/100 x 1000 at 256 clients: 256 sequences 30.6k total tok/s).
    e.max_num_seqs = 0;
    // A client that stops reading pauses its sequence after this many tokens
    // (about 100 bytes each, plus 8 per top-logprob) instead of having its
    // whole answer generated into memory. A reader that keeps up never gets
    // near it; an n > 1 stream's later choices, read only after the earlier
    // ones, pause there until their turn.
    e.max_unread_tokens = 1024;
    e.max_num_batched_tokens = 0;  // default_batched_tokens() (cli/placement.h)
    return e;
  }();
  std::string kv_cache_size;
  std::string tokenizer;
  std::string max_request_bytes = "8MiB";
  bool no_prefix_caching = false;
};
}  // namespace

void add_serve_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("serve", "serve the OpenAI API over HTTP (chat/completions, completions, responses)");
  auto f = std::make_shared<ServeFlags>();
  f->model.add_to(*cmd);
  cmd->add_option("--host", f->server.host, "address to listen on (0.0.0.0 exposes the server to the network)")
      ->capture_default_str();
  cmd->add_option("--port", f->server.port, "TCP port (0: any free port, printed at start)")->capture_default_str();
  cmd->add_option("--api-key", f->server.api_key, "require 'Authorization: Bearer KEY' (default: $GPTOSS_API_KEY)");
  cmd->add_option("--served-model-name", f->server.model_name, "model id in the API (default: the --model name)");
  cmd->add_option("--cors", f->server.cors_origins, "allowed browser origins: '*' or a comma-separated list (default: none)");
  cmd->add_option("--max-num-seqs", f->engine.max_num_seqs,
                  "sequences in the running batch (0: up to 256, as many as a quarter of the KV cache holds the "
                  "sliding-window rings of; 64 on a CPU)")
      ->capture_default_str();
  cmd->add_option("--max-num-batched-tokens", f->engine.max_num_batched_tokens,
                  "new tokens per step, prompt chunks + decodes (0: 8192 on one GPU of 70 GiB or more, else 2048)")
      ->capture_default_str();
  cmd->add_option("--kv-cache-size", f->kv_cache_size, "KV cache memory, e.g. 2GiB (default: what --ctx-size x --max-num-seqs needs, at most 1 GiB)");
  cmd->add_option("--max-connections", f->server.max_connections,
                  "open connections (idle and slow ones cost only a socket); more are answered 503 with "
                  "Retry-After and closed")
      ->capture_default_str()
      ->check(CLI::Range(1, 1 << 20));
  cmd->add_option("--http-threads", f->server.http_threads,
                  "requests handled at once, threads started as needed (a stream holds one for its whole length)")
      ->capture_default_str()
      ->check(CLI::Range(1, 65536));
  cmd->add_option("--max-waiting-requests,--max-waiting-connections", f->server.max_waiting_requests,
                  "requests that may wait for a handler thread; more are answered 503 with Retry-After at once")
      ->capture_default_str()
      ->check(CLI::Range(0, 1 << 20));
  cmd->add_option("--header-timeout", f->server.header_timeout_seconds,
                  "seconds from a request's first byte to its last header; slower clients are disconnected")
      ->capture_default_str()
      ->check(CLI::Range(1, 3600));
  cmd->add_option("--keep-alive-timeout", f->server.keep_alive_timeout_seconds,
                  "seconds an idle connection stays open (announced as Keep-Alive: timeout, 5 s less)")
      ->capture_default_str()
      ->check(CLI::Range(6, 86400));
  cmd->add_option("--gpu-memory-utilization", f->engine.gpu_memory_utilization,
                  "share of the GPU's memory to fill (weights + activations + KV cache) when --kv-cache-size is not given")
      ->capture_default_str();
  cmd->add_flag("--no-prefix-caching", f->no_prefix_caching, "do not reuse KV blocks across requests with a common prefix");
  cmd->add_option("--tokenizer", f->tokenizer, "tokenizer.json (default: found next to the model, $GPTOSS_TOKENIZER, or the one gptoss ships in share/gptoss)");
  cmd->add_option("--drain-seconds", f->server.drain_seconds, "on SIGINT/SIGTERM, how long in-flight requests may finish")
      ->capture_default_str();
  cmd->add_option("--max-request-bytes", f->max_request_bytes, "largest request body accepted, e.g. 8MiB (larger: 413)")
      ->capture_default_str();
  cmd->add_option("--max-queued-requests", f->engine.max_queued_requests,
                  "requests that may wait for a place in the batch; more get 429 with Retry-After (0: no limit)")
      ->capture_default_str();
  cmd->add_option("--max-unread-tokens", f->engine.max_unread_tokens,
                  "tokens a request may be ahead of what its client has read; past it the sequence pauses until the "
                  "client catches up (0: no limit)")
      ->capture_default_str()
      ->check(CLI::Range(0, 1 << 30));
  cmd->add_flag("--lookahead,!--no-lookahead", f->engine.lookahead,
                "queue each decode step before the previous one's tokens reach the host, its tokens fed on the GPU")
      ->capture_default_str();
  const char* effort_names[3] = {"low", "medium", "high"};
  for (int e = 0; e < 3; ++e)
    cmd->add_option(std::string("--thinking-budget-") + effort_names[e], f->server.thinking_budget[e],
                    std::string("analysis tokens a request with reasoning_effort ") + effort_names[e] +
                        " may use before the answer is forced, unless it gives thinking_token_budget (-1: no limit)")
        ->capture_default_str()
        ->check(CLI::Range(-1, 1 << 30));
  cmd->add_flag("--log-prompts", f->server.log_prompts,
                "write each request's prompt text to the log (default: only ids and token counts; prompts may be private)");
  cmd->add_flag("--debug-allow-forced-output", f->server.allow_forced_output,
                "TESTS ONLY: honour gptoss_debug.force_output in requests (replaces sampling)");
  cmd->callback([f, cmd] {
    // Signals are taken by one thread (below); every thread started from here inherits the mask.
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &sigs, nullptr);
    std::signal(SIGPIPE, SIG_IGN);
    if (f->server.api_key.empty())
      if (const char* k = std::getenv("GPTOSS_API_KEY")) f->server.api_key = k;
    f->server.max_request_bytes = parse_mem_size(f->max_request_bytes);
    if (f->server.max_request_bytes < 1024) throw Error("--max-request-bytes must be at least 1KiB");

    // The port first: a port in use is reported before the model loads.
    server::ListenSocket listening(f->server.host, f->server.port, f->server.socket_send_buffer_bytes);

    auto tok = load_tokenizer(f->model.model, f->tokenizer);
    ModelSource src = load_model(f->model);
    if (f->server.model_name == "gpt-oss") f->server.model_name = src.name;
    if (f->engine.max_num_batched_tokens == 0) {
      const std::string device = resolve_device(f->model.device);
      size_t free_b = 0, total_b = 0;
      if (!gpu_memory_info(device, &free_b, &total_b)) total_b = 0;  // a CPU, or no answer
      f->engine.max_num_batched_tokens = default_batched_tokens(f->model, device, total_b);
      log_info("--max-num-batched-tokens " + std::to_string(f->engine.max_num_batched_tokens));
    }
    uint64_t planned_kv = 0;
    // Steps are sized (activations, rings) for the batched tokens, so the scheduler can fill them.
    auto runner = load_runner(f->model, src, f->engine.max_num_batched_tokens,
                              f->engine.gpu_memory_utilization, &planned_kv,
                              f->engine.max_num_seqs > 0 ? f->engine.max_num_seqs : EngineOptions::kDefaultMaxNumSeqs);
    if (tok->vocab_size() > src.config.vocab_size)
      log_warn("the tokenizer has " + std::to_string(tok->vocab_size()) + " tokens but the model only " +
               std::to_string(src.config.vocab_size) + ": prompts using the others will be refused");
    f->engine.max_model_len = f->model.ctx_size;
    // On a GPU without --ctx-size: the model's whole context, as far as the
    // KV cache holds it (placement above still plans for --ctx-size's
    // default, so the context never pushes experts off the GPU).
    if (cmd->count("--ctx-size") == 0 && !runner->device_memory().empty()) {
      f->engine.max_model_len = std::max(f->model.ctx_size, src.config.max_position_embeddings);
      f->engine.fit_max_model_len = true;
    }
    f->engine.prefix_caching = !f->no_prefix_caching;
    if (!f->kv_cache_size.empty()) f->engine.kv_cache_bytes = parse_mem_size(f->kv_cache_size);
    else if (planned_kv > 0) f->engine.kv_cache_bytes = planned_kv;
    Engine engine(*runner, f->engine);

    server::ServerContext ctx{engine, tok, f->server};
    server::HttpServer http(ctx);
    const int port = http.bind(std::move(listening));
    std::thread([&http, sigs] {
      int sig = 0;
      sigwait(&sigs, &sig);
      log_info(std::string("received ") + (sig == SIGINT ? "SIGINT" : "SIGTERM"));
      http.stop();
    }).detach();
    log_info("serving " + f->server.model_name + " on http://" + f->server.host + ":" + std::to_string(port) +
             "/v1, chat UI at / (max " + std::to_string(engine.options().max_num_seqs) + " sequences, context " +
             std::to_string(engine.options().max_model_len) + " tokens" + (f->server.api_key.empty() ? "" : ", API key required") + ")");
    std::printf("listening on %s:%d\n", f->server.host.c_str(), port);
    std::fflush(stdout);
    http.serve();
    log_info("server stopped");
  });
}

}  // namespace gptoss::cli
