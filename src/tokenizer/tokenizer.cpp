// Byte-level BPE (the o200k_harmony tokenizer of gpt-oss) from a Hugging Face
// tokenizer.json.
//
// encode: repair invalid UTF-8 -> cut out added tokens (only special ones
// when allowed) -> Split regex into pieces -> each piece: a whole token if it
// is one (ignore_merges), else a cached result, else BPE from its bytes
// (lowest merge rank first, leftmost among equals: what HF tokenizers does).
#include <algorithm>
#include <cstring>
#include <fstream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <queue>
#include <shared_mutex>
#include <sstream>
#include <unordered_map>

#include "core/error.h"
#include "tokenizer/bpe_tables.h"
#include "tokenizer/pretokenizer.h"
#include "tokenizer/tokenizer.h"

namespace gptoss {

namespace {

// GPT-2's reversible byte <-> printable character mapping used by ByteLevel.
struct ByteLevelMap {
  uint32_t byte_to_cp[256];
  int16_t cp_to_byte[324];
  ByteLevelMap() {
    std::fill(std::begin(cp_to_byte), std::end(cp_to_byte), int16_t(-1));
    int n = 0;
    for (int b = 0; b < 256; ++b) {
      bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
      byte_to_cp[b] = printable ? b : 256 + n++;
      cp_to_byte[byte_to_cp[b]] = int16_t(b);
    }
  }
};
const ByteLevelMap& byte_level() {
  static const ByteLevelMap m;
  return m;
}

// Byte-level token text ("Ġhello") -> raw bytes (" hello"); false if some
// character is not one of the 256 byte characters.
bool byte_level_decode(std::string_view s, std::string* out) {
  const ByteLevelMap& m = byte_level();
  out->clear();
  auto* p = reinterpret_cast<const unsigned char*>(s.data());
  size_t n = s.size();
  for (size_t i = 0; i < n;) {
    uint32_t cp;
    if (p[i] < 0x80) {
      cp = p[i++];
    } else if ((p[i] & 0xE0) == 0xC0 && i + 1 < n) {
      cp = ((p[i] & 0x1F) << 6) | (p[i + 1] & 0x3F);
      i += 2;
    } else {
      return false;  // every byte character is below U+0800
    }
    if (cp >= 324 || m.cp_to_byte[cp] < 0) return false;
    out->push_back(char(m.cp_to_byte[cp]));
  }
  return true;
}

bool is_ascii_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }

struct StringHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};

class BpeTokenizer final : public Tokenizer {
 public:
  BpeTokenizer(const TokenizerSpec& spec, const std::string& origin);

  std::vector<int32_t> encode(std::string_view text, bool allow_special) const override;
  std::string decode(std::span<const int32_t> ids, bool skip_special) const override;
  std::string token_bytes(int32_t id) const override {
    check_id(id);
    return bytes_[id];
  }
  std::optional<int32_t> token_id(std::string_view text) const override {
    for (auto& a : added_)
      if (a.content == text) return a.id;
    int32_t id = index_.find(text);
    if (id >= 0) return id;
    return std::nullopt;
  }
  bool is_special(int32_t id) const override { return id >= 0 && id < vocab_size() && kind_[id] == kSpecial; }
  bool has_token(int32_t id) const override { return id >= 0 && id < vocab_size() && kind_[id] != kHole; }
  int32_t vocab_size() const override { return static_cast<int32_t>(bytes_.size()); }

 private:
  enum Kind : uint8_t { kHole = 0, kNormal = 1, kAddedPlain = 2, kSpecial = 3 };

  void check_id(int32_t id) const {
    if (id < 0 || id >= vocab_size() || kind_[id] == kHole)
      throw Error("token id " + std::to_string(id) + " is not in the tokenizer's vocabulary (" + origin_ + ", " +
                  std::to_string(vocab_size()) + " ids)");
  }
  void encode_ordinary(std::string_view text, std::vector<int32_t>& out) const;
  void encode_piece(std::string_view piece, std::vector<int32_t>& out) const;
  void bpe_small(std::string_view piece, std::vector<int32_t>& out) const;
  void bpe_large(std::string_view piece, std::vector<int32_t>& out) const;
  // Finds the first added token usable at or after `from`: [*b, *e) and its id.
  bool find_added(std::string_view text, size_t from, bool allow_special, size_t* b, size_t* e,
                  int32_t* id) const;

