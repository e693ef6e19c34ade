// Function tools rendered as the TypeScript-like namespace. The expected
// texts in cases/tool_schema_*.txt were produced by openai/harmony's own
// renderer (run outside this repo) on cases/tool_schema_*.json.
#include "harmony/tool_schema.h"

#include <gtest/gtest.h>

#include "core/error.h"
#include "test_util.h"

namespace gptoss::harmony {
namespace {

using ojson = nlohmann::ordered_json;
using test::read_case;

std::string tools_section_of(const std::string& json_file) {
  auto tools = function_tools_from_json(ojson::parse(read_case(json_file)));
  return render_tools_section(tools);
}

TEST(ToolSchema, KitchenSinkMatchesHarmony) {
  EXPECT_EQ(tools_section_of("tool_schema_kitchensink.json"), read_case("tool_schema_kitchensink.txt"));
}

TEST(ToolSchema, ZooMatchesHarmony) {
  // Nested objects, arrays of objects, integer enums, defaults of every type,
  // multi-line descriptions, nullable, type lists, oneOf at property and top
  // level, a tool without parameters and one without a description.
  EXPECT_EQ(tools_section_of("tool_schema_zoo.json"), read_case("tool_schema_zoo.txt"));
}

TEST(ToolSchema, WeatherExampleFromSpec) {
  FunctionTool t{"get_weather", "Gets the current weather in the provided location.",
                 ojson::parse(R"({"type":"object","properties":{
                   "location":{"type":"string","description":"The city and state, e.g. San Francisco, CA"},
                   "format":{"type":"string","enum":["celsius","fahrenheit"],"default":"celsius"}},
                   "required":["location"]})")};
  EXPECT_EQ(render_functions_namespace({t}),
            "## functions\n\nnamespace functions {\n\n"
            "// Gets the current weather in the provided location.\n"
            "type get_weather = (_: {\n"
            "// The city and state, e.g. San Francisco, CA\n"
            "location: string,\n"
            "format?: \"celsius\" | \"fahrenheit\", // default: celsius\n"
            "}) => any;\n\n"
            "} // namespace functions");
}

TEST(ToolSchema, NoArgumentTools) {
  // openai/harmony renders `() => any` only for absent parameters; clients
  // send an empty object schema for the same thing, so we do too (as the
  // format guide and the HF chat template do).
  for (const char* p : {"null", "{}", R"({"type":"object"})", R"({"type":"object","properties":{}})",
                        R"({"type":"object","properties":{},"required":[]})"}) {
    SCOPED_TRACE(p);
    EXPECT_TRUE(takes_no_arguments(ojson::parse(p)));
    FunctionTool t{"now", "Current time.", ojson::parse(p)};
    EXPECT_EQ(render_functions_namespace({t}),
              "## functions\n\nnamespace functions {\n\n// Current time.\ntype now = () => any;\n\n} // namespace functions");
  }
  EXPECT_FALSE(takes_no_arguments(ojson::parse(R"({"type":"object","properties":{"a":{"type":"string"}}})")));
  EXPECT_FALSE(takes_no_arguments(ojson::parse(R"({"type":"string"})")));
  EXPECT_FALSE(takes_no_arguments(ojson::parse(R"({"oneOf":[{"type":"string"}]})")));
}

TEST(ToolSchema, AnyOfIsAUnionLikeOneOf) {
  // pydantic's Optional[str]: openai/harmony would print `any`.
  auto schema = ojson::parse(R"({"type":"object","properties":{
      "name":{"anyOf":[{"type":"string"},{"type":"null"}],"default":null,"description":"Who"}}})");
  EXPECT_EQ(json_schema_to_typescript(schema),
            "{\n// Who\n// default: null\nname?:\n | string\n | null\n,\n}");
  // anyOf beside properties only adds constraints: the object is rendered.
  auto constrained = ojson::parse(R"({"type":"object","properties":{"a":{"type":"string"}},
                                      "anyOf":[{"required":["a"]}]})");
  EXPECT_EQ(json_schema_to_typescript(constrained), "{\na?: string,\n}");
}

TEST(ToolSchema, UntypedEnumIsAUnion) {
  EXPECT_EQ(json_schema_to_typescript(ojson::parse(R"({"enum":["a",1,null]})")), "\"a\" | 1 | null");
  EXPECT_EQ(json_schema_to_typescript(ojson::parse(R"({"type":"string","enum":["x","y"]})")), "\"x\" | \"y\"");
}

TEST(ToolSchema, PrimitiveTypes) {
  EXPECT_EQ(json_schema_to_typescript(ojson::parse(R"({"type":"integer"})")), "number");
  EXPECT_EQ(json_schema_to_typescript(ojson::parse(R"({"type":"boolean"})")), "boolean");
  EXPECT_EQ(json_schema_to_typescript(ojson::parse(R"({"type":"null"})")), "any");
  EXPECT_EQ(json_schema_to_typescript(ojson::parse(R"({"type":["integer","string","null"]})")),
            "number | string | null");
  EXPECT_EQ(json_schema_to_typescript(ojson::parse(R"({"type":"array","items":{"type":"array","items":{"type":"integer"}}})")),
            "number[][]");
  EXPECT_EQ(json_schema_to_typescript(ojson::parse(R"({"$ref":"#/defs/x"})")), "any");
}

TEST(ToolSchema, BadToolsAreClearErrors) {
  auto err = [](const char* json) {
    try {
      function_tools_from_json(ojson::parse(json));
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_NE(err(R"({"type":"function"})").find("array"), std::string::npos);
  EXPECT_NE(err(R"([{"type":"function","function":{"description":"x"}}])").find("tools[0].function.name"),
            std::string::npos);
  EXPECT_NE(err(R"([{"type":"web_search"}])").find("not supported"), std::string::npos);
  EXPECT_NE(err(R"([{"type":"function","function":{"name":"f","parameters":"x"}}])").find("JSON Schema"),
            std::string::npos);
  EXPECT_NE(err(R"([{"type":"function","function":{"name":"a b"}}])").find("space"), std::string::npos);
  EXPECT_EQ(err(R"([{"type":"function","function":{"name":"f"}}])"), "no error");
}

}  // namespace
}  // namespace gptoss::harmony
