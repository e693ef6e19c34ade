#include "core/watchdog.h"

#include <cstdio>
#include <cstdlib>

namespace gptoss {

Watchdog::Watchdog() : thread_([this] { loop(); }) {}

Watchdog::~Watchdog() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

void Watchdog::arm(double seconds, const std::string& message) {
  std::lock_guard<std::mutex> lock(mu_);
  armed_ = true;
  deadline_ = std::chrono::steady_clock::now() +
              std::chrono::duration_cast<std::chrono::steady_clock::duration>(std::chrono::duration<double>(seconds));
  message_ = message;
  cv_.notify_all();
}

void Watchdog::disarm() {
  std::lock_guard<std::mutex> lock(mu_);
  armed_ = false;
}

void Watchdog::loop() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!stop_) {
    if (!armed_) {
      cv_.wait(lock);
      continue;
    }
    if (std::chrono::steady_clock::now() >= deadline_) {
      std::fprintf(stderr, "error: %s\n", message_.c_str());
      std::fflush(stderr);
      // _Exit: destructors would wait on the same hung NCCL operations.
      std::_Exit(1);
    }
    cv_.wait_until(lock, deadline_);
  }
}

}  // namespace gptoss
