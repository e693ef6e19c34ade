// GET /v1/status: what the web UI's status panel shows, as one small JSON
// object. Polled every few seconds by every open page, so it only reads
// counters the engine already keeps (and one driver query per GPU).
#include <ctime>

#include "server/endpoints.h"
#include "server/http_util.h"

namespace gptoss::server {

void handle_status(ServerContext& ctx, const HttpRequest&, HttpResponse& res) {
  const Engine& engine = ctx.engine;
  const EngineStats st = engine.stats();
  const EngineMetrics& m = engine.metrics();

  Json devices = Json::array();
  const std::string device = engine.runner().device_name();
  const auto memory = engine.runner().device_memory();
  if (memory.empty()) {
    devices.push_back({{"name", device}, {"memory_used_bytes", nullptr}, {"memory_total_bytes", nullptr}});
  } else {
    for (size_t i = 0; i < memory.size(); ++i)
      devices.push_back({{"name", memory.size() == 1 ? device : device + " #" + std::to_string(i)},
                         {"memory_used_bytes", memory[i].used},
                         {"memory_total_bytes", memory[i].total}});
  }

  Json last = nullptr;
  {
    std::lock_guard lock(ctx.reply_mu);
    if (ctx.last_reply)
      last = {{"completion_tokens", ctx.last_reply->completion_tokens},
              {"tokens_per_second", ctx.last_reply->tokens_per_s},
              {"time_to_first_token_seconds", ctx.last_reply->ttft_s}};
  }

  Json out = {
      {"object", "status"},
      {"model", ctx.options.model_name},
      {"max_model_len", engine.options().max_model_len},
      {"uptime_seconds", int64_t(std::time(nullptr) - ctx.started)},
      {"devices", devices},
      {"kv_cache",
       {{"usage", st.kv.full_total ? double(st.kv.full_used) / st.kv.full_total : 0.0},
        {"full_blocks_used", st.kv.full_used},
        {"full_blocks_total", st.kv.full_total},
        {"window_blocks_used", st.kv.window_used},
        {"window_blocks_total", st.kv.window_total},
        {"block_size", engine.options().block_size}}},
      {"requests",
       {{"running", st.running},
        {"waiting", st.waiting},
        {"held_back", st.held_back},
        {"submitted", m.requests_submitted.load()},
        {"cancelled", m.finished_cancelled.load()}}},
      {"last_reply", last},
  };
  res.set_header("Cache-Control", "no-store");
  res.set_content(dump_json(out), "application/json");
}

}  // namespace gptoss::server
