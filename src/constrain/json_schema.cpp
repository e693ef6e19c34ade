#include "constrain/json_schema.h"

#include <cmath>
#include <map>
#include <set>

#include "constrain/regex_dfa.h"

namespace gptoss::constrain {

namespace {

using Json = nlohmann::ordered_json;

// Numbers are written with at most this many integer digits, so a bound
// beyond +-1e15 is as good as none.
constexpr double kNumberLimit = 999999999999999.0;

const std::set<std::string>& annotation_keywords() {
  static const std::set<std::string> k{"description", "title", "default", "examples", "$schema", "$id", "$comment",
                                       "deprecated", "readOnly", "writeOnly"};
  return k;
}

const std::set<std::string>& supported_keywords() {
  static const std::set<std::string> k{"type",      "properties", "required",         "additionalProperties",
                                       "items",     "minItems",   "maxItems",         "enum",
                                       "const",     "pattern",    "format",           "minLength",
                                       "maxLength", "minimum",    "maximum",          "exclusiveMinimum",
                                       "exclusiveMaximum", "anyOf", "$defs",          "definitions",
                                       "$ref"};
  return k;
}

class Compiler {
 public:
  Compiler(const Json& root, const SchemaLimits& lim) : root_(root), lim_(lim) {}

  Grammar run() {
    g_.root = compile(root_, "", 0);
    check_size("");
    return std::move(g_);
  }

  int any_value() {
    if (any_ >= 0) return any_;
    any_ = g_.alt({});
    Node map;
    map.kind = NodeKind::Map;
    map.kids = {any_, g_.add(Node{NodeKind::String})};
    Node arr;
    arr.kind = NodeKind::Array;
    arr.kids = {any_};
    Node str;
    str.kind = NodeKind::String;
    Node num;
    num.kind = NodeKind::Number;
    std::vector<int> kids{g_.add(map), g_.add(arr), g_.add(str), g_.add(num), g_.literal("true"), g_.literal("false"),
                          g_.literal("null")};
    g_.nodes[size_t(any_)].kids = kids;
    return any_;
  }

 private:
  [[noreturn]] static void fail(const std::string& kw, const std::string& path, const std::string& why) {
    throw SchemaError(kw, path.empty() ? "/" : path, why);
  }

  void check_size(const std::string& path) {
    if (g_.nodes.size() > lim_.max_nodes || g_.size_bytes() > lim_.max_bytes)
      fail("schema", path, "compiles to more than the limit (" + std::to_string(lim_.max_nodes) + " nodes, " +
                               std::to_string(lim_.max_bytes >> 20) + " MiB): simplify it");
  }

  int compile(const Json& s, const std::string& path, int depth) {
    if (depth > lim_.max_depth) fail("schema", path, "nests deeper than " + std::to_string(lim_.max_depth) + " levels");
    check_size(path);
    if (s.is_boolean()) {
      if (!s.get<bool>()) fail("false", path, "(a schema nothing validates against) cannot be generated");
      return any_value();
    }
    if (!s.is_object()) fail("schema", path, "must be an object, not " + std::string(s.type_name()));
    for (auto it = s.begin(); it != s.end(); ++it)
      if (!supported_keywords().count(it.key()) && !annotation_keywords().count(it.key()))
        fail(it.key(), path, "is not supported in structured outputs");
    if (auto r = s.find("$ref"); r != s.end()) return ref(*r, path, depth);
    if (auto c = s.find("const"); c != s.end()) return g_.literal(c->dump());
    if (auto e = s.find("enum"); e != s.end()) {
      if (!e->is_array() || e->empty()) fail("enum", path, "must be a non-empty array");
      std::vector<int> kids;
      std::set<std::string> seen;
      for (const Json& v : *e)
        if (seen.insert(v.dump()).second) kids.push_back(g_.literal(v.dump()));
      return kids.size() == 1 ? kids[0] : g_.alt(kids);
    }
    if (auto a = s.find("anyOf"); a != s.end()) {
      if (!a->is_array() || a->empty()) fail("anyOf", path, "must be a non-empty array of schemas");
      std::vector<int> kids;
      for (size_t i = 0; i < a->size(); ++i) kids.push_back(compile((*a)[i], path + "/anyOf/" + std::to_string(i), depth + 1));
      return kids.size() == 1 ? kids[0] : g_.alt(kids);
    }
    std::vector<std::string> types;
    if (auto t = s.find("type"); t != s.end()) {
      if (t->is_string()) types.push_back(t->get<std::string>());
      else if (t->is_array() && !t->empty())
        for (const Json& x : *t) {
          if (!x.is_string()) fail("type", path, "must be a string or an array of strings");
          types.push_back(x.get<std::string>());
        }
      else fail("type", path, "must be a string or a non-empty array of strings");
    } else if (s.contains("properties") || s.contains("additionalProperties") || s.contains("required")) {
      types.push_back("object");
    } else if (s.contains("items") || s.contains("minItems") || s.contains("maxItems")) {
      types.push_back("array");
    } else if (s.contains("pattern") || s.contains("format") || s.contains("minLength") || s.contains("maxLength")) {
      types.push_back("string");
    } else if (s.contains("minimum") || s.contains("maximum") || s.contains("exclusiveMinimum") ||
               s.contains("exclusiveMaximum")) {
      types.push_back("number");
    } else {
      return any_value();
    }
    std::vector<int> kids;
    for (const std::string& t : types) kids.push_back(typed(s, t, path, depth));
    return kids.size() == 1 ? kids[0] : g_.alt(kids);
  }

