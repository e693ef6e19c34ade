// The schema compiler and the matcher on bytes: what each schema accepts and
// refuses, and the errors that name the keyword at fault.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>

#include "constrain/json_schema.h"
#include "constrain/matcher.h"
#include "constrain/regex_dfa.h"

namespace gptoss::constrain {
namespace {

using Json = nlohmann::ordered_json;

struct Checker {
  explicit Checker(const std::string& schema)
      : m(std::make_shared<const Grammar>(compile_json_schema(Json::parse(schema)))) {}
  // Whether `text` is a complete sentence of the grammar.
  bool accepts(std::string_view text) const {
    MatchState s = m.start();
    return m.feed(s, text) && s.complete();
  }
  // Whether `text` can still be continued or is complete.
  bool prefix(std::string_view text) const {
    MatchState s = m.start();
    return m.feed(s, text);
  }
  Matcher m;
};

// Numbers end when the next byte comes: a root number is checked with a
// closing byte that nothing accepts, so complete() alone decides.
TEST(Schema, ObjectPropertiesInOrderRequiredAndOptional) {
  Checker c(R"({"type":"object","properties":{"a":{"type":"integer"},"b":{"type":"string"},"c":{"type":"boolean"}},
              "required":["a","c"],"additionalProperties":false})");
  EXPECT_TRUE(c.accepts(R"({"a":1,"b":"x","c":true})"));
  EXPECT_TRUE(c.accepts(R"({"a":-12,"c":false})"));
  EXPECT_FALSE(c.accepts(R"({"a":1})"));               // c is required
  EXPECT_FALSE(c.prefix(R"({"c":true)"));              // order is the schema's
  EXPECT_FALSE(c.prefix(R"({"a":1,"d")"));             // no extra keys
  EXPECT_FALSE(c.prefix(R"({ "a")"));                  // compact: no whitespace
  EXPECT_FALSE(c.prefix(R"({"a":01)"));                // no leading zeros
}

TEST(Schema, EnumConstAndNull) {
  Checker c(R"({"type":"object","properties":{"e":{"enum":["red","green",3,null]},"k":{"const":"x"},
              "n":{"type":["string","null"],"maxLength":2}},"required":["e","k","n"]})");
  EXPECT_TRUE(c.accepts(R"({"e":"green","k":"x","n":null})"));
  EXPECT_TRUE(c.accepts(R"({"e":3,"k":"x","n":"ab"})"));
  EXPECT_TRUE(c.accepts(R"({"e":null,"k":"x","n":""})"));
  EXPECT_TRUE(c.prefix(R"({"e":"gree)"));
  EXPECT_FALSE(c.prefix(R"({"e":"grey)"));
  EXPECT_FALSE(c.prefix(R"({"e":"red","k":"y)"));
  EXPECT_FALSE(c.prefix(R"({"e":"red","k":"x","n":"abc)"));
}

TEST(Schema, StringLengthsCountCharactersAndEscapes) {
  Checker c(R"({"type":"array","items":{"type":"string","minLength":2,"maxLength":3}})");
  EXPECT_TRUE(c.accepts(R"(["ab","\u00e9\u00e9"])") == false);  // \u escapes are never produced
  EXPECT_TRUE(c.accepts("[\"\xc3\xa9\xc3\xa9\",\"a\\nb\"]"));    // 2 characters each
  EXPECT_FALSE(c.accepts(R"(["a"])"));
  EXPECT_FALSE(c.prefix(R"(["abcd)"));
  EXPECT_FALSE(c.prefix("[\"a\x01"));                           // control characters only escaped
}

TEST(Schema, IntegerAndNumberBounds) {
  Checker i(R"({"type":"array","items":{"type":"integer","minimum":-5,"maximum":120}})");
  EXPECT_TRUE(i.accepts("[-5,0,7,120]"));
  EXPECT_FALSE(i.prefix("[-6"));
  EXPECT_FALSE(i.prefix("[121"));
  EXPECT_FALSE(i.prefix("[1200"));
  EXPECT_FALSE(i.prefix("[1.5"));
  EXPECT_TRUE(i.prefix("[12"));  // may become 120
  EXPECT_FALSE(i.accepts("[13]") == false);
  Checker n(R"({"type":"array","items":{"type":"number","exclusiveMinimum":0,"maximum":1}})");
  EXPECT_TRUE(n.accepts("[0.5,1,0.001]"));
  EXPECT_FALSE(n.accepts("[0]"));
  EXPECT_FALSE(n.prefix("[1.1"));
  EXPECT_FALSE(n.prefix("[2"));
  EXPECT_TRUE(n.accepts("[1.0]"));
}

TEST(Schema, ArraysCountItems) {
  Checker c(R"({"type":"array","items":{"type":"boolean"},"minItems":1,"maxItems":2})");
  EXPECT_FALSE(c.accepts("[]"));
  EXPECT_TRUE(c.accepts("[true]"));
  EXPECT_TRUE(c.accepts("[true,false]"));
  EXPECT_FALSE(c.prefix("[true,false,"));
}

TEST(Schema, AnyOfAndRecursiveRefs) {
  Checker c(R"({"$defs":{"node":{"type":"object","properties":{"v":{"type":"integer"},
               "kids":{"type":"array","items":{"$ref":"#/$defs/node"},"maxItems":2}},"required":["v","kids"],
               "additionalProperties":false}},"anyOf":[{"$ref":"#/$defs/node"},{"type":"null"}]})");
  EXPECT_TRUE(c.accepts("null"));
  EXPECT_TRUE(c.accepts(R"({"v":1,"kids":[{"v":2,"kids":[]},{"v":3,"kids":[{"v":4,"kids":[]}]}]})"));
  EXPECT_FALSE(c.prefix(R"({"v":1,"kids":[{"v":2})"));
  Checker root(R"({"type":"object","properties":{"next":{"anyOf":[{"$ref":"#"},{"type":"null"}]}},"required":["next"]})");
  EXPECT_TRUE(root.accepts(R"({"next":{"next":null}})"));
}

TEST(Schema, PatternsAndFormats) {
  Checker c(R"({"type":"array","items":{"anyOf":[{"type":"string","pattern":"^[A-Z]{2}-[0-9]{3}$"},
              {"type":"string","format":"date"},{"type":"string","format":"uuid"}]}})");
  EXPECT_TRUE(c.accepts(R"(["AB-123","2024-02-28","123e4567-e89b-12d3-a456-426614174000"])"));
  EXPECT_FALSE(c.prefix(R"(["ab-)"));
  EXPECT_FALSE(c.accepts(R"(["2024-13-01"])"));
  Checker unanchored(R"({"type":"string","pattern":"ab+c","maxLength":6})");
  EXPECT_TRUE(unanchored.accepts(R"("xabbcx")"));
  EXPECT_FALSE(unanchored.accepts(R"("xabx")"));
}