  std::string origin_;
  std::vector<std::string> bytes_;  // id -> raw bytes (added tokens: their text)
  std::vector<uint8_t> kind_;
  TokenIndex index_;  // raw bytes -> id, normal tokens only
  MergeTable merges_;
  int32_t byte_id_[256];
  bool ignore_merges_;
  std::unique_ptr<PreTokenizer> pre_;

  struct Added {
    int32_t id;
    std::string content;
    bool special, lstrip, rstrip;
  };
  std::vector<Added> added_;                     // longest first
  std::vector<uint16_t> added_by_first_[256];    // indexes into added_, per first byte
  bool any_plain_added_ = false;

  // Results of BPE for pieces that are not single tokens. Bounded; cleared
  // when full (text repeats words, so it refills with the useful ones).
  static constexpr size_t kCacheMax = 1 << 16;
  mutable std::shared_mutex cache_mu_;
  mutable std::unordered_map<std::string, std::vector<int32_t>, StringHash, std::equal_to<>> cache_;
};

BpeTokenizer::BpeTokenizer(const TokenizerSpec& spec, const std::string& origin)
    : origin_(origin), ignore_merges_(spec.ignore_merges) {
  int64_t max_id = -1;
  for (auto& [tok, id] : spec.vocab) max_id = std::max<int64_t>(max_id, id);
  for (auto& a : spec.added) max_id = std::max<int64_t>(max_id, a.id);
  if (max_id < 0) throw Error(origin + ": the tokenizer has an empty vocabulary");
  if (max_id >= INT32_MAX / 2) throw Error(origin + ": token id " + std::to_string(max_id) + " is too large");
  bytes_.resize(max_id + 1);
  kind_.assign(max_id + 1, kHole);

  std::string raw;
  for (auto& [tok, id] : spec.vocab) {
    if (id < 0) throw Error(origin + ": token \"" + tok + "\" has a negative id");
    if (!byte_level_decode(tok, &raw))
      throw Error(origin + ": token \"" + tok + "\" (id " + std::to_string(id) +
                  ") is not byte-level; only byte-level BPE tokenizers (GPT-2 style) are supported");
    if (kind_[id] != kHole && bytes_[id] != raw)
      throw Error(origin + ": id " + std::to_string(id) + " is given to two different tokens");
    bytes_[id] = raw;
    kind_[id] = kNormal;
  }
  for (auto& a : spec.added) {
    if (a.id < 0) throw Error(origin + ": added token \"" + a.content + "\" has a negative id");
    if (a.content.empty()) throw Error(origin + ": added token " + std::to_string(a.id) + " is empty");
    bytes_[a.id] = a.content;
    kind_[a.id] = a.special ? kSpecial : kAddedPlain;
    added_.push_back({a.id, a.content, a.special, a.lstrip, a.rstrip});
    any_plain_added_ |= !a.special;
  }
  if (added_.size() > 65535) throw Error(origin + ": too many added tokens");
  std::stable_sort(added_.begin(), added_.end(),
                   [](const Added& x, const Added& y) { return x.content.size() > y.content.size(); });
  for (size_t i = 0; i < added_.size(); ++i)
    added_by_first_[static_cast<unsigned char>(added_[i].content[0])].push_back(uint16_t(i));

  std::vector<uint8_t> normal(kind_.size());
  for (size_t i = 0; i < kind_.size(); ++i) normal[i] = kind_[i] == kNormal;
  index_.build(bytes_, normal);

  for (int b = 0; b < 256; ++b) {
    char c = char(b);
    byte_id_[b] = index_.find(std::string_view(&c, 1));
    if (byte_id_[b] < 0) {
      char hex[8];
      std::snprintf(hex, sizeof hex, "0x%02X", b);
      throw Error(origin + ": the vocabulary has no token for the single byte " + hex +
                  "; byte-level BPE needs all 256");
    }
  }

  merges_.reserve(spec.merges.size());
  std::string left, right;
  for (size_t r = 0; r < spec.merges.size(); ++r) {
    auto& [a, b] = spec.merges[r];
    if (!byte_level_decode(a, &left) || !byte_level_decode(b, &right))
      throw Error(origin + ": merge " + std::to_string(r) + " (\"" + a + "\" \"" + b + "\") is not byte-level");
    int32_t l = index_.find(left), rr = index_.find(right), m = index_.find(left + right);
    if (l < 0 || rr < 0 || m < 0)
      throw Error(origin + ": merge " + std::to_string(r) + " (\"" + a + "\" \"" + b +
                  "\") uses a token missing from the vocabulary; the file is damaged");
    merges_.insert(l, rr, {int32_t(r), m});
  }
  pre_ = std::make_unique<PreTokenizer>(spec.pattern.empty() ? "(?s:.+)" : spec.pattern, origin);
}

