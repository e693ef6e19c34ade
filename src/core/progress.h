#pragma once
// A progress line for long work (loading, uploading, benchmarks). On a
// terminal it redraws one line; otherwise (logs, journald, CI) it prints a
// line only at each further quarter, so logs stay readable.
#include <cstddef>
#include <string>

namespace gptoss {

class Progress {
 public:
  explicit Progress(std::string what);
  void update(size_t done, size_t total);

 private:
  std::string what_;
  bool tty_;
  int last_quarter_ = -1;
};

}  // namespace gptoss
