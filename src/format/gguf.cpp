#include "format/gguf.h"

#include <cstring>
#include <fstream>

#include "core/error.h"

namespace gptoss {

namespace {

constexpr uint32_t kMagic = 0x46554747;  // "GGUF" read as little-endian u32
constexpr int kMaxDims = 4;              // GGML_MAX_DIMS
constexpr int kMaxArrayDepth = 4;

// A bounds-checked little-endian cursor over the mapped file.
class Cursor {
 public:
  Cursor(const uint8_t* data, size_t size, const std::string& path) : p_(data), size_(size), path_(path) {}

  size_t pos() const { return pos_; }
  size_t remaining() const { return size_ - pos_; }

  template <typename T>
  T read(const std::string& what) {
    need(sizeof(T), what);
    T v;
    std::memcpy(&v, p_ + pos_, sizeof(T));
    pos_ += sizeof(T);
    return v;
  }
  std::string string(const std::string& what) {
    const uint64_t n = read<uint64_t>(what);
    need(n, what);
    std::string s(reinterpret_cast<const char*>(p_ + pos_), size_t(n));
    pos_ += size_t(n);
    return s;
  }
  void need(uint64_t n, const std::string& what) const {
    if (n > remaining())
      throw Error(path_ + ": truncated GGUF file: " + what + " needs " + std::to_string(n) + " bytes at offset " +
                  std::to_string(pos_) + " but the file ends at " + std::to_string(size_));
  }

