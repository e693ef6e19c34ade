#pragma once
// Joining strings with a separator: the Harmony renderer and the tool-schema
// renderer both build lists this way.
#include <string>
#include <vector>

namespace gptoss {

inline std::string join(const std::vector<std::string>& parts, const std::string& sep) {
  std::string out;
  for (size_t i = 0; i < parts.size(); ++i) {
    if (i) out += sep;
    out += parts[i];
  }
  return out;
}

}  // namespace gptoss
