#pragma once
// A named tensor somewhere in memory (a mapped file or a buffer we own).
#include <cstdint>
#include <string>
#include <vector>

#include "format/dtype.h"

namespace gptoss {

struct TensorInfo {
  std::string name;
  std::string file;  // where it came from, for error messages
  DType dtype = DType::UNKNOWN;
  std::vector<int64_t> shape;
  const uint8_t* data = nullptr;
  size_t nbytes = 0;

  int64_t numel() const {
    int64_t n = 1;
    for (auto d : shape) n *= d;
    return n;
  }
};

std::string shape_string(const std::vector<int64_t>& shape);  // "[2048, 256]"

}  // namespace gptoss