TEST(Schema, AnyJsonObject) {
  Matcher m(std::make_shared<const Grammar>(any_json_object()));
  MatchState s = m.start();
  EXPECT_TRUE(m.feed(s, R"({"a":[1,{"b":null},"x",-2.5,true],"c":{}})") && s.complete());
  s = m.start();
  EXPECT_FALSE(m.feed(s, R"([1])"));
}

TEST(Schema, UnsupportedKeywordsNameThemselves) {
  auto keyword_of = [](const std::string& schema) -> std::string {
    try {
      compile_json_schema(Json::parse(schema));
    } catch (const SchemaError& e) {
      return e.keyword();
    }
    return "(compiled)";
  };
  EXPECT_EQ(keyword_of(R"j({"type":"string","multipleOf":2})j"), "multipleOf");
  EXPECT_EQ(keyword_of(R"j({"type":"object","properties":{"a":{"allOf":[]}}})j"), "allOf");
  EXPECT_EQ(keyword_of(R"j({"oneOf":[{"type":"string"}]})j"), "oneOf");
  EXPECT_EQ(keyword_of(R"j({"type":"string","format":"ipv6"})j"), "format");
  EXPECT_EQ(keyword_of(R"j({"type":"string","pattern":"(?=a)"})j"), "pattern");
  EXPECT_EQ(keyword_of(R"j({"type":"string","pattern":"(a"})j"), "pattern");
  EXPECT_EQ(keyword_of(R"j({"type":"integer","minimum":5,"maximum":4})j"), "minimum");
  EXPECT_EQ(keyword_of(R"j({"$ref":"#/$defs/missing"})j"), "$ref");
  EXPECT_EQ(keyword_of(R"j({"type":"object","properties":{},"required":["x"]})j"), "required");
  EXPECT_EQ(keyword_of(R"j({"type":"object","additionalProperties":{"type":"string"}})j"), "additionalProperties");
  EXPECT_EQ(keyword_of(R"j({"type":"strng"})j"), "type");
  EXPECT_EQ(keyword_of(R"j({"type":"string","pattern":"a{1000}"})j"), "pattern");
  EXPECT_EQ(keyword_of(R"j({"type":"string","pattern":"(a|b)*a(a|b)(a|b)(a|b)(a|b)(a|b)(a|b)(a|b)(a|b)(a|b)(a|b)(a|b)"})j"),
            "pattern");  // 2^12 DFA states
}

TEST(Schema, LeftRecursionEndsInsteadOfLooping) {
  Checker c(R"({"$defs":{"x":{"anyOf":[{"$ref":"#/$defs/x"},{"type":"integer"}]}},"$ref":"#/$defs/x"})");
  EXPECT_TRUE(c.prefix("1"));
}

}  // namespace
}  // namespace gptoss::constrain

namespace gptoss::constrain {
namespace {

// Every schema the tests use (the e2e test's included) compiles; the time
// each takes is printed for the record (no bound asserted: CI cores are
// shared), the aim being well under 50 ms.
TEST(Schema, CompileTimes) {
  const std::pair<const char*, const char*> schemas[] = {
      {"e2e product", R"({"type":"object","properties":{"color":{"type":"string","enum":["red","green","blue"]},
        "size":{"type":"integer","minimum":1,"maximum":12},"price":{"type":"number","minimum":0,"exclusiveMaximum":100},
        "name":{"type":"string","minLength":1,"maxLength":10},"tags":{"type":"array","items":{"type":"string",
        "enum":["new","sale","eco"]},"maxItems":3},"in_stock":{"type":"boolean"},"sku":{"type":"string",
        "pattern":"^[A-Z]{3}-[0-9]{4}$"},"released":{"type":"string","format":"date"},"rating":{"anyOf":[{"type":"integer",
        "minimum":1,"maximum":5},{"type":"null"}]}},"required":["color","size","price","name","tags","in_stock","sku",
        "released","rating"],"additionalProperties":false})"},
      {"e2e small", R"({"type":"object","properties":{"a":{"enum":["yes","no"]},"b":{"enum":[1,22,333]}},"required":["a","b"]})"},
      {"e2e weather", R"({"type":"object","properties":{"city":{"type":"string","enum":["Paris","Tokyo","Lima"]},
        "days":{"type":"integer","minimum":1,"maximum":7},"unit":{"type":"string","enum":["c","f"]}},"required":["city","days","unit"]})"},
      {"e2e clock", R"({"type":"object","properties":{"zone":{"type":"string","maxLength":6}},"required":["zone"]})"},
      {"recursive tree", R"({"$defs":{"node":{"type":"object","properties":{"v":{"type":"integer"},"kids":{"type":"array",
        "items":{"$ref":"#/$defs/node"},"maxItems":2}},"required":["v","kids"]}},"$ref":"#/$defs/node"})"},
      {"all formats", R"({"type":"array","items":{"anyOf":[{"type":"string","format":"date-time"},{"type":"string","format":"email"},
        {"type":"string","format":"uuid"},{"type":"string","format":"ipv4"},{"type":"string","format":"hostname"},
        {"type":"string","format":"time"},{"type":"string","format":"duration"}]}})"},
  };
  for (auto [name, text] : schemas) {
    const auto schema = Json::parse(text);
    const auto t0 = std::chrono::steady_clock::now();
    const Grammar g = compile_json_schema(schema);
    const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    std::printf("compile %-15s %7.3f ms  %zu nodes, %zu DFAs\n", name, ms, g.nodes.size(), g.dfas.size());
  }
}

}  // namespace
}  // namespace gptoss::constrain
