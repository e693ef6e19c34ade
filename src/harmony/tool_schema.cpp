#include "harmony/tool_schema.h"

#include <set>

#include "core/join.h"

namespace gptoss::harmony {

using ojson = nlohmann::ordered_json;

namespace {

const ojson* get(const ojson& j, const char* key) {
  if (!j.is_object()) return nullptr;
  auto it = j.find(key);
  return it == j.end() ? nullptr : &*it;
}

const std::string* get_string(const ojson& j, const char* key) {
  const ojson* v = get(j, key);
  return v && v->is_string() ? v->get_ptr<const std::string*>() : nullptr;
}

bool is_enum(const ojson& schema) {
  const ojson* e = get(schema, "enum");
  return e && e->is_array() && !e->empty();
}

bool is_nullable(const ojson& schema) {
  const ojson* n = get(schema, "nullable");
  return n && n->is_boolean() && n->get<bool>();
}

// The variants of a union: "oneOf", else "anyOf" (harmony knows only oneOf;
// anyOf is what pydantic writes for Optional fields, so we read it alike).
const ojson* union_variants(const ojson& schema) {
  if (const ojson* v = get(schema, "oneOf")) return v;
  if (get(schema, "properties")) return nullptr;  // anyOf beside properties only constrains them
  return get(schema, "anyOf");
}

bool is_null_type(const ojson& schema) {
  const ojson* t = get(schema, "type");
  return t && t->is_string() && t->get_ref<const std::string&>() == "null";
}

// A union variant's type. harmony prints {"type":"null"} as `any`; in anyOf
// (our extension, where Optional fields put it) it is printed as `null`.
std::string variant_type(const ojson& parent, const ojson& variant, const std::string& indent) {
  if (!get(parent, "oneOf") && is_null_type(variant)) return "null";
  return json_schema_to_typescript(variant, indent);
}

std::string with_null(std::string type, const ojson& schema) {
  if (is_nullable(schema) && type.find("null") == std::string::npos) type += " | null";
  return type;
}

// "default: ..." as harmony writes it beside properties: a plain string in
// quotes, an enum's string bare, anything else as compact JSON.
std::string default_comment(const ojson& schema, const ojson& value) {
  if (value.is_string()) {
    const std::string& s = value.get_ref<const std::string&>();
    return is_enum(schema) ? "default: " + s : "default: \"" + s + "\"";
  }
  return "default: " + value.dump();
}

// Beside top-level union variants harmony prints non-plain defaults as JSON
// (so an enum's string default keeps its quotes there).
std::string default_comment_json(const ojson& schema, const ojson& value) {
  if (value.is_string() && !is_enum(schema)) return "default: \"" + value.get_ref<const std::string&>() + "\"";
  return "default: " + value.dump();
}

std::string render_object(const ojson& schema, const std::string& indent) {
  std::string out;
  if (const std::string* desc = get_string(schema, "description")) out += indent + "// " + *desc + "\n";
  out += "{\n";
  const ojson* props = get(schema, "properties");
  if (props && props->is_object()) {
    std::set<std::string> required;
    if (const ojson* req = get(schema, "required"); req && req->is_array())
      for (const auto& r : *req)
        if (r.is_string()) required.insert(r.get<std::string>());
    for (const auto& [key, val] : props->items()) {
      const char* opt = required.count(key) ? "" : "?";
      if (const std::string* title = get_string(val, "title")) out += indent + "// " + *title + "\n" + indent + "//\n";
      const ojson* variants = union_variants(val);
      if (!variants)
        if (const std::string* desc = get_string(val, "description")) out += indent + "// " + *desc + "\n";
      if (const ojson* ex = get(val, "examples"); ex && ex->is_array() && !ex->empty()) {
        out += indent + "// Examples:\n";
        for (const auto& e : *ex)
          if (e.is_string()) out += indent + "// - \"" + e.get<std::string>() + "\"\n";
      }
      if (variants && variants->is_array()) {
        // A union property: comments above, then one `| T` line per variant.
        const std::string* prop_desc = get_string(val, "description");
        bool skip_prop_desc = false;
        if (prop_desc && !variants->empty())
          if (const std::string* first = get_string((*variants)[0], "description"))
            skip_prop_desc = *first == *prop_desc;
        bool desc_above = false;
        if (prop_desc && !skip_prop_desc) {
          out += indent + "// " + *prop_desc + "\n";
          desc_above = true;
        }
        if (const ojson* def = get(val, "default")) out += indent + "// " + default_comment(val, *def) + "\n";
        out += indent + key + opt + ":\n";
        for (size_t i = 0; i < variants->size(); ++i) {
          const ojson& variant = (*variants)[i];
          out += indent + " | " + with_null(variant_type(val, variant, indent + "   "), variant);
          std::vector<std::string> trailing;
          if (!(i == 0 && desc_above))
            if (const std::string* vdesc = get_string(variant, "description"))
              if (!prop_desc || *vdesc != *prop_desc) trailing.push_back(*vdesc);
          if (const ojson* def = get(variant, "default")) trailing.push_back(default_comment(variant, *def));
          if (!trailing.empty()) out += " // " + join(trailing, " ");
          out += "\n";
        }
        out += indent + ",\n";
        continue;
      }
      out += indent + key + opt + ": ";
      out += with_null(json_schema_to_typescript(val, indent + "    "), val);
      out += ",";
      if (!variants)
        if (const ojson* def = get(val, "default")) out += " // " + default_comment(val, *def);
      out += "\n";
    }
  }
  out += indent + "}";
  return out;
}

}  // namespace

std::string json_schema_to_typescript(const ojson& schema, const std::string& indent) {
  // A union at this level: each variant on its own `| T` line.
  if (const ojson* variants = union_variants(schema); variants && variants->is_array()) {
    std::string out;
    for (const auto& variant : *variants) {
      out += "\n" + indent + " | ";
      out += with_null(variant_type(schema, variant, indent + "   "), variant);
      std::vector<std::string> trailing;
      if (const std::string* desc = get_string(variant, "description")) trailing.push_back(*desc);
      if (const ojson* def = get(variant, "default")) trailing.push_back(default_comment_json(variant, *def));
      if (!trailing.empty()) out += " // " + join(trailing, " ");
    }
    return out;
  }
  const ojson* type = get(schema, "type");
  if (type && type->is_array()) {  // ["number", "string"] -> number | string
    std::vector<std::string> names;
    for (const auto& t : *type)
      if (t.is_string()) names.push_back(t.get<std::string>() == "integer" ? "number" : t.get<std::string>());
    if (!names.empty()) return join(names, " | ");
  }
  if (type && type->is_string()) {
    const std::string& t = type->get_ref<const std::string&>();
    if (t == "object") return render_object(schema, indent);
    if (t == "string") {
      if (const ojson* e = get(schema, "enum"); e && e->is_array()) {
        std::vector<std::string> lits;
        for (const auto& v : *e)
          if (v.is_string()) lits.push_back("\"" + v.get<std::string>() + "\"");
        if (!lits.empty()) return join(lits, " | ");
      }
      return "string";
    }
    if (t == "number" || t == "integer") return "number";
    if (t == "boolean") return "boolean";
    if (t == "array") {
      if (const ojson* items = get(schema, "items")) return json_schema_to_typescript(*items, indent) + "[]";
      return "Array<any>";
    }
    return "any";
  }
  // No type: an enum still says what the values are (harmony says `any`).
  if (!type && is_enum(schema)) {
    std::vector<std::string> lits;
    for (const auto& v : *get(schema, "enum")) lits.push_back(v.dump());
    return join(lits, " | ");
  }
  return "any";
}

bool takes_no_arguments(const ojson& parameters) {
  if (parameters.is_null()) return true;
  if (!parameters.is_object()) return false;
  if (parameters.empty()) return true;
  if (union_variants(parameters)) return false;
  const ojson* type = get(parameters, "type");
  if (type && !(type->is_string() && type->get<std::string>() == "object")) return false;
  const ojson* props = get(parameters, "properties");
  bool no_props = !props || (props->is_object() && props->empty());
  if (!type) return no_props && !get(parameters, "enum") && !get(parameters, "items");
  return no_props;
}

std::string render_functions_namespace(const std::vector<FunctionTool>& tools) {
  // harmony joins these parts with "\n"; parts that end in "\n" leave a blank line.
  std::vector<std::string> parts;
  parts.push_back("## functions\n");
  parts.push_back("namespace functions {\n");
  for (const auto& tool : tools) {
    // Rust's str::lines(): split on \n, drop a \r before it, no empty last line.
    const std::string& d = tool.description;
    size_t pos = 0;
    while (pos < d.size()) {
      size_t nl = d.find('\n', pos);
      std::string line = d.substr(pos, nl == std::string::npos ? std::string::npos : nl - pos);
      if (!line.empty() && line.back() == '\r') line.pop_back();
      parts.push_back("// " + line);
      if (nl == std::string::npos) break;
      pos = nl + 1;
    }
    if (takes_no_arguments(tool.parameters))
      parts.push_back("type " + tool.name + " = () => any;\n");
    else
      parts.push_back("type " + tool.name + " = (_: " + json_schema_to_typescript(tool.parameters, "") + ") => any;\n");
  }
  parts.push_back("} // namespace functions");
  return join(parts, "\n");
}

std::string render_tools_section(const std::vector<FunctionTool>& tools) {
  return "# Tools\n\n" + render_functions_namespace(tools);
}

}  // namespace gptoss::harmony
