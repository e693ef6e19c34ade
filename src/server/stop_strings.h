#pragma once
// Holds generated text back just long enough to cut it at the first stop
// string: push() returns what is safe to show; once a stop string appears,
// the text before it is returned and hit() turns true.
#include <string>
#include <vector>

namespace gptoss::server {

class StopStrings {
 public:
  explicit StopStrings(std::vector<std::string> stops) : stops_(std::move(stops)) {}
  std::string push(const std::string& text);
  std::string flush();  // end of stream: whatever was held back
  bool hit() const { return hit_; }

 private:
  std::vector<std::string> stops_;
  std::string held_;
  bool hit_ = false;
};

}  // namespace gptoss::server
