#pragma once
// Helpers shared by the Harmony tests.
#include <fstream>
#include <sstream>
#include <string>

#include <gtest/gtest.h>

namespace gptoss::harmony::test {

// tests/harmony/cases/NAME, with one trailing newline removed (editors add one).
inline std::string read_case(const std::string& name) {
  std::string path = std::string(GPTOSS_HARMONY_CASES_DIR) + "/" + name;
  std::ifstream f(path, std::ios::binary);
  if (!f) {
    ADD_FAILURE() << "cannot read " << path;
    return "";
  }
  std::stringstream ss;
  ss << f.rdbuf();
  std::string s = ss.str();
  if (!s.empty() && s.back() == '\n') s.pop_back();
  return s;
}

}  // namespace gptoss::harmony::test
