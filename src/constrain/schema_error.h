#pragma once
// A schema the constrained decoder cannot take, with the JSON Schema keyword
// at fault, so the server can answer 400 naming it.
#include <string>

#include "core/error.h"

namespace gptoss::constrain {

class SchemaError : public Error {
 public:
  SchemaError(std::string keyword, const std::string& path, const std::string& why)
      : Error("schema" + (path.empty() ? std::string() : " at " + path) + ": '" + keyword + "' " + why),
        keyword_(std::move(keyword)), why_(why) {}
  const std::string& keyword() const { return keyword_; }
  const std::string& why() const { return why_; }

 private:
  std::string keyword_, why_;
};

}  // namespace gptoss::constrain
