#pragma once
// One streamed request to an OpenAI-compatible server (/v1/chat/completions
// or /v1/completions with stream:true), timed chunk by chunk: when the first
// generated text arrived (TTFT), when each later piece did (inter-token
// latency), and how many tokens the server says it produced.
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace httplib {
class Client;
}

namespace gptoss::bench {

// Where requests go and what every request body carries.
struct Endpoint {
  std::string host;         // scheme://host[:port], as httplib::Client takes it
  std::string path;         // e.g. /v1/chat/completions
  std::string model;
  std::string api_key;      // sent as "Authorization: Bearer ..." when set
  bool chat = true;         // false: /v1/completions with "prompt"
  // vLLM/SGLang extensions that make outputs full length ("ignore_eos",
  // "min_tokens"); servers that do not know them ignore unknown fields
  // (ours does), strict ones may reject them: --no-eos-extras turns them off.
  bool eos_extras = true;
  nlohmann::json extra_body = nlohmann::json::object();  // merged into each body
  int timeout_s = 600;
};

// Splits URL into host and path: "http://h:8000" and "http://h:8000/v1" both
// lead to http://h:8000 + /v1/chat/completions. Throws Error on a URL that is
// not http(s).
Endpoint make_endpoint(const std::string& url, const std::string& model, bool chat);

struct RequestSpec {
  std::string prompt;        // the user message (chat) or the prompt (completions)
  int max_tokens = 128;
  int approx_input_tokens = 0;  // what the workload aimed at (used when the server reports no usage)
};

struct StreamResult {
  bool ok = false;
  std::string error;         // what went wrong, when !ok
  int http_status = 0;
  double ttft_s = 0;         // request sent -> first generated text (0 when none came)
  double latency_s = 0;      // request sent -> end of stream
  std::vector<double> chunk_times_s;  // since the request was sent, each chunk carrying generated text
  int prompt_tokens = -1;    // from "usage", -1 when the server did not report it
  int completion_tokens = 0; // from "usage" when reported, else the number of text chunks
  bool usage_reported = false;
  size_t output_chars = 0;
};

// A connection to one server, reused across requests by one client thread.
class StreamClient {
 public:
  explicit StreamClient(const Endpoint& endpoint);
  ~StreamClient();
  StreamResult send(const RequestSpec& spec, double temperature = -1);

  // The JSON body send() posts (public for tests).
  static nlohmann::json request_body(const Endpoint& e, const RequestSpec& spec, double temperature);

 private:
  const Endpoint& endpoint_;
  std::unique_ptr<httplib::Client> http_;
};

// Applies one SSE "data:" payload to `r`; returns false at "[DONE]" or on an
// error object (then r.error says what). `t` is seconds since the request was sent.
bool apply_stream_event(const std::string& data, bool chat, double t, StreamResult& r);

}  // namespace gptoss::bench