bool BpeTokenizer::find_added(std::string_view text, size_t from, bool allow_special, size_t* b, size_t* e,
                              int32_t* id) const {
  auto* s = reinterpret_cast<const unsigned char*>(text.data());
  for (size_t i = from; i < text.size(); ++i) {
    auto& cands = added_by_first_[s[i]];
    if (cands.empty()) continue;
    for (uint16_t c : cands) {
      const Added& a = added_[c];
      if (a.special && !allow_special) continue;
      if (text.compare(i, a.content.size(), a.content) != 0) continue;
      size_t lo = i, hi = i + a.content.size();
      if (a.lstrip)
        while (lo > from && is_ascii_space(text[lo - 1])) --lo;
      if (a.rstrip)
        while (hi < text.size() && is_ascii_space(text[hi])) ++hi;
      *b = lo;
      *e = hi;
      *id = a.id;
      return true;
    }
  }
  return false;
}

std::vector<int32_t> BpeTokenizer::encode(std::string_view text, bool allow_special) const {
  std::string repaired;
  if (!is_valid_utf8(text)) {
    repaired = to_valid_utf8(text);
    text = repaired;
  }
  std::vector<int32_t> out;
  out.reserve(text.size() / 4 + 4);
  if (!(allow_special || any_plain_added_) || added_.empty()) {
    encode_ordinary(text, out);
    return out;
  }
  size_t pos = 0, b, e;
  int32_t id;
  while (find_added(text, pos, allow_special, &b, &e, &id)) {
    if (b > pos) encode_ordinary(text.substr(pos, b - pos), out);
    out.push_back(id);
    pos = e;
  }
  if (pos < text.size()) encode_ordinary(text.substr(pos), out);
  return out;
}

void BpeTokenizer::encode_ordinary(std::string_view text, std::vector<int32_t>& out) const {
  pre_->split(text, [&](size_t b, size_t e) { encode_piece(text.substr(b, e - b), out); });
}

void BpeTokenizer::encode_piece(std::string_view piece, std::vector<int32_t>& out) const {
  if (piece.size() == 1) {
    out.push_back(byte_id_[static_cast<unsigned char>(piece[0])]);
    return;
  }
  if (ignore_merges_) {
    int32_t id = index_.find(piece);
    if (id >= 0) {
      out.push_back(id);
      return;
    }
  }
  {
    std::shared_lock lock(cache_mu_);
    auto it = cache_.find(piece);
    if (it != cache_.end()) {
      out.insert(out.end(), it->second.begin(), it->second.end());
      return;
    }
  }
  size_t start = out.size();
  if (piece.size() <= 64)
    bpe_small(piece, out);
  else
    bpe_large(piece, out);
  if (piece.size() <= 256) {
    std::vector<int32_t> ids(out.begin() + start, out.end());
    std::unique_lock lock(cache_mu_);
    if (cache_.size() >= kCacheMax) cache_.clear();
    cache_.emplace(std::string(piece), std::move(ids));
  }
}

// Quadratic but tight: the rank of every adjacent pair is kept and only the
// two pairs next to a merge are looked up again.
void BpeTokenizer::bpe_small(std::string_view piece, std::vector<int32_t>& out) const {
  int32_t ids[64];
  Merge pair[64];
  size_t n = piece.size();
  for (size_t i = 0; i < n; ++i) ids[i] = byte_id_[static_cast<unsigned char>(piece[i])];
  for (size_t i = 0; i + 1 < n; ++i) pair[i] = merges_.find(ids[i], ids[i + 1]);
  while (n > 1) {
    size_t best = 0;
    for (size_t i = 1; i + 1 < n; ++i)
      if (pair[i].rank < pair[best].rank) best = i;
    if (pair[best].id < 0) break;
    ids[best] = pair[best].id;
    std::memmove(ids + best + 1, ids + best + 2, (n - best - 2) * sizeof(int32_t));
    std::memmove(pair + best + 1, pair + best + 2, (n - best - 2) * sizeof(Merge));
    --n;
    if (best > 0) pair[best - 1] = merges_.find(ids[best - 1], ids[best]);
    if (best + 1 < n) pair[best] = merges_.find(ids[best], ids[best + 1]);
  }
  out.insert(out.end(), ids, ids + n);
}

