#include "cli/shipped_data.h"

#include <algorithm>
#include <filesystem>

namespace gptoss::cli {

namespace fs = std::filesystem;

namespace {

fs::path running_binary() {
  std::error_code ec;
  fs::path p = fs::read_symlink("/proc/self/exe", ec);
  return ec ? fs::path() : p;
}

// True when `p` is `dir` or inside it (both made absolute and normal first).
bool is_inside(const fs::path& p, const fs::path& dir) {
  std::error_code ec;
  const fs::path a = fs::weakly_canonical(p, ec), d = fs::weakly_canonical(dir, ec);
  if (ec || d.empty()) return false;
  auto [end, rest] = std::mismatch(d.begin(), d.end(), a.begin(), a.end());
  return end == d.end();
}

}  // namespace

std::vector<std::string> shipped_data_paths(const std::string& installed, const std::string& in_source) {
  std::vector<std::string> out;
  const fs::path exe = running_binary();
  if (!exe.empty()) out.push_back((exe.parent_path().parent_path() / "share/gptoss" / installed).string());
  if (!exe.empty() && is_inside(exe, GPTOSS_BINARY_DIR)) out.push_back((fs::path(GPTOSS_SOURCE_DIR) / in_source).string());
  return out;
}

}  // namespace gptoss::cli
