// Operational logs: one JSON object per line on stdout, for FireLens / Fluent Bit.
#pragma once

#include <initializer_list>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>

namespace hawser::log {

enum class Level { debug, info, warn, error };

// A key and an already-formatted value; `quoted` says whether it is a string.
struct Field {
  std::string_view key;
  std::string value;
  bool quoted = true;
  Field(std::string_view k, std::string_view v) : key(k), value(v) {}
  Field(std::string_view k, const char* v) : key(k), value(v) {}
  Field(std::string_view k, const std::string& v) : key(k), value(v) {}
  template <class N>
  requires std::is_arithmetic_v<N> Field(std::string_view k, N n) : key(k), value(std::to_string(n)), quoted(false) {}
};

void write(Level level, std::string_view msg, std::initializer_list<Field> fields = {});
// Lines below `level` are not written (LOG_LEVEL; default info).
void setMinimumLevel(Level level);
// "debug", "info", "warn" (or "warning"), "error"; false otherwise.
bool parseLevel(std::string_view name, Level& out);
inline void info(std::string_view msg, std::initializer_list<Field> f = {}) {
  write(Level::info, msg, f);
}
inline void warn(std::string_view msg, std::initializer_list<Field> f = {}) {
  write(Level::warn, msg, f);
}
inline void error(std::string_view msg, std::initializer_list<Field> f = {}) {
  write(Level::error, msg, f);
}

// Writes one finished line (a JSON object without the newline) to stdout.
void writeLine(std::string_view json);
// Locks stdout for raw write(2)s of whole lines to fd 1 (stdio's buffer is
// flushed first), so that they and writeLine's lines never interleave.
std::unique_lock<std::mutex> lockStdout();
// RFC 3339 UTC time with milliseconds, for the "time" field.
std::string nowRfc3339();
// The same, appended to `out`.
void appendNowRfc3339(std::string& out);
// Appends `s` JSON-escaped (without quotes).
void appendEscaped(std::string& out, std::string_view s);

}  // namespace hawser::log
