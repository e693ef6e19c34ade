// The embedded web UI: every file in web/ is found under its own name, "/"
// is index.html, and nothing else is (no traversal, no directory listing).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "server/web_assets.h"

using namespace gptoss::server;

TEST(ui_static_files, EveryWebFileIsEmbeddedByteForByte) {
  const std::filesystem::path dir = std::filesystem::path(GPTOSS_SOURCE_DIR) / "web";
  int files = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    const std::string name = e.path().filename().string();
    const WebAsset* a = find_web_asset("/" + name);
    ASSERT_NE(a, nullptr) << name;
    std::ifstream in(e.path(), std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    EXPECT_EQ(a->body, ss.str()) << name << ": rebuild to re-embed";
    ++files;
  }
  EXPECT_GE(files, 3);
}

TEST(ui_static_files, RootIsIndexWithContentTypes) {
  const WebAsset* root = find_web_asset("/");
  ASSERT_NE(root, nullptr);
  EXPECT_EQ(root->name, "index.html");
  EXPECT_EQ(root->content_type, "text/html; charset=utf-8");
  EXPECT_EQ(find_web_asset("/index.html"), root);
  EXPECT_EQ(find_web_asset("/app.js")->content_type, "text/javascript; charset=utf-8");
  EXPECT_EQ(find_web_asset("/style.css")->content_type, "text/css; charset=utf-8");
  EXPECT_EQ(content_type_for("x.bin"), "application/octet-stream");
}

TEST(ui_static_files, RefusesTraversalAndUnknownNames) {
  for (const char* p : {"", "app.js", "/../app.js", "/./app.js", "/web/app.js", "/../../etc/passwd", "/..%2fapp.js",
                        "/%2e%2e/app.js", "//app.js", "/app.js/", "/app.js%00", "/APP.JS", "/app", "/v1/models",
                        "/CMakeLists.txt", "/../src/server/http_server.cpp"})
    EXPECT_EQ(find_web_asset(p), nullptr) << p;
}
