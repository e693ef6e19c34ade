#pragma once
// GGUF metadata of every scalar type and flat arrays of three kinds: what the
// round-trip test checks, and a fuzz seed (fuzz/fuzz_gguf.cpp) starts from.
#include <nlohmann/json.hpp>

#include "format/gguf.h"

namespace gptoss::test {

inline void add_metadata_of_every_type(GgufWriter& w) {
  using T = GgufType;
  w.add_kv("u8", T::U8, 200);
  w.add_kv("i8", T::I8, -100);
  w.add_kv("u16", T::U16, 60000);
  w.add_kv("i16", T::I16, -30000);
  w.add_kv("u32", T::U32, 4000000000u);
  w.add_kv("i32", T::I32, -2000000000);
  w.add_kv("f32", T::F32, 1.5);
  w.add_kv("bool", T::BOOL, true);
  w.add_kv("string", T::STRING, "h\xc3\xa9llo");
  w.add_kv("u64", T::U64, 1ull << 60);
  w.add_kv("i64", T::I64, -(1ll << 60));
  w.add_kv("f64", T::F64, 0.1);
  w.add_kv("strings", T::ARRAY, {"x", "", "yz"}, T::STRING);
  w.add_kv("floats", T::ARRAY, {1.0, -2.5}, T::F32);
  w.add_kv("empty", T::ARRAY, nlohmann::json::array(), T::I32);
}

}  // namespace gptoss::test
