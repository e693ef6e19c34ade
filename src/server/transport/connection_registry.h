#pragma once
// The open connections of a transport: counted (for --max-connections and
// /metrics) and reachable, so that stop() can close them all.
#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <unordered_map>
#include <vector>

namespace gptoss::server {

class HttpConnection;

class ConnectionRegistry {
 public:
  void add(const std::shared_ptr<HttpConnection>& c) {
    std::lock_guard lock(mu_);
    live_[c.get()] = c;
  }
  void remove(HttpConnection* c) {
    std::lock_guard lock(mu_);
    live_.erase(c);
  }
  size_t size() const {
    std::lock_guard lock(mu_);
    return live_.size();
  }
  void for_each(const std::function<void(HttpConnection&)>& fn) {
    std::vector<std::shared_ptr<HttpConnection>> all;
    {
      std::lock_guard lock(mu_);
      for (auto& [p, w] : live_)
        if (auto c = w.lock()) all.push_back(std::move(c));
    }
    for (auto& c : all) fn(*c);
  }

 private:
  mutable std::mutex mu_;
  std::unordered_map<HttpConnection*, std::weak_ptr<HttpConnection>> live_;
};

}  // namespace gptoss::server
