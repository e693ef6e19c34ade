#pragma once
// Drives a server with many requests at once: a thread per concurrent client
// (each with its own keep-alive connection), requests either back to back
// (fixed concurrency) or on a Poisson arrival schedule (a request rate), for a
// number of requests and/or a duration. Progress goes to stderr.
#include <functional>
#include <string>
#include <vector>

#include "bench/openai_stream_client.h"

namespace gptoss::bench {

struct LoadOptions {
  int concurrency = 1;        // client threads: requests in flight at most
  double request_rate = 0;    // requests/s with exponential gaps; 0 = as fast as the clients go
  size_t num_requests = 0;    // 0 = until duration_s
  double duration_s = 0;      // 0 = until num_requests; else no new request after this
  uint64_t seed = 0;          // arrival schedule
  double temperature = -1;    // < 0: the server's default
  std::string label;          // progress prefix
  bool progress = true;
};

struct RequestRecord {
  size_t index = 0;        // which spec
  double sent_s = 0;       // since the run started
  int approx_input_tokens = 0;
  StreamResult result;
};

struct LoadRun {
  std::vector<RequestRecord> records;  // in order of completion
  double wall_s = 0;                   // first request sent -> last one finished
};

// spec_for(i) gives the i-th request (called from client threads, in order of i).
LoadRun run_load(const Endpoint& endpoint, const LoadOptions& options,
                 const std::function<RequestSpec(size_t)>& spec_for);

}  // namespace gptoss::bench