 private:
  const uint8_t* p_;
  size_t size_;
  size_t pos_ = 0;
  const std::string& path_;
};

const char* gguf_type_name(uint32_t t) {
  static const char* names[] = {"u8", "i8", "u16", "i16", "u32", "i32", "f32", "bool", "string", "array",
                                "u64", "i64", "f64"};
  return t < 13 ? names[t] : "unknown";
}

// Smallest encoding of one value of this type: bounds an array's count before allocating.
size_t min_value_bytes(GgufType t) {
  switch (t) {
    case GgufType::U8: case GgufType::I8: case GgufType::BOOL: return 1;
    case GgufType::U16: case GgufType::I16: return 2;
    case GgufType::U32: case GgufType::I32: case GgufType::F32: return 4;
    case GgufType::U64: case GgufType::I64: case GgufType::F64: case GgufType::STRING: return 8;
    case GgufType::ARRAY: return 12;
  }
  return 1;
}

nlohmann::json read_value(Cursor& c, GgufType type, const std::string& key, const std::string& path, int depth,
                          GgufType* array_type) {
  const std::string what = "value of '" + key + "'";
  switch (type) {
    case GgufType::U8: return c.read<uint8_t>(what);
    case GgufType::I8: return c.read<int8_t>(what);
    case GgufType::U16: return c.read<uint16_t>(what);
    case GgufType::I16: return c.read<int16_t>(what);
    case GgufType::U32: return c.read<uint32_t>(what);
    case GgufType::I32: return c.read<int32_t>(what);
    case GgufType::F32: return c.read<float>(what);
    case GgufType::U64: return c.read<uint64_t>(what);
    case GgufType::I64: return c.read<int64_t>(what);
    case GgufType::F64: return c.read<double>(what);
    case GgufType::BOOL: {
      uint8_t b = c.read<uint8_t>(what);
      if (b > 1) throw Error(path + ": metadata '" + key + "' is a bool with value " + std::to_string(b));
      return b == 1;
    }
    case GgufType::STRING: return c.string(what);
    case GgufType::ARRAY: {
      if (depth >= kMaxArrayDepth) throw Error(path + ": metadata '" + key + "' nests arrays too deeply");
      const uint32_t et = c.read<uint32_t>("array type of '" + key + "'");
      if (et > 12) throw Error(path + ": metadata '" + key + "' is an array of unknown type " + std::to_string(et));
      const uint64_t n = c.read<uint64_t>("array length of '" + key + "'");
      const GgufType elem = GgufType(et);
      if (n > c.remaining() / min_value_bytes(elem))
        throw Error(path + ": metadata '" + key + "' claims " + std::to_string(n) + " " + gguf_type_name(et) +
                    " elements, more than the " + std::to_string(c.remaining()) + " bytes left in the file");
      if (array_type) *array_type = elem;
      nlohmann::json arr = nlohmann::json::array();
      arr.get_ref<nlohmann::json::array_t&>().reserve(size_t(n));
      for (uint64_t i = 0; i < n; ++i) arr.push_back(read_value(c, elem, key, path, depth + 1, nullptr));
      return arr;
    }
  }
  throw Error(path + ": metadata '" + key + "' has unknown value type " + std::to_string(uint32_t(type)));
}

void write_value(std::vector<uint8_t>& out, GgufType type, const nlohmann::json& v, GgufType array_type) {
  auto put = [&](const auto& x) {
    const uint8_t* b = reinterpret_cast<const uint8_t*>(&x);
    out.insert(out.end(), b, b + sizeof(x));
  };
  switch (type) {
    case GgufType::U8: put(v.get<uint8_t>()); break;
    case GgufType::I8: put(v.get<int8_t>()); break;
    case GgufType::U16: put(v.get<uint16_t>()); break;
    case GgufType::I16: put(v.get<int16_t>()); break;
    case GgufType::U32: put(v.get<uint32_t>()); break;
    case GgufType::I32: put(v.get<int32_t>()); break;
    case GgufType::F32: put(v.get<float>()); break;
    case GgufType::U64: put(v.get<uint64_t>()); break;
    case GgufType::I64: put(v.get<int64_t>()); break;
    case GgufType::F64: put(v.get<double>()); break;
    case GgufType::BOOL: put(uint8_t(v.get<bool>() ? 1 : 0)); break;
    case GgufType::STRING: {
      const std::string& s = v.get_ref<const std::string&>();
      put(uint64_t(s.size()));
      out.insert(out.end(), s.begin(), s.end());
      break;
    }
    case GgufType::ARRAY:
      put(uint32_t(array_type));
      put(uint64_t(v.size()));
      for (auto& e : v) write_value(out, array_type, e, GgufType::U8);
      break;
  }
}

}  // namespace

const GgmlTypeTraits* ggml_type_traits(uint32_t type) {
  static const std::map<uint32_t, GgmlTypeTraits> table = {
      {0, {"F32", 1, 4}},         {1, {"F16", 1, 2}},         {2, {"Q4_0", 32, 18}},      {3, {"Q4_1", 32, 20}},
      {6, {"Q5_0", 32, 22}},      {7, {"Q5_1", 32, 24}},      {8, {"Q8_0", 32, 34}},      {9, {"Q8_1", 32, 36}},
      {10, {"Q2_K", 256, 84}},    {11, {"Q3_K", 256, 110}},   {12, {"Q4_K", 256, 144}},   {13, {"Q5_K", 256, 176}},
      {14, {"Q6_K", 256, 210}},   {15, {"Q8_K", 256, 292}},   {16, {"IQ2_XXS", 256, 66}}, {17, {"IQ2_XS", 256, 74}},
      {18, {"IQ3_XXS", 256, 98}}, {19, {"IQ1_S", 256, 50}},   {20, {"IQ4_NL", 32, 18}},   {21, {"IQ3_S", 256, 110}},
      {22, {"IQ2_S", 256, 82}},   {23, {"IQ4_XS", 256, 136}}, {24, {"I8", 1, 1}},         {25, {"I16", 1, 2}},
      {26, {"I32", 1, 4}},        {27, {"I64", 1, 8}},        {28, {"F64", 1, 8}},        {29, {"IQ1_M", 256, 56}},
      {30, {"BF16", 1, 2}},       {34, {"TQ1_0", 256, 54}},   {35, {"TQ2_0", 256, 66}},   {39, {"MXFP4", 32, 17}},
  };
  auto it = table.find(type);
  return it == table.end() ? nullptr : &it->second;
}

size_t ggml_tensor_bytes(GgmlType type, const std::vector<int64_t>& dims, const std::string& what) {
  const GgmlTypeTraits* t = ggml_type_traits(uint32_t(type));
  if (!t) throw Error(what + ": unknown ggml type " + std::to_string(uint32_t(type)));
  if (dims.empty()) return size_t(t->block_bytes);
  if (dims[0] % t->block_values != 0)
    throw Error(what + ": innermost dimension " + std::to_string(dims[0]) + " is not a multiple of the " + t->name +
                " block of " + std::to_string(t->block_values) + " values");
  // Overflow-safe product: each dimension was checked to be below 2^40 by the reader.
  __uint128_t bytes = __uint128_t(uint64_t(dims[0]) / uint64_t(t->block_values)) * uint64_t(t->block_bytes);
  for (size_t i = 1; i < dims.size(); ++i) {
    bytes *= uint64_t(dims[i]);
    if (bytes > (__uint128_t(1) << 62)) throw Error(what + ": tensor size overflows");
  }
  return size_t(bytes);
}

std::shared_ptr<GgufFile> GgufFile::open(const std::string& path) {
  auto f = std::shared_ptr<GgufFile>(new GgufFile());
  f->file_ = std::make_unique<MappedFile>(path);
  const std::string& p = f->file_->path();
  Cursor c(f->file_->data(), f->file_->size(), p);
  if (f->file_->size() < 4 || c.read<uint32_t>("magic") != kMagic)
    throw Error(p + ": not a GGUF file (it does not start with \"GGUF\")");
  f->version_ = c.read<uint32_t>("version");
  if (f->version_ != 2 && f->version_ != 3)
    throw Error(p + ": GGUF version " + std::to_string(f->version_) +
                " is not supported (versions 2 and 3 are; re-convert with a current llama.cpp)");
  const uint64_t n_tensors = c.read<uint64_t>("tensor count");
  const uint64_t n_kv = c.read<uint64_t>("metadata count");
  // A key/value takes at least 8 + 4 + 1 bytes and a tensor info 8 + 4 + 4 + 8.
  if (n_kv > c.remaining() / 13)
    throw Error(p + ": header claims " + std::to_string(n_kv) + " metadata entries, more than the file can hold");
  if (n_tensors > c.remaining() / 24)
    throw Error(p + ": header claims " + std::to_string(n_tensors) + " tensors, more than the file can hold");

  for (uint64_t i = 0; i < n_kv; ++i) {
    std::string key = c.string("metadata key " + std::to_string(i));
    const uint32_t t = c.read<uint32_t>("type of '" + key + "'");
    if (t > 12) throw Error(p + ": metadata '" + key + "' has unknown value type " + std::to_string(t));
    GgufKv kv;
    kv.type = GgufType(t);
    kv.value = read_value(c, kv.type, key, p, 0, &kv.array_type);
    if (!f->kv_.emplace(key, std::move(kv)).second) throw Error(p + ": metadata key '" + key + "' appears twice");
  }
  if (const GgufKv* a = f->find_kv("general.alignment")) {
    if (a->type != GgufType::U32) throw Error(p + ": general.alignment must be a u32");
    const uint64_t al = a->value.get<uint64_t>();
    if (al == 0 || (al & (al - 1)) != 0)
      throw Error(p + ": general.alignment " + std::to_string(al) + " is not a power of two");
    f->alignment_ = al;
  }

  for (uint64_t i = 0; i < n_tensors; ++i) {
    GgufTensor t;
    t.name = c.string("name of tensor " + std::to_string(i));
    const std::string what = p + ": tensor '" + t.name + "'";
    const uint32_t nd = c.read<uint32_t>("dimension count of '" + t.name + "'");
    if (nd < 1 || nd > kMaxDims) throw Error(what + " has " + std::to_string(nd) + " dimensions (1 to 4 allowed)");
    for (uint32_t d = 0; d < nd; ++d) {
      const uint64_t v = c.read<uint64_t>("dimensions of '" + t.name + "'");
      if (v == 0 || v > (1ull << 40)) throw Error(what + " has dimension " + std::to_string(v));
      t.dims.push_back(int64_t(v));
    }
    const uint32_t type = c.read<uint32_t>("type of '" + t.name + "'");
    if (!ggml_type_traits(type))
      throw Error(what + " has unknown ggml type " + std::to_string(type) + " (newer than this reader?)");
    t.type = GgmlType(type);
    t.offset = c.read<uint64_t>("offset of '" + t.name + "'");
    if (t.offset % f->alignment_ != 0)
      throw Error(what + " has offset " + std::to_string(t.offset) + ", not a multiple of the alignment " +
                  std::to_string(f->alignment_));
    t.nbytes = ggml_tensor_bytes(t.type, t.dims, what);
    if (!f->by_name_.emplace(t.name, f->tensors_.size()).second) throw Error(what + " appears twice");
    f->tensors_.push_back(std::move(t));
  }
  const uint64_t data_start = (uint64_t(c.pos()) + f->alignment_ - 1) / f->alignment_ * f->alignment_;
  const uint64_t size = f->file_->size();
  for (GgufTensor& t : f->tensors_) {
    if (data_start > size || t.offset > size - data_start || t.nbytes > size - data_start - t.offset)
      throw Error(p + ": tensor '" + t.name + "' (" + std::to_string(t.nbytes) + " bytes at data offset " +
                  std::to_string(t.offset) + ") runs past the end of the file (" + std::to_string(size) +
                  " bytes): the file is truncated or corrupt");
    t.data = f->file_->data() + data_start + t.offset;
  }
  return f;
}

const GgufKv* GgufFile::find_kv(const std::string& key) const {
  auto it = kv_.find(key);
  return it == kv_.end() ? nullptr : &it->second;
}

const GgufTensor* GgufFile::find(const std::string& name) const {
  auto it = by_name_.find(name);
  return it == by_name_.end() ? nullptr : &tensors_[it->second];
}

void GgufWriter::add_kv(const std::string& key, GgufType type, nlohmann::json value, GgufType array_type) {
  kvs_.push_back({key, GgufKv{type, array_type, std::move(value)}});
}

void GgufWriter::add_tensor(const std::string& name, GgmlType type, std::vector<int64_t> dims, const void* data) {
  const size_t n = ggml_tensor_bytes(type, dims, name);
  const uint8_t* b = static_cast<const uint8_t*>(data);
  tensors_.push_back({name, type, std::move(dims), std::vector<uint8_t>(b, b + n)});
}

void GgufWriter::write(const std::string& path, uint64_t alignment) const {
  std::vector<uint8_t> out;
  auto put = [&](const auto& x) {
    const uint8_t* b = reinterpret_cast<const uint8_t*>(&x);
    out.insert(out.end(), b, b + sizeof(x));
  };
  auto put_string = [&](const std::string& s) {
    put(uint64_t(s.size()));
    out.insert(out.end(), s.begin(), s.end());
  };
  put(kMagic);
  put(uint32_t(3));
  put(uint64_t(tensors_.size()));
  put(uint64_t(kvs_.size()));
  for (auto& kv : kvs_) {
    put_string(kv.key);
    put(uint32_t(kv.kv.type));
    write_value(out, kv.kv.type, kv.kv.value, kv.kv.array_type);
  }
  auto align = [&](uint64_t v) { return (v + alignment - 1) / alignment * alignment; };
  uint64_t offset = 0;
  for (auto& t : tensors_) {
    put_string(t.name);
    put(uint32_t(t.dims.size()));
    for (auto d : t.dims) put(uint64_t(d));
    put(uint32_t(t.type));
    put(offset);
    offset = align(offset + t.bytes.size());
  }
  out.resize(size_t(align(out.size())), 0);
  // Padding goes between tensors; the file ends with the last tensor's bytes.
  for (size_t i = 0; i < tensors_.size(); ++i) {
    if (i > 0) out.resize(size_t(align(out.size())), 0);
    out.insert(out.end(), tensors_[i].bytes.begin(), tensors_[i].bytes.end());
  }
  std::ofstream f(path, std::ios::binary);
  if (!f) throw Error("cannot write " + path);
  f.write(reinterpret_cast<const char*>(out.data()), std::streamsize(out.size()));
  if (!f) throw Error("cannot write " + path);
}

}  // namespace gptoss
