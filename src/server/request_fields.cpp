#include "server/request_fields.h"

#include <algorithm>
#include <cmath>
#include <map>

#include "server/api_error.h"

namespace gptoss::server {

namespace {
std::string type_name(const Json& v) {
  if (v.is_string()) return "a string";
  if (v.is_boolean()) return "a boolean";
  if (v.is_number()) return "a number";
  if (v.is_array()) return "an array";
  if (v.is_object()) return "an object";
  return "null";
}
const Json* field(const Json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return nullptr;
  return &*it;
}
[[noreturn]] void wrong_type(const char* key, const char* want, const Json& v) {
  throw bad_request(std::string("'") + key + "' must be " + want + ", not " + type_name(v), key, "invalid_type");
}
}  // namespace

Json parse_body(const std::string& body) {
  Json j;
  try {
    j = Json::parse(body);
  } catch (const std::exception& e) {
    throw bad_request(std::string("the request body is not valid JSON: ") + e.what(), "", "invalid_json");
  }
  if (!j.is_object()) throw bad_request("the request body must be a JSON object, not " + type_name(j), "", "invalid_json");
  return j;
}

std::optional<bool> opt_bool(const Json& j, const char* key) {
  const Json* v = field(j, key);
  if (!v) return std::nullopt;
  if (!v->is_boolean()) wrong_type(key, "a boolean", *v);
  return v->get<bool>();
}

std::optional<int64_t> opt_int(const Json& j, const char* key, int64_t lo, int64_t hi) {
  const Json* v = field(j, key);
  if (!v) return std::nullopt;
  if (!v->is_number() || (v->is_number_float() && std::floor(v->get<double>()) != v->get<double>()))
    wrong_type(key, "an integer", *v);
  const double d = v->get<double>();
  if (d < double(lo) || d > double(hi))
    throw bad_request(std::string("'") + key + "' must be between " + std::to_string(lo) + " and " + std::to_string(hi) +
                          ", got " + v->dump(),
                      key, "invalid_value");
  return int64_t(d);
}

std::optional<double> opt_number(const Json& j, const char* key, double lo, double hi) {
  const Json* v = field(j, key);
  if (!v) return std::nullopt;
  if (!v->is_number()) wrong_type(key, "a number", *v);
  const double d = v->get<double>();
  if (!(d >= lo && d <= hi)) {
    char buf[160];
    std::snprintf(buf, sizeof buf, "'%s' must be between %g and %g, got %g", key, lo, hi, d);
    throw bad_request(buf, key, "invalid_value");
  }
  return d;
}

std::optional<std::string> opt_string(const Json& j, const char* key) {
  const Json* v = field(j, key);
  if (!v) return std::nullopt;
  if (!v->is_string()) wrong_type(key, "a string", *v);
  return v->get<std::string>();
}

std::vector<std::string> opt_string_list(const Json& j, const char* key, size_t max_items) {
  const Json* v = field(j, key);
  if (!v) return {};
  std::vector<std::string> out;
  if (v->is_string()) out.push_back(v->get<std::string>());
  else if (v->is_array()) {
    for (auto& s : *v) {
      if (!s.is_string()) wrong_type(key, "a string or an array of strings", *v);
      out.push_back(s.get<std::string>());
    }
  } else wrong_type(key, "a string or an array of strings", *v);
  if (out.size() > max_items)
    throw bad_request(std::string("'") + key + "' takes at most " + std::to_string(max_items) + " entries", key, "invalid_value");
  for (auto& s : out)
    if (s.empty()) throw bad_request(std::string("'") + key + "' entries must not be empty", key, "invalid_value");
  return out;
}

std::vector<std::pair<int32_t, float>> opt_logit_bias(const Json& j) {
  const Json* v = field(j, "logit_bias");
  if (!v) return {};
  auto bad = [](const std::string& why) { return bad_request("'logit_bias' " + why, "logit_bias", "invalid_value"); };
  auto token_of = [&](const std::string& key) {
    // OpenAI's keys are token ids written as strings: digits only.
    if (key.empty() || key.size() > 9 || key.find_first_not_of("0123456789") != std::string::npos)
      throw bad("keys must be token ids (non-negative integers, as strings), got \"" + key + "\"");
    return int32_t(std::stol(key));
  };
  auto bias_of = [&](const Json& b, int32_t tok) {
    if (!b.is_number()) throw bad("values must be numbers, got " + type_name(b) + " for token " + std::to_string(tok));
    const double d = b.get<double>();
    if (!(d >= -100 && d <= 100))
      throw bad("values must be between -100 and 100, got " + b.dump() + " for token " + std::to_string(tok));
    return float(d);
  };
  std::map<int32_t, float> by_token;  // one bias a token: the last given
  if (v->is_object()) {
    for (auto it = v->begin(); it != v->end(); ++it) {
      const int32_t tok = token_of(it.key());
      by_token[tok] = bias_of(it.value(), tok);
    }
  } else if (v->is_array()) {
    // llama.cpp's form: [[token id, bias], ...].
    for (const Json& e : *v) {
      if (!e.is_array() || e.size() != 2 || !e[0].is_number_integer() || e[0].get<int64_t>() < 0 ||
          e[0].get<int64_t>() > INT32_MAX)
        throw bad("as an array holds [token id, bias] pairs, got " + e.dump());
      const int32_t tok = int32_t(e[0].get<int64_t>());
      by_token[tok] = bias_of(e[1], tok);
    }
  } else {
    wrong_type("logit_bias", "an object mapping token ids to biases", *v);
  }
  return {by_token.begin(), by_token.end()};
}

CommonParams parse_common(const Json& b, const char* max_key, int min_tokens) {
  CommonParams p;
  SamplingParams& s = p.sampling;
  if (auto v = opt_number(b, "temperature", 0, 2)) s.temperature = float(*v);
  if (auto v = opt_number(b, "top_p", 0, 1)) s.top_p = float(*v);
  if (auto v = opt_int(b, "top_k", -1, 1 << 20)) s.top_k = int(std::max<int64_t>(0, *v));
  if (auto v = opt_number(b, "min_p", 0, 1)) s.min_p = float(*v);
  if (auto v = opt_number(b, "frequency_penalty", -2, 2)) s.frequency_penalty = float(*v);
  if (auto v = opt_number(b, "presence_penalty", -2, 2)) s.presence_penalty = float(*v);
  if (auto v = opt_int(b, "seed", INT64_MIN, INT64_MAX)) s.seed = uint64_t(*v);
  s.logit_bias = opt_logit_bias(b);
  if (auto v = opt_int(b, max_key, min_tokens, INT32_MAX)) p.max_tokens = int(*v);
  if (auto v = opt_int(b, "max_completion_tokens", 1, INT32_MAX)) p.max_tokens = int(*v);
  p.stop = opt_string_list(b, "stop", 4);
  p.stream = opt_bool(b, "stream").value_or(false);
  if (auto it = b.find("stream_options"); it != b.end() && !it->is_null()) {
    if (!it->is_object()) wrong_type("stream_options", "an object", *it);
    p.include_usage = opt_bool(*it, "include_usage").value_or(false);
  }
  if (auto v = opt_int(b, "n", 1, 16)) p.n = int(*v);
  if (auto v = opt_string(b, "user")) p.user = *v;
  return p;
}

std::optional<std::string> forced_output(const Json& b) {
  auto it = b.find("gptoss_debug");
  if (it == b.end() || !it->is_object()) return std::nullopt;
  return opt_string(*it, "force_output");
}

std::optional<int> debug_fail_after_tokens(const Json& b) {
  auto it = b.find("gptoss_debug");
  if (it == b.end() || !it->is_object()) return std::nullopt;
  if (auto v = opt_int(*it, "fail_after_tokens", 0, INT32_MAX)) return int(*v);
  return std::nullopt;
}

}  // namespace gptoss::server
