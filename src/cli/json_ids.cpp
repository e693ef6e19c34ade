#include "cli/json_ids.h"

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "core/error.h"

namespace gptoss::cli {

std::vector<int32_t> parse_ids(const std::string& text) {
  std::string t = text;
  size_t a = t.find_first_not_of(" \t\r\n");
  if (a == std::string::npos) return {};
  if (t[a] != '[') t = "[" + t + "]";
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(t);
  } catch (const std::exception&) {
    throw Error("token ids must be a JSON array or a comma-separated list of integers, got: " + text.substr(0, 80));
  }
  std::vector<int32_t> ids;
  for (auto& v : j) {
    if (!v.is_number_integer() || v.get<int64_t>() < 0 || v.get<int64_t>() > INT32_MAX)
      throw Error("token ids must be non-negative integers, got " + v.dump());
    ids.push_back(v.get<int32_t>());
  }
  return ids;
}

std::vector<int32_t> read_ids_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw Error("cannot open " + path);
  std::stringstream ss;
  ss << in.rdbuf();
  try {
    return parse_ids(ss.str());
  } catch (const Error& e) {
    throw Error(path + ": " + e.what());
  }
}

std::string ids_to_json(const std::vector<int32_t>& ids) { return nlohmann::json(ids).dump(); }

}  // namespace gptoss::cli
