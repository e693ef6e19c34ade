// GET / and the UI's other files, from the table compiled into the binary.
#include "server/endpoints.h"
#include "server/web_assets.h"

namespace gptoss::server {

void handle_web_asset(ServerContext&, const HttpRequest& req, HttpResponse& res) {
  const WebAsset* a = find_web_asset(req.path);
  if (!a) {
    res.status = 404;
    return;
  }
  // The page renders model output: forbid inline scripts and foreign hosts
  // so a rendering bug cannot become script execution.
  res.set_header("Content-Security-Policy",
                 "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'");
  res.set_header("X-Content-Type-Options", "nosniff");
  // Small files; revalidating keeps a page in step with an upgraded binary.
  res.set_header("Cache-Control", "no-cache");
  res.set_content(a->body.data(), a->body.size(), std::string(a->content_type));
}

}  // namespace gptoss::server
