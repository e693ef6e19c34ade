#include "server/web_assets.h"

namespace gptoss::server {

std::string_view content_type_for(std::string_view name) {
  struct Ext {
    std::string_view ext, type;
  };
  static constexpr Ext types[] = {
      {".html", "text/html; charset=utf-8"},  {".js", "text/javascript; charset=utf-8"},
      {".css", "text/css; charset=utf-8"},    {".json", "application/json"},
      {".svg", "image/svg+xml"},              {".png", "image/png"},
      {".ico", "image/x-icon"},               {".txt", "text/plain; charset=utf-8"},
  };
  for (const auto& t : types)
    if (name.size() >= t.ext.size() && name.substr(name.size() - t.ext.size()) == t.ext) return t.type;
  return "application/octet-stream";
}

const std::vector<WebAsset>& web_assets() {
  static const std::vector<WebAsset> assets = [] {
    std::vector<WebAsset> v;
    for (const auto& f : embedded_web_files())
      v.push_back({f.name, content_type_for(f.name), {reinterpret_cast<const char*>(f.data), f.size}});
    return v;
  }();
  return assets;
}

const WebAsset* find_web_asset(std::string_view url_path) {
  if (url_path.empty() || url_path[0] != '/') return nullptr;
  std::string_view name = url_path.substr(1);
  if (name.empty()) name = "index.html";
  for (const auto& a : web_assets())
    if (a.name == name) return &a;
  return nullptr;
}

}  // namespace gptoss::server
