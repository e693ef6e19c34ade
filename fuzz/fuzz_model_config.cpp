// libFuzzer target: config.json text -> ModelConfig. Bad configs must be
// refused with gptoss::Error (a message naming the field), nothing else.
#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "format/model_config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  nlohmann::json j = nlohmann::json::parse(data, data + size, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return 0;
  try {
    gptoss::ModelConfig::from_json(j, "fuzz/config.json");
  } catch (const gptoss::Error&) {
  }
  return 0;
}
