#pragma once
// One exception type for everything a user can act on: the message says what
// happened and, where we know, what to do about it.
#include <stdexcept>
#include <string>

namespace gptoss {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& what) : std::runtime_error(what) {}
};

}  // namespace gptoss