  int ref(const Json& r, const std::string& path, int depth) {
    if (!r.is_string()) fail("$ref", path, "must be a string");
    const std::string target = r.get<std::string>();
    if (auto it = refs_.find(target); it != refs_.end()) return it->second;
    if (target.empty() || target[0] != '#')
      fail("$ref", path, "'" + target + "' is not a local reference (#, #/$defs/NAME or #/definitions/NAME)");
    const Json* node = nullptr;
    try {
      node = &root_.at(Json::json_pointer(target.substr(1)));
    } catch (const std::exception&) {
      fail("$ref", path, "'" + target + "' points to nothing in the schema");
    }
    // The indirection exists before its target is compiled, so a reference
    // inside the target (recursion) finds it.
    const int id = g_.alt({});
    refs_[target] = id;
    const int body = compile(*node, target.substr(1), depth + 1);
    g_.nodes[size_t(id)].kids = {body};
    return id;
  }

  static double number_of(const Json& s, const char* kw, const std::string& path) {
    const Json& v = s.at(kw);
    if (!v.is_number()) fail(kw, path, "must be a number");
    return v.get<double>();
  }
  static int64_t count_of(const Json& s, const char* kw, const std::string& path) {
    const Json& v = s.at(kw);
    if (!v.is_number_integer() || v.get<int64_t>() < 0) fail(kw, path, "must be a non-negative integer");
    return v.get<int64_t>();
  }

  int typed(const Json& s, const std::string& type, const std::string& path, int depth) {
    if (type == "null") return g_.literal("null");
    if (type == "boolean") return g_.alt({g_.literal("true"), g_.literal("false")});
    if (type == "number" || type == "integer") return number(s, type == "integer", path);
    if (type == "string") return string(s, path);
    if (type == "array") return array(s, path, depth);
    if (type == "object") return object(s, path, depth);
    fail("type", path, "'" + type + "' is not a JSON Schema type");
  }

  int number(const Json& s, bool integer, const std::string& path) {
    Node n;
    n.kind = NodeKind::Number;
    n.integer = integer;
    n.has_min = n.has_max = true;
    n.min = -kNumberLimit, n.max = kNumberLimit;
    auto lower = [&](double v, bool excl) {
      if (v > n.min || (v == n.min && excl)) n.min = v, n.excl_min = excl;
    };
    auto upper = [&](double v, bool excl) {
      if (v < n.max || (v == n.max && excl)) n.max = v, n.excl_max = excl;
    };
    // Draft 4 wrote exclusive bounds as booleans beside minimum/maximum.
    const bool old_excl_min = s.contains("exclusiveMinimum") && s["exclusiveMinimum"].is_boolean() && s["exclusiveMinimum"].get<bool>();
    const bool old_excl_max = s.contains("exclusiveMaximum") && s["exclusiveMaximum"].is_boolean() && s["exclusiveMaximum"].get<bool>();
    if (s.contains("minimum")) lower(number_of(s, "minimum", path), old_excl_min);
    if (s.contains("maximum")) upper(number_of(s, "maximum", path), old_excl_max);
    if (s.contains("exclusiveMinimum") && !s["exclusiveMinimum"].is_boolean()) lower(number_of(s, "exclusiveMinimum", path), true);
    if (s.contains("exclusiveMaximum") && !s["exclusiveMaximum"].is_boolean()) upper(number_of(s, "exclusiveMaximum", path), true);
    if (integer) {
      double lo = n.excl_min ? std::floor(n.min) + 1 : std::ceil(n.min);
      double hi = n.excl_max ? std::ceil(n.max) - 1 : std::floor(n.max);
      n.min = std::max(lo, -kNumberLimit), n.max = std::min(hi, kNumberLimit);
      n.excl_min = n.excl_max = false;
    }
    if (n.min > n.max || (n.min == n.max && (n.excl_min || n.excl_max)) || n.min > kNumberLimit || n.max < -kNumberLimit)
      fail("minimum", path, std::string("and maximum leave no ") + (integer ? "integer" : "number") + " (within +-1e15) to choose");
    return g_.add(std::move(n));
  }

