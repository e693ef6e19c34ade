#pragma once
// Parsing and printing byte counts the way users write them: "12GiB", "16G",
// "512MiB", "1.5TB" (decimal), "1024" (bytes).
#include <cstdint>
#include <string>

namespace gptoss {

uint64_t parse_mem_size(const std::string& text);  // throws Error on bad input
std::string format_mem_size(uint64_t bytes);        // "12.8 GiB"

}  // namespace gptoss
