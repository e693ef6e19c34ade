// Unit tests for the client-side benchmark pieces: percentiles and summaries,
// the SSE parser fed in awkward pieces, stream-chunk accounting, URL
// handling, workloads and the chart writer.
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

#include "bench/bar_line_chart.h"
#include "bench/latency_stats.h"
#include "bench/openai_stream_client.h"
#include "bench/sse_parser.h"
#include "bench/workload.h"
#include "core/error.h"

using namespace gptoss::bench;

TEST(Percentile, MatchesNumpyLinearInterpolation) {
  std::vector<double> v = {15, 20, 35, 40, 50};
  EXPECT_DOUBLE_EQ(percentile(v, 0), 15);
  EXPECT_DOUBLE_EQ(percentile(v, 100), 50);
  EXPECT_DOUBLE_EQ(percentile(v, 50), 35);
  EXPECT_DOUBLE_EQ(percentile(v, 40), 29);    // numpy.percentile([15,20,35,40,50], 40) == 29.0
  EXPECT_DOUBLE_EQ(percentile(v, 90), 46);    // rank 3.6 -> 40 + 0.6 * 10
  EXPECT_NEAR(percentile(v, 99), 49.6, 1e-9);
}

TEST(Percentile, UnsortedInputSingleAndEmpty) {
  EXPECT_DOUBLE_EQ(percentile({3, 1, 2}, 50), 2);
  EXPECT_DOUBLE_EQ(percentile({7}, 99), 7);
  EXPECT_DOUBLE_EQ(percentile({}, 50), 0);
}

TEST(Summary, MeanSpreadExtremes) {
  Summary s = summarize({2, 4, 4, 4, 5, 5, 7, 9});
  EXPECT_EQ(s.count, 8u);
  EXPECT_DOUBLE_EQ(s.mean, 5);
  EXPECT_NEAR(s.stddev, 2.138089935, 1e-8);  // sample standard deviation
  EXPECT_DOUBLE_EQ(s.min, 2);
  EXPECT_DOUBLE_EQ(s.max, 9);
  EXPECT_DOUBLE_EQ(s.p50, 4.5);
  auto j = summary_json(s, 1000);
  EXPECT_DOUBLE_EQ(j["mean"].get<double>(), 5000);
  EXPECT_EQ(summarize({}).count, 0u);
}

namespace {
std::vector<SseEvent> parse_in_pieces(const std::string& text, size_t piece) {
  std::vector<SseEvent> out;
  SseParser p([&](const SseEvent& e) { out.push_back(e); });
  for (size_t i = 0; i < text.size(); i += piece) p.feed(std::string_view(text).substr(i, piece));
  p.finish();
  return out;
}
}  // namespace

TEST(SseParser, SameEventsWhateverTheChunking) {
  const std::string stream =
      ": keep-alive\r\n\r\n"
      "data: {\"a\":1}\r\n\r\n"
      "event: response.delta\ndata: first\ndata:second\n\n"
      "data: 你好\r\rdata: [DONE]\n\n";
  for (size_t piece : {size_t(1), size_t(2), size_t(3), size_t(7), size_t(1000)}) {
    auto ev = parse_in_pieces(stream, piece);
    ASSERT_EQ(ev.size(), 4u) << "piece " << piece;
    EXPECT_EQ(ev[0].data, "{\"a\":1}");
    EXPECT_EQ(ev[1].event, "response.delta");
    EXPECT_EQ(ev[1].data, "first\nsecond");
    EXPECT_EQ(ev[2].data, "你好");  // split inside the UTF-8 bytes when piece is small
    EXPECT_EQ(ev[2].event, "");
    EXPECT_EQ(ev[3].data, "[DONE]");
  }
}

TEST(SseParser, CrLfSplitAcrossFeedsIsOneLineEnd) {
  std::vector<SseEvent> ev;
  SseParser p([&](const SseEvent& e) { ev.push_back(e); });
  p.feed("data: x\r");
  p.feed("\n\r");
  EXPECT_EQ(ev.size(), 1u);  // "\r\n" then "\r": line end, then the blank line
  p.feed("\ndata: y\r\n\r\n");
  ASSERT_EQ(ev.size(), 2u);
  EXPECT_EQ(ev[1].data, "y");
}

TEST(SseParser, FinishDeliversUnterminatedEventAndCommentsAreIgnored) {
  auto ev = parse_in_pieces(": comment only\n\ndata: last", 4);
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].data, "last");
  EXPECT_TRUE(parse_in_pieces(": nothing\n\n", 1).empty());
}

TEST(StreamEvents, TimesTextChunksAndReadsUsage) {
  StreamResult r;
  EXPECT_TRUE(apply_stream_event(R"({"choices":[{"delta":{"role":"assistant","content":""}}]})", true, 0.1, r));
  EXPECT_TRUE(r.chunk_times_s.empty());  // the role chunk carries no generated text
  EXPECT_TRUE(apply_stream_event(R"({"choices":[{"delta":{"reasoning_content":"Let"}}]})", true, 0.5, r));
  EXPECT_TRUE(apply_stream_event(R"({"choices":[{"delta":{"content":"Hi"}}]})", true, 0.6, r));
  EXPECT_TRUE(apply_stream_event(R"({"choices":[],"usage":{"prompt_tokens":12,"completion_tokens":7}})", true, 0.7, r));
  EXPECT_FALSE(apply_stream_event("[DONE]", true, 0.8, r));
  EXPECT_DOUBLE_EQ(r.ttft_s, 0.5);
  EXPECT_EQ(r.chunk_times_s.size(), 2u);
  EXPECT_TRUE(r.usage_reported);
  EXPECT_EQ(r.prompt_tokens, 12);
  EXPECT_EQ(r.completion_tokens, 7);
  EXPECT_TRUE(r.error.empty());
}

