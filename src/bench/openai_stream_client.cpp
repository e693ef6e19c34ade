#include "bench/openai_stream_client.h"

#include <httplib.h>

#include <chrono>

#include "bench/sse_parser.h"
#include "core/error.h"

namespace gptoss::bench {

Endpoint make_endpoint(const std::string& url, const std::string& model, bool chat) {
  const auto scheme_end = url.find("://");
  if (scheme_end == std::string::npos || (url.compare(0, scheme_end, "http") != 0 && url.compare(0, scheme_end, "https") != 0))
    throw Error("--url '" + url + "' is not an http:// or https:// URL (e.g. http://127.0.0.1:8000)");
  Endpoint e;
  const auto path_start = url.find('/', scheme_end + 3);
  e.host = url.substr(0, path_start);
  std::string prefix = path_start == std::string::npos ? "" : url.substr(path_start);
  while (!prefix.empty() && prefix.back() == '/') prefix.pop_back();
  // Accept a base URL with or without the /v1 an OpenAI SDK's base_url carries.
  if (prefix.size() < 3 || prefix.compare(prefix.size() - 3, 3, "/v1") != 0) prefix += "/v1";
  e.path = prefix + (chat ? "/chat/completions" : "/completions");
  e.model = model;
  e.chat = chat;
  return e;
}

StreamClient::StreamClient(const Endpoint& e) : endpoint_(e), http_(std::make_unique<httplib::Client>(e.host)) {
  http_->set_connection_timeout(10);
  http_->set_read_timeout(e.timeout_s);
  http_->set_write_timeout(30);
  http_->set_keep_alive(true);
}

StreamClient::~StreamClient() = default;

nlohmann::json StreamClient::request_body(const Endpoint& e, const RequestSpec& s, double temperature) {
  nlohmann::json b = {{"model", e.model}, {"max_tokens", s.max_tokens}, {"stream", true},
                      {"stream_options", {{"include_usage", true}}}};
  if (e.chat)
    b["messages"] = nlohmann::json::array({{{"role", "user"}, {"content", s.prompt}}});
  else
    b["prompt"] = s.prompt;
  if (temperature >= 0) b["temperature"] = temperature;
  if (e.eos_extras) {
    b["ignore_eos"] = true;
    b["min_tokens"] = s.max_tokens;
  }
  for (auto& [k, v] : e.extra_body.items()) b[k] = v;
  return b;
}

namespace {

// Generated text in one chunk: content, reasoning (gpt-oss thinks first; its
// tokens are generated tokens too) or tool-call arguments.
size_t generated_chars(const nlohmann::json& choice, bool chat) {
  auto text_of = [](const nlohmann::json& o, const char* k) -> size_t {
    auto it = o.find(k);
    return it != o.end() && it->is_string() ? it->get_ref<const std::string&>().size() : 0;
  };
  if (!chat) return text_of(choice, "text");
  auto d = choice.find("delta");
  if (d == choice.end() || !d->is_object()) return 0;
  size_t n = text_of(*d, "content") + std::max(text_of(*d, "reasoning_content"), text_of(*d, "reasoning"));
  if (auto tc = d->find("tool_calls"); tc != d->end() && tc->is_array())
    for (auto& c : *tc)
      if (auto f = c.find("function"); f != c.end() && f->is_object()) n += text_of(*f, "arguments") + text_of(*f, "name");
  return n;
}

std::string error_message(const nlohmann::json& j) {
  auto it = j.find("error");
  if (it == j.end()) return {};
  if (it->is_object() && it->contains("message") && (*it)["message"].is_string()) return (*it)["message"];
  return it->dump();
}

}  // namespace

bool apply_stream_event(const std::string& data, bool chat, double t, StreamResult& r) {
  if (data == "[DONE]") return false;
  nlohmann::json j = nlohmann::json::parse(data, nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    r.error = "unparseable stream chunk: " + data.substr(0, 200);
    return false;
  }
  if (auto e = error_message(j); !e.empty()) {
    r.error = "server error in stream: " + e;
    return false;
  }
  if (auto ch = j.find("choices"); ch != j.end() && ch->is_array() && !ch->empty()) {
    size_t n = generated_chars((*ch)[0], chat);
    if (n > 0) {
      if (r.chunk_times_s.empty()) r.ttft_s = t;
      r.chunk_times_s.push_back(t);
      r.output_chars += n;
    }
  }
  if (auto u = j.find("usage"); u != j.end() && u->is_object()) {
    r.usage_reported = true;
    r.prompt_tokens = u->value("prompt_tokens", -1);
    r.completion_tokens = u->value("completion_tokens", 0);
  }
  return true;
}

StreamResult StreamClient::send(const RequestSpec& spec, double temperature) {
  using Clock = std::chrono::steady_clock;
  StreamResult r;
  httplib::Request req;
  req.method = "POST";
  req.path = endpoint_.path;
  req.body = request_body(endpoint_, spec, temperature).dump();
  req.set_header("Content-Type", "application/json");
  req.set_header("Accept", "text/event-stream");
  if (!endpoint_.api_key.empty()) req.set_header("Authorization", "Bearer " + endpoint_.api_key);

  const auto t0 = Clock::now();
  auto since = [&] { return std::chrono::duration<double>(Clock::now() - t0).count(); };
  bool streaming = true;
  std::string error_body;
  SseParser parser([&](const SseEvent& ev) {
    if (streaming) streaming = apply_stream_event(ev.data, endpoint_.chat, since(), r);
  });
  int status = 0;
  req.response_handler = [&](const httplib::Response& res) {
    status = res.status;
    return true;
  };
  req.content_receiver = [&](const char* data, size_t n, uint64_t, uint64_t) {
    if (status != 200) {
      if (error_body.size() < 4096) error_body.append(data, n);
      return true;
    }
    parser.feed(std::string_view(data, n));
    return true;  // read to the end even after [DONE], so the connection stays reusable
  };
  httplib::Result res = http_->send(req);
  parser.finish();
  r.latency_s = since();
  r.http_status = status;
  if (!res) {
    r.error = "HTTP request to " + endpoint_.host + endpoint_.path + " failed: " + httplib::to_string(res.error());
    if (res.error() == httplib::Error::Connection) r.error += " (is a server listening there?)";
    return r;
  }
  if (status != 200) {
    auto j = nlohmann::json::parse(error_body, nullptr, false);
    std::string msg = j.is_object() ? error_message(j) : "";
    r.error = "HTTP " + std::to_string(status) + ": " + (msg.empty() ? error_body.substr(0, 300) : msg);
    return r;
  }
  if (!r.error.empty()) return r;
  if (!r.usage_reported) r.completion_tokens = int(r.chunk_times_s.size());
  r.ok = true;
  return r;
}

}  // namespace gptoss::bench
