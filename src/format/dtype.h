#pragma once
// Element types found in checkpoints (safetensors names; GGUF maps onto them).
#include <cstddef>
#include <cstdint>
#include <string>

namespace gptoss {

enum class DType { F32, F16, BF16, U8, I8, I32, I64, F64, BOOL, UNKNOWN };

DType dtype_from_name(const std::string& name);  // "BF16" -> BF16; UNKNOWN if not known
const char* dtype_name(DType t);
size_t dtype_size(DType t);  // bytes per element; 0 for UNKNOWN

}  // namespace gptoss
