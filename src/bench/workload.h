#pragma once
// What a benchmark asks: synthetic prompts of a given length (random common
// English words, about one o200k token each, so the token count is roughly
// the word count) or prompts read from a JSONL dataset.
#include <cstdint>
#include <string>
#include <vector>

#include "bench/openai_stream_client.h"

namespace gptoss::bench {

// Lengths are drawn uniformly from [len*(1-range_ratio), len*(1+range_ratio)]
// (vLLM's "random" dataset does the same), each at least 1.
struct LengthSpec {
  int input_len = 512;
  int output_len = 128;
  double range_ratio = 0;
};

// The index-th synthetic request; the same (index, seed) gives the same
// request, so two servers can be asked exactly the same things.
RequestSpec synthetic_request(size_t index, const LengthSpec& lengths, uint64_t seed);

// A prompt of about n tokens of random words.
std::string random_words(int n, uint64_t seed);

// JSONL, one object per line: {"prompt": "...", "max_tokens": N}; max_tokens
// may be left out (then `default_max_tokens`). Throws Error naming the line
// that is wrong.
std::vector<RequestSpec> load_dataset(const std::string& path, int default_max_tokens);

}  // namespace gptoss::bench
