#include "format/dtype.h"

namespace gptoss {

namespace {
struct Entry { DType t; const char* name; size_t size; };
constexpr Entry kTable[] = {
    {DType::F32, "F32", 4}, {DType::F16, "F16", 2},  {DType::BF16, "BF16", 2}, {DType::U8, "U8", 1},
    {DType::I8, "I8", 1},   {DType::I32, "I32", 4},  {DType::I64, "I64", 8},   {DType::F64, "F64", 8},
    {DType::BOOL, "BOOL", 1}};
}  // namespace

DType dtype_from_name(const std::string& name) {
  for (auto& e : kTable) if (name == e.name) return e.t;
  return DType::UNKNOWN;
}
const char* dtype_name(DType t) {
  for (auto& e : kTable) if (t == e.t) return e.name;
  return "UNKNOWN";
}
size_t dtype_size(DType t) {
  for (auto& e : kTable) if (t == e.t) return e.size;
  return 0;
}

}  // namespace gptoss
