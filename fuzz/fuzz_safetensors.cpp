// libFuzzer target: the safetensors reader on arbitrary file bytes. It must
// refuse bad files with gptoss::Error and never read out of bounds.
#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <string>

#include "core/error.h"
#include "format/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // The reader maps a file by path: an in-memory file keeps the disk out of it.
  static const int fd = memfd_create("fuzz.safetensors", 0);
  if (fd < 0 || ftruncate(fd, 0) != 0 || pwrite(fd, data, size, 0) != ssize_t(size)) return 0;
  const std::string path = "/proc/self/fd/" + std::to_string(fd);
  try {
    auto st = gptoss::SafetensorsFile::open(path);
    for (auto& [name, t] : st->tensors()) (void)st->find(name);
  } catch (const gptoss::Error&) {
  }
  return 0;
}
