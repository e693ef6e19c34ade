#include "server/http_message.h"

#include <strings.h>

namespace gptoss::server {

std::string header_value(const HttpHeaders& headers, std::string_view name) {
  for (const auto& [k, v] : headers)
    if (k.size() == name.size() && strncasecmp(k.data(), name.data(), k.size()) == 0) return v;
  return {};
}

void HttpResponse::set_header(std::string name, std::string value) {
  for (auto& [k, v] : headers)
    if (k.size() == name.size() && strncasecmp(k.data(), name.data(), k.size()) == 0) {
      v = std::move(value);
      return;
    }
  headers.emplace_back(std::move(name), std::move(value));
}

void HttpResponse::set_content(std::string b, const std::string& content_type) {
  body = std::move(b);
  set_header("Content-Type", content_type);
}

void HttpResponse::set_chunked_content_provider(const std::string& content_type, ChunkedContentProvider provider,
                                                ContentReleaser releaser) {
  set_header("Content-Type", content_type);
  provider_ = std::move(provider);
  releaser_ = std::move(releaser);
}

bool HttpResponse::provide(DataSink& sink) {
  const bool ok = provider_(0, sink);
  release(ok);
  return ok;
}

}  // namespace gptoss::server
