#pragma once
// Tuning and A/B switches read from the environment (GPTOSS_*): the value as
// an integer (atoi: text that is not a number reads as 0), or `fallback` when
// the variable is unset.
#include <cstdlib>

namespace gptoss {

inline int env_int(const char* name, int fallback) {
  const char* e = std::getenv(name);
  return e ? std::atoi(e) : fallback;
}

}  // namespace gptoss
