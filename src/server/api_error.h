#pragma once
// An OpenAI-style error: thrown anywhere while handling a request, turned into
//   {"error": {"message", "type", "param", "code"}} with its HTTP status.
#include <stdexcept>
#include <string>

#include <nlohmann/json.hpp>

namespace gptoss::server {

class ApiError : public std::runtime_error {
 public:
  ApiError(int status, std::string message, std::string param = {}, std::string code = {},
           std::string type = "invalid_request_error")
      : std::runtime_error(message), status(status), param(std::move(param)), code(std::move(code)), type(std::move(type)) {}

  int status;
  std::string param, code, type;
  int retry_after_s = 0;  // > 0: sent as a Retry-After header (429, 503)

  nlohmann::json to_json() const {
    nlohmann::json e = {{"message", what()}, {"type", type}, {"param", nullptr}, {"code", nullptr}};
    if (!param.empty()) e["param"] = param;
    if (!code.empty()) e["code"] = code;
    return {{"error", e}};
  }
};

inline ApiError bad_request(std::string message, std::string param = {}, std::string code = {}) {
  return ApiError(400, std::move(message), std::move(param), std::move(code));
}

}  // namespace gptoss::server