// O(n log n) for long pieces (a 100 KB word, a long whitespace run): symbols
// in a linked list, candidate merges in a min-heap by (rank, position);
// entries made stale by earlier merges are skipped when popped.
void BpeTokenizer::bpe_large(std::string_view piece, std::vector<int32_t>& out) const {
  size_t n = piece.size();
  std::vector<int32_t> ids(n), prev(n), next(n);
  for (size_t i = 0; i < n; ++i) {
    ids[i] = byte_id_[static_cast<unsigned char>(piece[i])];
    prev[i] = int32_t(i) - 1;
    next[i] = i + 1 < n ? int32_t(i + 1) : -1;
  }
  struct Cand {
    int32_t rank, pos, left, right, merged;
    bool operator>(const Cand& o) const { return rank != o.rank ? rank > o.rank : pos > o.pos; }
  };
  std::vector<Cand> storage;
  storage.reserve(n);
  std::priority_queue<Cand, std::vector<Cand>, std::greater<Cand>> heap(std::greater<Cand>{}, std::move(storage));
  auto consider = [&](int32_t p) {
    if (p < 0 || next[p] < 0) return;
    Merge m = merges_.find(ids[p], ids[next[p]]);
    if (m.id >= 0) heap.push({m.rank, p, ids[p], ids[next[p]], m.id});
  };
  for (size_t i = 0; i + 1 < n; ++i) consider(int32_t(i));
  while (!heap.empty()) {
    Cand c = heap.top();
    heap.pop();
    int32_t q = next[c.pos];
    if (ids[c.pos] < 0 || q < 0 || ids[c.pos] != c.left || ids[q] != c.right) continue;  // stale
    ids[c.pos] = c.merged;
    ids[q] = -1;
    next[c.pos] = next[q];
    if (next[q] >= 0) prev[next[q]] = c.pos;
    consider(prev[c.pos]);
    consider(c.pos);
  }
  for (int32_t p = 0; p >= 0; p = next[p]) out.push_back(ids[p]);
}

std::string BpeTokenizer::decode(std::span<const int32_t> ids, bool skip_special) const {
  std::string out;
  for (int32_t id : ids) {
    check_id(id);
    if (skip_special && kind_[id] == kSpecial) continue;
    out += bytes_[id];
  }
  return out;
}

// ---- tokenizer.json ----

const char* json_type(const nlohmann::json& j) { return j.is_null() ? "null" : j.type_name(); }

std::string describe(const nlohmann::json& j) {
  if (j.is_object() && j.contains("type") && j["type"].is_string()) return j["type"].get<std::string>();
  return json_type(j);
}

// Finds the Split regex in the pre_tokenizer and checks the rest is what we do.
std::string read_pre_tokenizer(const nlohmann::json& pt, const std::string& origin) {
  static const char* kGpt2 =
      "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";
  std::vector<const nlohmann::json*> parts;
  if (pt.is_object() && pt.value("type", "") == "Sequence" && pt.contains("pretokenizers")) {
    for (auto& p : pt["pretokenizers"]) parts.push_back(&p);
  } else {
    parts.push_back(&pt);
  }
  std::string pattern;
  bool byte_level = false;
  for (auto* p : parts) {
    std::string type = p->is_object() ? p->value("type", "") : "";
    if (type == "Split") {
      // const operator[] on a missing key is undefined behaviour in nlohmann
      // (it dereferences end()): test for the key first.
      if (!p->contains("pattern")) throw Error(origin + ": pre_tokenizer Split has no pattern");
      auto& pat = (*p)["pattern"];
      if (!pat.is_object() || !(pat.contains("Regex") || pat.contains("String")))
        throw Error(origin + ": pre_tokenizer Split has no pattern");
      if (pat.contains("Regex")) {
        pattern = pat["Regex"].get<std::string>();
      } else {  // a literal string: quote it for PCRE2
        pattern = "\\Q" + pat["String"].get<std::string>() + "\\E";
      }
      if (p->value("behavior", "Isolated") != "Isolated" || p->value("invert", false))
        throw Error(origin + ": pre_tokenizer Split with behavior \"" + p->value("behavior", "") +
                    "\" (invert " + (p->value("invert", false) ? "true" : "false") +
                    ") is not supported; only Isolated, as gpt-oss uses");
    } else if (type == "ByteLevel") {
      byte_level = true;
      if (p->value("add_prefix_space", false))
        throw Error(origin + ": ByteLevel add_prefix_space=true is not supported");
      if (p->value("use_regex", true)) {
        if (!pattern.empty()) throw Error(origin + ": two pre-tokenizer regexes are not supported");
        pattern = kGpt2;
      }
    } else {
      throw Error(origin + ": pre_tokenizer \"" + describe(*p) +
                  "\" is not supported (expected Split and ByteLevel, as in gpt-oss)");
    }
  }
  if (!byte_level) throw Error(origin + ": the pre_tokenizer has no ByteLevel step; only byte-level BPE is supported");
  return pattern;
}

