#pragma once
// Token-id lists as users type them: "1,2,3" or a JSON array "[1, 2, 3]".
#include <cstdint>
#include <string>
#include <vector>

namespace gptoss::cli {

std::vector<int32_t> parse_ids(const std::string& text);  // throws Error
std::vector<int32_t> read_ids_file(const std::string& path);
std::string ids_to_json(const std::vector<int32_t>& ids);

}  // namespace gptoss::cli
