#pragma once
// Reader for the safetensors format: 8-byte little-endian header length, a
// JSON header {name: {dtype, shape, data_offsets}}, then the data. Every field
// is checked against the file so a truncated or lying file is an error that
// names the file and tensor, never an out-of-bounds read.
#include <map>
#include <memory>
#include <string>

#include "format/mapped_file.h"
#include "format/tensor_info.h"

namespace gptoss {

class SafetensorsFile {
 public:
  static std::shared_ptr<SafetensorsFile> open(const std::string& path);

  const std::map<std::string, TensorInfo>& tensors() const { return tensors_; }
  const TensorInfo* find(const std::string& name) const;
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  const std::string& path() const { return file_->path(); }

 private:
  std::unique_ptr<MappedFile> file_;
  std::map<std::string, TensorInfo> tensors_;
  std::map<std::string, std::string> metadata_;
};

// Writes F32/I32/BF16/U8 tensors to a safetensors file (used for `gptoss logits`
// output and by tests that build malformed inputs from good ones).
struct TensorToWrite {
  std::string name;
  DType dtype;
  std::vector<int64_t> shape;
  const void* data;
};
void write_safetensors(const std::string& path, const std::vector<TensorToWrite>& tensors,
                       const std::map<std::string, std::string>& metadata = {});

}  // namespace gptoss
