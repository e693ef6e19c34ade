#pragma once
// The numbers a serving benchmark reports, from one load run: TTFT, TPOT
// (time per output token after the first), inter-token latency, end-to-end
// latency, request and token throughput, errors. Token counts come from the
// server's usage (stream_options.include_usage) where it reports them, else
// from counting streamed chunks and the workload's prompt lengths.
#include <string>

#include <nlohmann/json.hpp>

#include "bench/load_generator.h"

namespace gptoss::bench {

// {"completed","failed","duration_s","request_throughput","output_throughput",
//  "total_token_throughput","total_input_tokens","total_output_tokens",
//  "mean_input_tokens","mean_output_tokens","token_counts" ("usage"|"chunks"|"mixed"|"none"),
//  "ttft_ms","tpot_ms","itl_ms","e2e_latency_ms" (summaries), "errors" (up to 5 messages)}
nlohmann::json serve_metrics(const LoadRun& run);

// Human-readable block for stdout.
std::string serve_text(const nlohmann::json& metrics);
// A markdown table of the same (one row per metric).
std::string serve_markdown(const nlohmann::json& metrics);

}  // namespace gptoss::bench
