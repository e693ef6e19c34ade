#pragma once
// How the ranks of a multi-process tensor-parallel group find each other:
// the leader writes NCCL's unique id (hex text) to a file, each worker waits
// for that file and reads it; NCCL's own bootstrap does the rest. On one
// machine the path is shared; across nodes the file is copied (or sits on a
// shared filesystem) - it holds the leader's address, nothing secret beyond it.
#include <string>

namespace gptoss {

// Writes `hex` to path atomically (a temporary beside it, then rename), so a
// waiting worker never reads half an id. Throws Error when it cannot.
void write_nccl_id_file(const std::string& path, const std::string& hex);

// Waits up to timeout_seconds for path to hold an id and returns it (trimmed).
// Throws Error saying what to start when it never appears.
std::string wait_for_nccl_id_file(const std::string& path, double timeout_seconds);

}  // namespace gptoss
