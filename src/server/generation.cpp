#include "server/generation.h"

#include <cstdio>

#include "core/log.h"

namespace gptoss::server {

GenerationOutcome run_generation(RequestStream& stream, const std::function<bool(const SampledToken&)>& on_token,
                                 const std::function<bool()>& keepalive, const std::function<bool()>& stop,
                                 const std::function<bool(const std::vector<SampledToken>&)>& on_prompt) {
  using Clock = std::chrono::steady_clock;
  GenerationOutcome g;
  const auto t0 = Clock::now();
  auto last_write = t0;
  bool stopped_early = false;
  for (;;) {
    auto e = stream.next(std::chrono::milliseconds(100));
    if (!e) {
      if (!g.client_gone && Clock::now() - last_write > std::chrono::seconds(1)) {
        last_write = Clock::now();
        if (keepalive && !keepalive()) {
          g.client_gone = true;
          stream.cancel();
        }
      }
      continue;
    }
    if (e->kind == StreamEvent::Kind::Finished) {
      g.reason = stopped_early ? FinishReason::Stop : e->reason;
      g.error = e->error;
      g.prompt_tokens = e->prompt_tokens;
      g.cached_tokens = e->cached_tokens;
      g.completion_tokens = e->completion_tokens;
      break;
    }
    if (e->kind == StreamEvent::Kind::PromptLogprobs) {
      if (on_prompt && !g.client_gone && !on_prompt(e->prompt)) {
        g.client_gone = true;
        stream.cancel();
      }
      continue;
    }
    if (g.ttft_s == 0) g.ttft_s = std::chrono::duration<double>(Clock::now() - t0).count();
    if (g.client_gone || stopped_early) continue;  // draining what was already sampled
    last_write = Clock::now();
    if (!on_token(e->token)) {
      g.client_gone = true;
      stream.cancel();
    } else if (stop && stop()) {
      stopped_early = true;
      stream.cancel();
    }
  }
  g.total_s = std::chrono::duration<double>(Clock::now() - t0).count();
  return g;
}

double decode_tokens_per_second(const GenerationOutcome& g) {
  const double decode_s = g.total_s - g.ttft_s;
  return g.completion_tokens > 1 && decode_s > 0 ? (g.completion_tokens - 1) / decode_s : 0.0;
}

void report_request(ServerContext& ctx, const std::string& id, const std::string& path, const GenerationOutcome& g) {
  const double tps = decode_tokens_per_second(g);
  if (g.completion_tokens > 0) ctx.record_reply({g.completion_tokens, g.ttft_s, tps});
  char buf[512];
  std::snprintf(buf, sizeof buf, "%s %s in=%d (cached %d) out=%d ttft=%.3fs %.1f tok/s total=%.3fs finish=%s%s", id.c_str(),
                path.c_str(), g.prompt_tokens, g.cached_tokens, g.completion_tokens, g.ttft_s, tps, g.total_s,
                g.client_gone ? "client_gone" : to_string(g.reason), g.error.empty() ? "" : (" error=" + g.error).c_str());
  log_info(buf);
}

}  // namespace gptoss::server