// Streams tokenizer.json: model.vocab and model.merges (hundreds of
// thousands of entries) go straight into the spec; everything else, small,
// becomes a DOM to read the settings from.
class TokenizerJsonReader : public nlohmann::json_sax<nlohmann::json> {
 public:
  using json = nlohmann::json;
  TokenizerSpec spec;
  json root;
  bool saw_vocab = false, saw_merges = false;
  std::string error;

  bool null() override { return value(nullptr); }
  bool boolean(bool v) override { return value(v); }
  bool number_integer(number_integer_t v) override {
    if (top() == kVocab) return vocab_entry(v);
    return value(v);
  }
  bool number_unsigned(number_unsigned_t v) override {
    if (top() == kVocab) return vocab_entry(int64_t(std::min<uint64_t>(v, INT64_MAX)));
    return value(v);
  }
  bool number_float(number_float_t v, const string_t&) override { return value(v); }
  bool binary(binary_t&) override { return fail("binary values are not JSON"); }
  bool string(string_t& v) override {
    switch (top()) {
      case kMerges: {  // older files: "a b"
        size_t sp = v.find(' ', 1);
        if (sp == std::string::npos) return fail("merge \"" + v + "\" is not two tokens");
        spec.merges.emplace_back(v.substr(0, sp), v.substr(sp + 1));
        return true;
      }
      case kPair:
        pair_.push_back(std::move(v));
        return true;
      case kVocab:
        return fail("vocab entry \"" + key_ + "\" has a non-integer id");
      default:
        return value(std::move(v));
    }
  }
  bool key(string_t& k) override {
    key_ = std::move(k);
    return true;
  }
  bool start_object(std::size_t) override {
    if (stack_.empty()) {
      root = json::object();
      stack_.push_back({&root, kDom});
      return true;
    }
    if (top() == kDom && stack_.back().node == model_ && key_ == "vocab" && model_->is_object()) {
      saw_vocab = true;
      stack_.push_back({nullptr, kVocab});
      return true;
    }
    if (top() != kDom) return fail("unexpected object inside model.vocab or model.merges");
    json* node = add(json::object());
    if (stack_.size() == 1 && key_ == "model") model_ = node;
    stack_.push_back({node, kDom});
    return true;
  }
  bool end_object() override {
    stack_.pop_back();
    return true;
  }
  bool start_array(std::size_t) override {
    if (stack_.empty()) return fail("not a Hugging Face tokenizer.json (the file is a JSON array, not an object)");
    if (top() == kDom && stack_.back().node == model_ && key_ == "merges") {
      saw_merges = true;
      stack_.push_back({nullptr, kMerges});
      return true;
    }
    if (top() == kMerges) {
      pair_.clear();
      stack_.push_back({nullptr, kPair});
      return true;
    }
    if (top() != kDom) return fail("unexpected array inside model.vocab or a merge");
    stack_.push_back({add(json::array()), kDom});
    return true;
  }
  bool end_array() override {
    if (top() == kPair) {
      if (pair_.size() != 2) return fail("a merge is not a pair of two token strings");
      spec.merges.emplace_back(std::move(pair_[0]), std::move(pair_[1]));
    }
    stack_.pop_back();
    return true;
  }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception& ex) override {
    error = std::string("not valid JSON (") + ex.what() + "); expected a Hugging Face tokenizer.json";
    return false;
  }

 private:
  enum Mode { kDom, kVocab, kMerges, kPair };
  struct Frame {
    json* node;
    Mode mode;
  };
  Mode top() const { return stack_.empty() ? kDom : stack_.back().mode; }
  bool fail(const std::string& m) {
    error = m;
    return false;
  }
  json* add(json v) {
    if (stack_.empty()) {
      root = std::move(v);
      return &root;
    }
    json* parent = stack_.back().node;
    if (parent->is_object()) {
      json& slot = (*parent)[key_];
      slot = std::move(v);
      return &slot;
    }
    parent->push_back(std::move(v));
    return &parent->back();
  }
  template <class T>
  bool value(T&& v) {
    if (top() != kDom) return fail("unexpected value inside model.vocab or model.merges");
    add(json(std::forward<T>(v)));
    return true;
  }
  bool vocab_entry(int64_t id) {
    if (id < 0 || id > INT32_MAX) return fail("vocab entry \"" + key_ + "\" has id " + std::to_string(id));
    spec.vocab.emplace_back(std::move(key_), int32_t(id));
    return true;
  }

  std::vector<Frame> stack_;
  std::string key_;
  std::vector<std::string> pair_;
  json* model_ = nullptr;
};

