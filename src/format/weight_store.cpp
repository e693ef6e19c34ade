#include "format/weight_store.h"

#include "core/error.h"

namespace gptoss {

void WeightStore::add_file(std::shared_ptr<SafetensorsFile> file) {
  for (auto& [name, t] : file->tensors()) {
    if (!tensors_.emplace(name, t).second)
      throw Error(file->path() + ": tensor '" + name + "' also appears in " + tensors_.at(name).file);
  }
  files_.push_back(std::move(file));
}

void WeightStore::insert(const std::string& name, DType dtype, std::vector<int64_t> shape, const uint8_t* data,
                         const std::string& from) {
  TensorInfo t;
  t.name = name;
  t.file = from;
  t.dtype = dtype;
  t.shape = std::move(shape);
  t.nbytes = size_t(t.numel()) * dtype_size(dtype);
  t.data = data;
  if (!tensors_.emplace(name, t).second) throw Error(from + ": tensor '" + name + "' defined twice");
}

uint8_t* WeightStore::add_owned(const std::string& name, DType dtype, std::vector<int64_t> shape,
                                const std::string& from) {
  int64_t n = 1;
  for (auto d : shape) n *= d;
  auto buf = std::unique_ptr<uint8_t[]>(new uint8_t[size_t(n) * dtype_size(dtype)]());
  insert(name, dtype, std::move(shape), buf.get(), from);
  owned_.push_back(std::move(buf));
  return owned_.back().get();
}

void WeightStore::add_view(const std::string& name, DType dtype, std::vector<int64_t> shape, const uint8_t* data,
                           const std::string& from, std::shared_ptr<const void> owner) {
  insert(name, dtype, std::move(shape), data, from);
  if (owners_.empty() || owners_.back() != owner) owners_.push_back(std::move(owner));
}

const TensorInfo* WeightStore::find(const std::string& name) const {
  auto it = tensors_.find(name);
  return it == tensors_.end() ? nullptr : &it->second;
}

const TensorInfo& WeightStore::require(const std::string& name, DType dtype, const std::vector<int64_t>& shape) const {
  const TensorInfo* t = find(name);
  if (!t) throw Error(origin + ": missing tensor '" + name + "' (is this a complete gpt-oss checkpoint?)");
  if (t->dtype != dtype) {
    throw Error(t->file + ": tensor '" + name + "' is " + dtype_name(t->dtype) + ", expected " + dtype_name(dtype));
  }
  if (t->shape != shape) {
    throw Error(t->file + ": tensor '" + name + "' has shape " + shape_string(t->shape) + ", expected " +
                shape_string(shape) + " from config.json");
  }
  return *t;
}

size_t WeightStore::total_bytes() const {
  size_t n = 0;
  for (auto& [_, t] : tensors_) n += t.nbytes;
  return n;
}

}  // namespace gptoss