TEST(StreamEvents, CompletionsTextAndErrors) {
  StreamResult r;
  EXPECT_TRUE(apply_stream_event(R"({"choices":[{"text":" the"}]})", false, 0.2, r));
  EXPECT_EQ(r.chunk_times_s.size(), 1u);
  EXPECT_FALSE(apply_stream_event(R"({"error":{"message":"boom"}})", false, 0.3, r));
  EXPECT_NE(r.error.find("boom"), std::string::npos);
  StreamResult bad;
  EXPECT_FALSE(apply_stream_event("not json", true, 0, bad));
  EXPECT_FALSE(bad.error.empty());
}

TEST(Endpoint, BaseUrlWithOrWithoutV1) {
  auto e = make_endpoint("http://127.0.0.1:8000", "m", true);
  EXPECT_EQ(e.host, "http://127.0.0.1:8000");
  EXPECT_EQ(e.path, "/v1/chat/completions");
  EXPECT_EQ(make_endpoint("https://api.example.com/v1/", "m", false).path, "/v1/completions");
  EXPECT_EQ(make_endpoint("http://h:1/proxy", "m", true).path, "/proxy/v1/chat/completions");
  EXPECT_THROW(make_endpoint("127.0.0.1:8000", "m", true), gptoss::Error);
}

TEST(Endpoint, RequestBodyCarriesStreamUsageAndOptionalExtras) {
  auto e = make_endpoint("http://h:1", "gpt-oss", true);
  RequestSpec s{"hello", 16, 1};
  auto b = StreamClient::request_body(e, s, 0);
  EXPECT_EQ(b["messages"][0]["content"], "hello");
  EXPECT_EQ(b["max_tokens"], 16);
  EXPECT_EQ(b["stream"], true);
  EXPECT_EQ(b["stream_options"]["include_usage"], true);
  EXPECT_EQ(b["ignore_eos"], true);
  EXPECT_EQ(b["min_tokens"], 16);
  e.eos_extras = false;
  e.extra_body = {{"top_p", 0.5}};
  b = StreamClient::request_body(e, s, -1);
  EXPECT_FALSE(b.contains("ignore_eos"));
  EXPECT_FALSE(b.contains("temperature"));
  EXPECT_EQ(b["top_p"], 0.5);
}

TEST(Workload, SyntheticRequestsAreDeterministicAndInRange) {
  LengthSpec l{100, 20, 0.5};
  for (size_t i = 0; i < 50; ++i) {
    RequestSpec a = synthetic_request(i, l, 3), b = synthetic_request(i, l, 3);
    EXPECT_EQ(a.prompt, b.prompt);
    EXPECT_GE(a.approx_input_tokens, 50);
    EXPECT_LE(a.approx_input_tokens, 150);
    EXPECT_GE(a.max_tokens, 10);
    EXPECT_LE(a.max_tokens, 30);
    // one word per token aimed at
    EXPECT_EQ(size_t(std::count(a.prompt.begin(), a.prompt.end(), ' ')) + 1, size_t(a.approx_input_tokens));
  }
  EXPECT_NE(synthetic_request(0, l, 3).prompt, synthetic_request(1, l, 3).prompt);
  EXPECT_EQ(synthetic_request(4, {64, 8, 0}, 0).max_tokens, 8);
}

TEST(Workload, DatasetJsonl) {
  auto path = std::filesystem::temp_directory_path() / "gptoss_bench_dataset.jsonl";
  std::ofstream(path) << "{\"prompt\":\"a b c\",\"max_tokens\":5}\n\n{\"prompt\":\"d\"}\n";
  auto d = load_dataset(path.string(), 9);
  ASSERT_EQ(d.size(), 2u);
  EXPECT_EQ(d[0].max_tokens, 5);
  EXPECT_EQ(d[1].max_tokens, 9);
  std::ofstream(path) << "{\"text\":\"no prompt\"}\n";
  EXPECT_THROW(load_dataset(path.string(), 9), gptoss::Error);
  std::filesystem::remove(path);
}

TEST(Chart, NiceAxis) {
  double top, step;
  nice_axis(93, top, step);
  EXPECT_DOUBLE_EQ(step, 25);
  EXPECT_DOUBLE_EQ(top, 125);
  nice_axis(1.7, top, step);
  EXPECT_GE(top, 1.7);
  EXPECT_LE(top / step, 7);
  nice_axis(0, top, step);
  EXPECT_GT(top, 0);
}

TEST(Chart, SvgHasBarsLinesLegendAndEscapedText) {
  BarLineChart c;
  c.title = "A & B <test>";
  c.categories = {"Coding", "Reading comprehension", "Overall"};
  c.bars = {{"base", {10, 20, 15}}, {"new", {20, 30, 25}}};
  c.lines = {{"speed-up", {2, 1.5, 1.67}}};
  c.bar_axis_label = "tokens/s";
  c.line_axis_label = "speed-up";
  std::string svg = render_svg(c);
  EXPECT_EQ(svg.rfind("<svg", 0), 0u);
  EXPECT_NE(svg.find("</svg>"), std::string::npos);
  EXPECT_NE(svg.find("A &amp; B &lt;test&gt;"), std::string::npos);
  size_t rects = 0;
  for (size_t p = svg.find("<rect"); p != std::string::npos; p = svg.find("<rect", p + 1)) ++rects;
  EXPECT_EQ(rects, 1u + 6u + 2u);  // background, 6 bars, 2 legend swatches
  EXPECT_NE(svg.find("<polyline"), std::string::npos);
  EXPECT_NE(svg.find("speed-up (right axis)"), std::string::npos);
  EXPECT_NE(svg.find(">tokens/s<"), std::string::npos);
}
