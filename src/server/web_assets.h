#pragma once
// The chat UI's files (web/ in the source tree), compiled into the binary by
// cmake/embed_files.cmake. Only these names can ever be served: a URL path is
// looked up in the table, never joined to a directory, so "../" goes nowhere.
#include <string_view>
#include <vector>

namespace gptoss::server {

struct EmbeddedFile {
  const char* name;  // relative to web/, e.g. "app.js"
  const unsigned char* data;
  size_t size;
};
// Defined in the generated web_assets_data.cpp.
const std::vector<EmbeddedFile>& embedded_web_files();

struct WebAsset {
  std::string_view name, content_type, body;
};

// "/" is index.html; "/app.js" is app.js; anything else (query strings are
// already stripped by the HTTP layer) is nullptr.
const WebAsset* find_web_asset(std::string_view url_path);
const std::vector<WebAsset>& web_assets();
// By extension; application/octet-stream when unknown.
std::string_view content_type_for(std::string_view name);

}  // namespace gptoss::server
