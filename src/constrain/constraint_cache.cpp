#include "constrain/constraint_cache.h"

#include <chrono>

namespace gptoss::constrain {

CompiledConstraint ConstraintCache::get(const std::string& key, const std::function<Grammar()>& build) {
  {
    std::lock_guard lock(mu_);
    if (auto it = entries_.find(key); it != entries_.end()) {
      order_.splice(order_.begin(), order_, it->second.second);
      return it->second.first;
    }
  }
  const auto t0 = std::chrono::steady_clock::now();
  CompiledConstraint c;
  c.matcher = std::make_shared<const Matcher>(std::make_shared<const Grammar>(build()));
  c.masks = std::make_shared<MaskCache>();
  c.compile_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  std::lock_guard lock(mu_);
  if (entries_.count(key)) return entries_[key].first;
  order_.push_front(key);
  entries_.emplace(key, std::make_pair(c, order_.begin()));
  while (entries_.size() > max_) {
    entries_.erase(order_.back());
    order_.pop_back();
  }
  return c;
}

size_t ConstraintCache::size() const {
  std::lock_guard lock(mu_);
  return entries_.size();
}

}  // namespace gptoss::constrain
