#pragma once
// Reader for GGUF (llama.cpp's single-file format), versions 2 and 3, memory-
// mapped. Layout: "GGUF", u32 version, u64 tensor count, u64 key/value count,
// the key/values (u64-length strings, u32 type tags, arrays of any type), the
// tensor infos (name, u32 n_dims, u64 dims innermost first, u32 ggml type, u64
// offset), then, at the next multiple of general.alignment (default 32), the
// data section the offsets point into.
//
// Every count, length, offset and size is checked against the file before it
// is used: a truncated or lying file is an Error naming the file (and the key
// or tensor), never an out-of-bounds read.
#include <cstdint>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "format/mapped_file.h"

namespace gptoss {

enum class GgufType : uint32_t {
  U8 = 0, I8 = 1, U16 = 2, I16 = 3, U32 = 4, I32 = 5, F32 = 6, BOOL = 7, STRING = 8, ARRAY = 9,
  U64 = 10, I64 = 11, F64 = 12,
};

// ggml tensor types (ggml.h numbering); only some are converted, all known
// ones can be sized so files with other tensors still open.
enum class GgmlType : uint32_t {
  F32 = 0, F16 = 1, Q4_0 = 2, Q4_1 = 3, Q5_0 = 6, Q5_1 = 7, Q8_0 = 8, Q8_1 = 9,
  Q2_K = 10, Q3_K = 11, Q4_K = 12, Q5_K = 13, Q6_K = 14, Q8_K = 15,
  IQ2_XXS = 16, IQ2_XS = 17, IQ3_XXS = 18, IQ1_S = 19, IQ4_NL = 20, IQ3_S = 21, IQ2_S = 22, IQ4_XS = 23,
  I8 = 24, I16 = 25, I32 = 26, I64 = 27, F64 = 28, IQ1_M = 29, BF16 = 30, TQ1_0 = 34, TQ2_0 = 35, MXFP4 = 39,
};

struct GgmlTypeTraits {
  const char* name;
  int block_values;  // values per block
  int block_bytes;   // bytes per block
};
// nullptr for a type number we do not know.
const GgmlTypeTraits* ggml_type_traits(uint32_t type);

struct GgufKv {
  GgufType type;
  GgufType array_type = GgufType::U8;  // element type when type is ARRAY
  nlohmann::json value;                // numbers, bools, strings, arrays of them
};

struct GgufTensor {
  std::string name;
  GgmlType type;
  std::vector<int64_t> dims;  // ggml order: dims[0] is the innermost (contiguous) one
  uint64_t offset = 0;        // from the start of the data section
  const uint8_t* data = nullptr;
  size_t nbytes = 0;
  int64_t numel() const {
    int64_t n = 1;
    for (auto d : dims) n *= d;
    return n;
  }
};

class GgufFile {
 public:
  static std::shared_ptr<GgufFile> open(const std::string& path);

  uint32_t version() const { return version_; }
  uint64_t alignment() const { return alignment_; }
  const std::string& path() const { return file_->path(); }
  const std::map<std::string, GgufKv>& metadata() const { return kv_; }
  const std::vector<GgufTensor>& tensors() const { return tensors_; }  // in file order
  const GgufKv* find_kv(const std::string& key) const;
  const GgufTensor* find(const std::string& name) const;

 private:
  std::unique_ptr<MappedFile> file_;
  uint32_t version_ = 0;
  uint64_t alignment_ = 32;
  std::map<std::string, GgufKv> kv_;
  std::vector<GgufTensor> tensors_;
  std::map<std::string, size_t> by_name_;
};

// Builds GGUF files (tests make small models and malformed inputs with it).
class GgufWriter {
 public:
  void add_kv(const std::string& key, GgufType type, nlohmann::json value, GgufType array_type = GgufType::U8);
  // `data` holds the tensor's bytes in ggml layout (nbytes from type and dims).
  void add_tensor(const std::string& name, GgmlType type, std::vector<int64_t> dims, const void* data);
  void write(const std::string& path, uint64_t alignment = 32) const;

 private:
  struct Kv {
    std::string key;
    GgufKv kv;
  };
  struct Tensor {
    std::string name;
    GgmlType type;
    std::vector<int64_t> dims;
    std::vector<uint8_t> bytes;
  };
  std::vector<Kv> kvs_;
  std::vector<Tensor> tensors_;
};

// Bytes of a tensor of this type and shape; Error if the innermost dimension is
// not a whole number of blocks.
size_t ggml_tensor_bytes(GgmlType type, const std::vector<int64_t>& dims, const std::string& what);

}  // namespace gptoss
