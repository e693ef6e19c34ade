#include "format/safetensors.h"

#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>

#include "core/error.h"

namespace gptoss {

std::string shape_string(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

const TensorInfo* SafetensorsFile::find(const std::string& name) const {
  auto it = tensors_.find(name);
  return it == tensors_.end() ? nullptr : &it->second;
}

std::shared_ptr<SafetensorsFile> SafetensorsFile::open(const std::string& path) {
  auto st = std::shared_ptr<SafetensorsFile>(new SafetensorsFile());
  st->file_ = std::make_unique<MappedFile>(path);
  const uint8_t* base = st->file_->data();
  const size_t size = st->file_->size();
  auto bad = [&](const std::string& why) { return Error(path + ": not a valid safetensors file: " + why); };
  if (size < 8) throw bad("file is " + std::to_string(size) + " bytes, shorter than the 8-byte header length");
  uint64_t header_len;
  std::memcpy(&header_len, base, 8);
  if (header_len > size - 8) {
    throw bad("header length " + std::to_string(header_len) + " runs past the end of the file (" +
              std::to_string(size) + " bytes): the file is truncated or corrupt");
  }
  nlohmann::json header;
  try {
    header = nlohmann::json::parse(base + 8, base + 8 + header_len);
  } catch (const std::exception& e) {
    throw bad(std::string("header is not valid JSON (") + e.what() + ")");
  }
  if (!header.is_object()) throw bad("header is not a JSON object");
  const uint8_t* data_start = base + 8 + header_len;
  const size_t data_size = size - 8 - header_len;
  for (auto& [name, v] : header.items()) {
    if (name == "__metadata__") {
      if (v.is_object())
        for (auto& [k, m] : v.items())
          if (m.is_string()) st->metadata_[k] = m.get<std::string>();
      continue;
    }
    auto where = "tensor '" + name + "'";
    if (!v.is_object() || !v.contains("dtype") || !v.contains("shape") || !v.contains("data_offsets"))
      throw bad(where + " lacks dtype, shape or data_offsets");
    if (!v["dtype"].is_string()) throw bad(where + " has a non-string dtype");
    TensorInfo t;
    t.name = name;
    t.file = path;
    t.dtype = dtype_from_name(v["dtype"].get<std::string>());
    if (t.dtype == DType::UNKNOWN) throw bad(where + " has unknown dtype " + v["dtype"].dump());
    if (!v["shape"].is_array()) throw bad(where + " has a shape that is not an array");
    for (auto& d : v["shape"]) {
      if (!d.is_number_integer() || d.get<int64_t>() < 0) throw bad(where + " has a bad dimension " + d.dump());
      t.shape.push_back(d.get<int64_t>());
    }
    auto& off = v["data_offsets"];
    if (!off.is_array() || off.size() != 2 || !off[0].is_number_unsigned() || !off[1].is_number_unsigned())
      throw bad(where + " has malformed data_offsets " + off.dump());
    uint64_t b = off[0].get<uint64_t>(), e = off[1].get<uint64_t>();
    if (b > e || e > data_size) {
      throw bad(where + " data_offsets [" + std::to_string(b) + ", " + std::to_string(e) +
                "] lie outside the data section of " + std::to_string(data_size) + " bytes (truncated file?)");
    }
    // Overflow-safe element count.
    unsigned __int128 expect = dtype_size(t.dtype);
    for (auto d : t.shape) {
      expect *= uint64_t(d);
      if (expect > (unsigned __int128)data_size) break;
    }
    if (expect != (unsigned __int128)(e - b)) {
      throw bad(where + " is " + dtype_name(t.dtype) + " " + shape_string(t.shape) + " but its data_offsets span " +
                std::to_string(e - b) + " bytes");
    }
    t.data = data_start + b;
    t.nbytes = size_t(e - b);
    st->tensors_.emplace(name, std::move(t));
  }
  return st;
}

void write_safetensors(const std::string& path, const std::vector<TensorToWrite>& tensors,
                       const std::map<std::string, std::string>& metadata) {
  nlohmann::json header = nlohmann::json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  uint64_t offset = 0;
  std::vector<uint64_t> sizes;
  for (auto& t : tensors) {
    uint64_t n = dtype_size(t.dtype);
    for (auto d : t.shape) n *= uint64_t(d);
    header[t.name] = {{"dtype", dtype_name(t.dtype)}, {"shape", t.shape}, {"data_offsets", {offset, offset + n}}};
    offset += n;
    sizes.push_back(n);
  }
  std::string h = header.dump();
  while ((h.size() + 8) % 8) h += ' ';  // keep the data 8-byte aligned, as the reference writer does
  std::ofstream out(path, std::ios::binary);
  if (!out) throw Error("cannot write " + path);
  uint64_t len = h.size();
  out.write(reinterpret_cast<const char*>(&len), 8);
  out.write(h.data(), std::streamsize(h.size()));
  for (size_t i = 0; i < tensors.size(); ++i)
    out.write(static_cast<const char*>(tensors[i].data), std::streamsize(sizes[i]));
  if (!out) throw Error("failed writing " + path + " (disk full?)");
}

}  // namespace gptoss