TokenizerSpec spec_from_json_text(std::string_view text, const std::string& origin) {
  TokenizerJsonReader r;
  r.spec.vocab.reserve(1 << 18);
  r.spec.merges.reserve(1 << 19);
  bool ok = nlohmann::json::sax_parse(text.begin(), text.end(), &r);
  if (!ok || !r.error.empty()) throw Error(origin + ": " + (r.error.empty() ? "not valid JSON" : r.error));
  const auto& j = r.root;
  TokenizerSpec spec = std::move(r.spec);
  if (!j.is_object() || !j.contains("model") || !j["model"].is_object())
    throw Error(origin + ": not a Hugging Face tokenizer.json (no \"model\" object)");
  const auto& model = j["model"];
  std::string type = model.value("type", "BPE");
  if (type != "BPE")
    throw Error(origin + ": the tokenizer model is " + type + "; only BPE (as gpt-oss uses) is supported");
  if (!r.saw_vocab || !r.saw_merges)
    throw Error(origin + ": the BPE model lacks \"vocab\" (object) or \"merges\" (array)");
  if (model.value("byte_fallback", false)) throw Error(origin + ": BPE byte_fallback is not supported");
  for (const char* k : {"continuing_subword_prefix", "end_of_word_suffix"})
    if (model.contains(k) && !model[k].is_null() && model[k] != "")
      throw Error(origin + ": BPE " + k + " is not supported");
  if (j.contains("normalizer") && !j["normalizer"].is_null())
    throw Error(origin + ": normalizer \"" + describe(j["normalizer"]) +
                "\" is not supported (gpt-oss has none)");
  spec.ignore_merges = model.value("ignore_merges", false);
  if (j.contains("added_tokens") && j["added_tokens"].is_array()) {
    for (auto& a : j["added_tokens"]) {
      if (!a.is_object() || !a.contains("id") || !a.contains("content"))
        throw Error(origin + ": an added token lacks id or content");
      TokenizerSpec::AddedToken t;
      t.id = a["id"].get<int32_t>();
      t.content = a["content"].get<std::string>();
      t.special = a.value("special", false);
      t.lstrip = a.value("lstrip", false);
      t.rstrip = a.value("rstrip", false);
      spec.added.push_back(std::move(t));
    }
  }
  if (!j.contains("pre_tokenizer") || j["pre_tokenizer"].is_null())
    throw Error(origin + ": no pre_tokenizer; only byte-level BPE tokenizers (GPT-2 style) are supported");
  spec.pattern = read_pre_tokenizer(j["pre_tokenizer"], origin);
  return spec;
}

}  // namespace

std::shared_ptr<const Tokenizer> Tokenizer::from_spec(const TokenizerSpec& spec, const std::string& origin) {
  return std::make_shared<BpeTokenizer>(spec, origin);
}

std::shared_ptr<const Tokenizer> Tokenizer::from_json_text(std::string_view json_text, const std::string& origin) {
  try {
    return from_spec(spec_from_json_text(json_text, origin), origin);
  } catch (const nlohmann::json::exception& e) {
    throw Error(origin + ": unexpected content in tokenizer.json (" + e.what() + ")");
  }
}

std::shared_ptr<const Tokenizer> Tokenizer::load(const std::string& path) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in) throw Error("cannot open tokenizer file " + path + ": " + std::strerror(errno));
  std::string text(size_t(in.tellg()), '\0');
  in.seekg(0);
  if (!in.read(text.data(), std::streamsize(text.size()))) throw Error("cannot read tokenizer file " + path);
  return from_json_text(text, path);
}

}  // namespace gptoss
