#include "model/nccl_id_file.h"

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>
#include <unistd.h>

#include "core/error.h"

namespace gptoss {

void write_nccl_id_file(const std::string& path, const std::string& hex) {
  const std::string tmp = path + ".tmp" + std::to_string(getpid());
  {
    std::ofstream f(tmp, std::ios::trunc);
    f << hex << "\n";
    f.close();
    if (!f) throw Error("cannot write the NCCL id to " + tmp + ": check that its folder exists and is writable");
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    const std::string why = std::strerror(errno);
    std::remove(tmp.c_str());
    throw Error("cannot rename " + tmp + " to " + path + ": " + why);
  }
}

std::string wait_for_nccl_id_file(const std::string& path, double timeout_seconds) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(timeout_seconds);
  for (;;) {
    std::ifstream f(path);
    if (f) {
      std::stringstream ss;
      ss << f.rdbuf();
      std::string s = ss.str();
      while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) s.pop_back();
      if (!s.empty()) return s;
    }
    if (std::chrono::steady_clock::now() >= deadline)
      throw Error("no NCCL id appeared in " + path + " within " + std::to_string(int(timeout_seconds)) +
                  " s: start the leader (`gptoss serve|generate|bench ... --tp N --nccl-id-file " + path +
                  "`) first, and on another node copy its id file here");
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
}

}  // namespace gptoss
