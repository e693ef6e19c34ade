#pragma once
// Where tests find their data: the environment wins (so binaries built here can
// run on another machine, e.g. the GPU one), else the paths CMake baked in.
#include <cstdlib>
#include <string>

namespace gptoss::test {

inline std::string fixtures_dir() {
  const char* e = std::getenv("GPTOSS_FIXTURES_DIR");
  return e ? e : GPTOSS_FIXTURES_DIR;
}
inline std::string oracle_dir() {
  const char* e = std::getenv("GPTOSS_ORACLE_DIR");
  return e ? e : GPTOSS_ORACLE_DIR;
}

}  // namespace gptoss::test
