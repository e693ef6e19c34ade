#pragma once
// All tensors of one model by their Hugging Face names, wherever they live:
// mapped safetensors shards, or buffers we made (synthetic weights, GGUF
// re-layouts). Keeps the backing storage alive.
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "format/safetensors.h"
#include "format/tensor_info.h"

namespace gptoss {

class WeightStore {
 public:
  void add_file(std::shared_ptr<SafetensorsFile> file);  // duplicate names are an error
  // Makes a zero-filled buffer for a tensor and returns it for the caller to fill.
  uint8_t* add_owned(const std::string& name, DType dtype, std::vector<int64_t> shape, const std::string& origin);

  // A tensor used in place from memory `owner` keeps alive (a mapped GGUF file).
  void add_view(const std::string& name, DType dtype, std::vector<int64_t> shape, const uint8_t* data,
                const std::string& origin, std::shared_ptr<const void> owner);

  const TensorInfo* find(const std::string& name) const;
  // The tensor, checked for dtype and shape; otherwise an Error naming the
  // tensor, the file it came from and what was expected.
  const TensorInfo& require(const std::string& name, DType dtype, const std::vector<int64_t>& shape) const;
  const std::map<std::string, TensorInfo>& tensors() const { return tensors_; }
  size_t total_bytes() const;

  std::string origin;  // "DIR" or "synthetic:20b", for messages

 private:
  void insert(const std::string& name, DType dtype, std::vector<int64_t> shape, const uint8_t* data,
              const std::string& from);
  std::map<std::string, TensorInfo> tensors_;
  std::vector<std::shared_ptr<SafetensorsFile>> files_;
  std::vector<std::unique_ptr<uint8_t[]>> owned_;
  std::vector<std::shared_ptr<const void>> owners_;
};

}  // namespace gptoss
