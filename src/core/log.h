#pragma once
// Minimal leveled logging to stderr (stdout is for command output). Lines are
// prefixed with a timestamp and level so journald and humans can both read them.
#include <string>

namespace gptoss {

enum class LogLevel { Debug = 0, Info = 1, Warn = 2, Error = 3 };

void set_log_level(LogLevel level);
LogLevel log_level();
void log_line(LogLevel level, const std::string& message);

inline void log_debug(const std::string& m) { log_line(LogLevel::Debug, m); }
inline void log_info(const std::string& m) { log_line(LogLevel::Info, m); }
inline void log_warn(const std::string& m) { log_line(LogLevel::Warn, m); }
inline void log_error(const std::string& m) { log_line(LogLevel::Error, m); }

}  // namespace gptoss