  int string(const Json& s, const std::string& path) {
    Node n;
    n.kind = NodeKind::String;
    if (s.contains("minLength")) n.min_count = count_of(s, "minLength", path);
    if (s.contains("maxLength")) n.max_count = count_of(s, "maxLength", path);
    if (n.max_count >= 0 && n.max_count < n.min_count) fail("maxLength", path, "is below minLength");
    std::string pattern, kw;
    if (auto f = s.find("format"); f != s.end()) {
      if (!f->is_string()) fail("format", path, "must be a string");
      pattern = format_pattern(f->get<std::string>());
      if (pattern.empty())
        fail("format", path, "'" + f->get<std::string>() + "' is not supported (date-time, date, time, duration, email, "
                             "hostname, ipv4, uuid are)");
      kw = "format";
    }
    if (auto p = s.find("pattern"); p != s.end()) {
      if (!p->is_string()) fail("pattern", path, "must be a string");
      if (!pattern.empty()) fail("pattern", path, "together with format is not supported");
      pattern = p->get<std::string>();
      kw = "pattern";
    }
    if (!kw.empty()) {
      try {
        g_.dfas.push_back(compile_pattern(pattern, kw, lim_.max_pattern_states));
      } catch (const SchemaError& e) {
        fail(kw, path, e.why());
      }
      n.dfa = int(g_.dfas.size()) - 1;
    }
    return g_.add(std::move(n));
  }

  int array(const Json& s, const std::string& path, int depth) {
    Node n;
    n.kind = NodeKind::Array;
    if (s.contains("minItems")) n.min_count = count_of(s, "minItems", path);
    if (s.contains("maxItems")) n.max_count = count_of(s, "maxItems", path);
    if (n.max_count >= 0 && n.max_count < n.min_count) fail("maxItems", path, "is below minItems");
    if (auto it = s.find("items"); it != s.end()) {
      if (!it->is_object() && !it->is_boolean()) fail("items", path, "must be one schema (tuples are not supported)");
      if (it->is_boolean() && !it->get<bool>()) {
        if (n.min_count > 0) fail("items", path, "is false but minItems asks for items");
        return g_.literal("[]");
      }
      n.kids = {compile(*it, path + "/items", depth + 1)};
    } else {
      n.kids = {any_value()};
    }
    return g_.add(std::move(n));
  }

  int object(const Json& s, const std::string& path, int depth) {
    if (auto ap = s.find("additionalProperties"); ap != s.end() && !ap->is_boolean())
      fail("additionalProperties", path, "must be false or true (a schema for extra properties is not supported)");
    auto props = s.find("properties");
    if (props == s.end()) {
      if (s.contains("required") && !s["required"].empty())
        fail("required", path, "names properties but 'properties' is missing");
      const bool closed = s.contains("additionalProperties") && !s["additionalProperties"].get<bool>();
      if (closed) return g_.literal("{}");
      Node m;
      m.kind = NodeKind::Map;
      const int key = g_.add(Node{NodeKind::String});
      m.kids = {any_value(), key};
      return g_.add(std::move(m));
    }
    if (!props->is_object()) fail("properties", path, "must be an object");
    std::set<std::string> required;
    if (auto r = s.find("required"); r != s.end()) {
      if (!r->is_array()) fail("required", path, "must be an array of property names");
      for (const Json& x : *r) {
        if (!x.is_string()) fail("required", path, "must be an array of property names");
        if (!props->contains(x.get<std::string>()))
          fail("required", path, "names '" + x.get<std::string>() + "', which is not among the properties");
        required.insert(x.get<std::string>());
      }
    }
    Node n;
    n.kind = NodeKind::Object;
    for (auto it = props->begin(); it != props->end(); ++it) {
      Property p;
      p.key_json = Json(it.key()).dump();
      p.required = required.count(it.key()) > 0;
      p.value = compile(it.value(), path + "/properties/" + it.key(), depth + 1);
      n.props.push_back(std::move(p));
    }
    return g_.add(std::move(n));
  }

  const Json& root_;
  SchemaLimits lim_;
  Grammar g_;
  std::map<std::string, int> refs_;
  int any_ = -1;
};

}  // namespace

Grammar compile_json_schema(const Json& schema, const SchemaLimits& limits) {
  return Compiler(schema, limits).run();
}

Grammar any_json_object() {
  static const Json schema = Json::parse(R"({"type":"object"})");
  return compile_json_schema(schema);
}

}  // namespace gptoss::constrain
