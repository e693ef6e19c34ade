#pragma once
// A read-only memory map of a whole file. Weights are used in place from the
// page cache: loading a checkpoint never copies it into our own buffers.
#include <cstddef>
#include <cstdint>
#include <string>

namespace gptoss {

class MappedFile {
 public:
  explicit MappedFile(const std::string& path);  // throws Error naming the file
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  const uint8_t* data_ = nullptr;
  size_t size_ = 0;
};

}  // namespace gptoss
