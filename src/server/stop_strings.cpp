#include "server/stop_strings.h"

#include <algorithm>

namespace gptoss::server {

std::string StopStrings::push(const std::string& text) {
  if (hit_) return {};
  if (stops_.empty()) return text;
  held_ += text;
  size_t first = std::string::npos;
  for (auto& s : stops_) first = std::min(first, held_.find(s));
  if (first != std::string::npos) {
    hit_ = true;
    std::string out = held_.substr(0, first);
    held_.clear();
    return out;
  }
  // Keep the longest suffix that could still grow into a stop string.
  size_t keep = 0;
  for (auto& s : stops_)
    for (size_t k = std::min(s.size() - 1, held_.size()); k > keep; --k)
      if (held_.compare(held_.size() - k, k, s, 0, k) == 0) {
        keep = k;
        break;
      }
  std::string out = held_.substr(0, held_.size() - keep);
  held_.erase(0, held_.size() - keep);
  return out;
}

std::string StopStrings::flush() {
  std::string out = hit_ ? std::string() : held_;
  held_.clear();
  return out;
}

}  // namespace gptoss::server
