#pragma once
// Ends the process when a guarded wait lasts too long. A peer of an NCCL
// group that dies leaves the others waiting forever inside the driver (on one
// node NCCL does not notice at all), where no exception can reach them; a
// process that exits with a message beats one that hangs.
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>

namespace gptoss {

class Watchdog {
 public:
  Watchdog();
  ~Watchdog();
  Watchdog(const Watchdog&) = delete;
  Watchdog& operator=(const Watchdog&) = delete;

  // From now on, exit(1) with "error: <message>" unless disarmed or armed
  // again within `seconds`.
  void arm(double seconds, const std::string& message);
  void disarm();

 private:
  void loop();
  std::mutex mu_;
  std::condition_variable cv_;
  bool armed_ = false, stop_ = false;
  std::chrono::steady_clock::time_point deadline_;
  std::string message_;
  std::thread thread_;
};

}  // namespace gptoss
