// GET /v1/models, /v1/models/{id} and GET /metrics (Prometheus text format).
#include <sstream>

#include "server/api_error.h"
#include "server/endpoints.h"
#include "server/http_util.h"

namespace gptoss::server {

namespace {
Json model_object(const ServerContext& ctx) {
  return {{"id", ctx.options.model_name},
          {"object", "model"},
          {"created", ctx.started},
          {"owned_by", "gptoss.cpp"},
          {"max_model_len", ctx.engine.options().max_model_len}};
}
}  // namespace

void handle_models(ServerContext& ctx, const HttpRequest&, HttpResponse& res) {
  res.set_content(dump_json({{"object", "list"}, {"data", Json::array({model_object(ctx)})}}), "application/json");
}

void handle_model(ServerContext& ctx, const HttpRequest& req, HttpResponse& res) {
  const std::string id = req.path.substr(std::string("/v1/models/").size());
  if (id != ctx.options.model_name)
    throw ApiError(404, "The model '" + id + "' does not exist: this server serves '" + ctx.options.model_name + "'",
                   "model", "model_not_found");
  res.set_content(dump_json(model_object(ctx)), "application/json");
}

namespace {
void counter(std::ostream& o, const char* name, const char* help, int64_t v) {
  o << "# HELP " << name << ' ' << help << "\n# TYPE " << name << " counter\n" << name << ' ' << v << '\n';
}
void gauge(std::ostream& o, const char* name, const char* help, double v) {
  o << "# HELP " << name << ' ' << help << "\n# TYPE " << name << " gauge\n" << name << ' ' << v << '\n';
}
void histogram(std::ostream& o, const char* name, const char* help, const Histogram& h) {
  auto s = h.snapshot();
  o << "# HELP " << name << ' ' << help << "\n# TYPE " << name << " histogram\n";
  for (size_t i = 0; i < s.bounds.size(); ++i) o << name << "_bucket{le=\"" << s.bounds[i] << "\"} " << s.cumulative[i] << '\n';
  o << name << "_bucket{le=\"+Inf\"} " << s.cumulative.back() << '\n';
  o << name << "_sum " << s.sum << '\n' << name << "_count " << s.count << '\n';
}
}  // namespace

void handle_metrics(ServerContext& ctx, const HttpRequest&, HttpResponse& res) {
  const EngineMetrics& m = ctx.engine.metrics();
  const EngineStats st = ctx.engine.stats();
  std::ostringstream o;
  counter(o, "gptoss_requests_submitted_total", "Requests accepted by the engine.", m.requests_submitted);
  counter(o, "gptoss_requests_rejected_total", "Requests refused before running (too long, bad ids).", m.requests_rejected);
  o << "# HELP gptoss_requests_finished_total Requests finished, by reason.\n# TYPE gptoss_requests_finished_total counter\n";
  o << "gptoss_requests_finished_total{reason=\"stop\"} " << m.finished_stop << '\n';
  o << "gptoss_requests_finished_total{reason=\"length\"} " << m.finished_length << '\n';
  o << "gptoss_requests_finished_total{reason=\"cancelled\"} " << m.finished_cancelled << '\n';
  o << "gptoss_requests_finished_total{reason=\"error\"} " << m.finished_error << '\n';
  counter(o, "gptoss_prompt_tokens_total", "Prompt tokens of admitted requests.", m.prompt_tokens);
  counter(o, "gptoss_prompt_tokens_cached_total", "Prompt tokens found in the prefix cache.", m.cached_prompt_tokens);
  counter(o, "gptoss_generation_tokens_total", "Tokens sampled.", m.generation_tokens);
  counter(o, "gptoss_engine_steps_total", "Forward steps run.", m.steps);
  counter(o, "gptoss_engine_step_tokens_total", "Tokens computed in forward steps (prefill and decode).", m.step_tokens);
  counter(o, "gptoss_preemptions_total", "Sequences preempted for lack of KV blocks (recomputed later).", m.preemptions);
  counter(o, "gptoss_lookahead_steps_total", "Decode steps queued before the step before them was collected.",
          m.lookahead_steps);
  counter(o, "gptoss_lookahead_redone_total",
          "Constrained lookahead steps whose guessed token mask was wrong (the token is chosen again).", m.lookahead_redone);
  gauge(o, "gptoss_http_connections_open", "Open client connections (idle ones included).", double(ctx.open_connections()));
  gauge(o, "gptoss_http_requests_handling", "Requests on a handler thread (streams included).", double(ctx.busy_handlers()));
  gauge(o, "gptoss_http_requests_waiting", "Requests waiting for a handler thread.", double(ctx.waiting_requests()));
  gauge(o, "gptoss_num_requests_running", "Sequences in the running batch.", st.running);
  gauge(o, "gptoss_num_requests_waiting", "Sequences waiting to be admitted.", st.waiting);
  gauge(o, "gptoss_num_requests_held_back", "Sequences paused because their client has not read their last --max-unread-tokens tokens.",
        st.held_back);
  gauge(o, "gptoss_kv_cache_usage_ratio", "Fraction of full-attention KV blocks in use.",
        st.kv.full_total ? double(st.kv.full_used) / st.kv.full_total : 0.0);
  gauge(o, "gptoss_kv_full_blocks_used", "Full-attention KV blocks in use.", st.kv.full_used);
  gauge(o, "gptoss_kv_full_blocks_total", "Full-attention KV blocks.", st.kv.full_total);
  gauge(o, "gptoss_kv_full_blocks_cached", "Full-attention KV blocks registered in the prefix cache.", st.kv.full_cached);
  gauge(o, "gptoss_kv_window_blocks_used", "Sliding-window KV blocks in use.", st.kv.window_used);
  gauge(o, "gptoss_kv_window_blocks_total", "Sliding-window KV blocks.", st.kv.window_total);
  if (const auto mem = ctx.engine.runner().device_memory(); !mem.empty()) {
    // As the driver reports it (every process on the device), per device.
    o << "# HELP gptoss_gpu_memory_used_bytes GPU memory in use.\n# TYPE gptoss_gpu_memory_used_bytes gauge\n";
    for (size_t i = 0; i < mem.size(); ++i) o << "gptoss_gpu_memory_used_bytes{device=\"" << i << "\"} " << mem[i].used << '\n';
    o << "# HELP gptoss_gpu_memory_total_bytes GPU memory.\n# TYPE gptoss_gpu_memory_total_bytes gauge\n";
    for (size_t i = 0; i < mem.size(); ++i) o << "gptoss_gpu_memory_total_bytes{device=\"" << i << "\"} " << mem[i].total << '\n';
  }
  histogram(o, "gptoss_time_to_first_token_seconds", "Time from submission to the first token.", m.ttft_seconds);
  histogram(o, "gptoss_inter_token_latency_seconds", "Time between consecutive tokens of a request.", m.inter_token_seconds);
  histogram(o, "gptoss_request_latency_seconds", "Time from submission to the end of a request.", m.e2e_seconds);
  {
    std::lock_guard lock(ctx.http_mu);
    o << "# HELP gptoss_http_requests_total HTTP requests by path and status.\n# TYPE gptoss_http_requests_total counter\n";
    for (auto& [k, v] : ctx.http_requests)
      o << "gptoss_http_requests_total{path=\"" << k.first << "\",status=\"" << k.second << "\"} " << v << '\n';
  }
  res.set_content(o.str(), "text/plain; version=0.0.4");
}

}  // namespace gptoss::server
