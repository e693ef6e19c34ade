#pragma once
// Where gptoss finds the data files it ships (the tokenizer that synthetic
// models use, the bench scenario prompts): <prefix>/share/gptoss beside an
// installed binary's <prefix>/bin, so an install works from any folder and
// can be moved; for a binary run from its own build folder, the source tree.
// An installed binary never reads the source tree it was built from.
#include <string>
#include <vector>

namespace gptoss::cli {

// Where to look, in order, as paths that may or may not exist (callers try
// them and list them in their error): <prefix>/share/gptoss/`installed`, then
// <source dir>/`in_source` when the running binary lives in the build folder.
std::vector<std::string> shipped_data_paths(const std::string& installed, const std::string& in_source);

}  // namespace gptoss::cli
