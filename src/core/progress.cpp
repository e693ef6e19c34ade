#include "core/progress.h"

#include <cstdio>
#include <unistd.h>

namespace gptoss {

Progress::Progress(std::string what) : what_(std::move(what)), tty_(isatty(fileno(stderr))) {}

void Progress::update(size_t done, size_t total) {
  if (total == 0) return;
  if (tty_) {
    std::fprintf(stderr, "\r%s: %zu/%zu", what_.c_str(), done, total);
    if (done == total) std::fprintf(stderr, "\n");
    return;
  }
  const int quarter = int(4 * done / total);
  if (quarter == last_quarter_) return;
  last_quarter_ = quarter;
  std::fprintf(stderr, "%s: %zu/%zu (%d%%)\n", what_.c_str(), done, total, quarter * 25);
}

}  // namespace gptoss
