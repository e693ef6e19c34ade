#pragma once
// JSON Schema "pattern" (ECMA-262 syntax, the subset schemas use) and the
// common "format"s compiled to a DFA over ASCII characters. Patterns match
// anywhere in the string unless anchored with ^ and $, as JSON Schema says.
#include <string>
#include <string_view>

#include "constrain/grammar.h"

namespace gptoss::constrain {

// Throws SchemaError naming `keyword` when the pattern uses something
// unsupported (backreferences, lookaround, non-ASCII classes) or its DFA
// would exceed max_states.
Dfa compile_pattern(std::string_view pattern, const std::string& keyword, int max_states = 2000);

// The anchored pattern that stands for a format (date, time, date-time,
// email, uuid, ipv4, hostname, duration), or empty when the format is not
// supported.
std::string format_pattern(std::string_view format);

}  // namespace gptoss::constrain
