#pragma once
// Compiled constraints by what they were compiled from (the canonical text
// of the schemas and choices), so a schema sent again is not compiled again
// and its masks, cached per state, serve every request that uses it.
#include <functional>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

#include "constrain/grammar.h"
#include "constrain/matcher.h"
#include "constrain/token_mask.h"

namespace gptoss::constrain {

struct CompiledConstraint {
  std::shared_ptr<const Matcher> matcher;
  std::shared_ptr<MaskCache> masks;
  double compile_ms = 0;  // when it was built
};

class ConstraintCache {
 public:
  explicit ConstraintCache(size_t max_entries = 32) : max_(max_entries) {}
  // The entry for `key`; `build` makes its grammar when it is not cached
  // (its exceptions, e.g. SchemaError, pass through and nothing is kept).
  CompiledConstraint get(const std::string& key, const std::function<Grammar()>& build);
  size_t size() const;

 private:
  mutable std::mutex mu_;
  size_t max_;
  std::list<std::string> order_;  // most recently used first
  std::unordered_map<std::string, std::pair<CompiledConstraint, std::list<std::string>::iterator>> entries_;
};

}  // namespace gptoss::constrain
