#include "telemetry/log.h"

#include <atomic>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <mutex>

namespace hawser::log {
namespace {
const char* levelName(Level l) {
  switch (l) {
    case Level::debug: return "debug";
    case Level::warn: return "warn";
    case Level::error: return "error";
    default: return "info";
  }
}
std::mutex& outputMutex() {
  static std::mutex m;
  return m;
}
}  // namespace

std::string nowRfc3339() {
  std::string s;
  appendNowRfc3339(s);
  return s;
}

void appendNowRfc3339(std::string& out) {
  auto now = std::chrono::system_clock::now();
  auto secs = std::chrono::system_clock::to_time_t(now);
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[96];
  int n = std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
                        tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(ms));
  if (n > 0) out.append(buf, std::min(static_cast<size_t>(n), sizeof buf - 1));
}

void appendEscaped(std::string& out, std::string_view s) {
  for (unsigned char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out += static_cast<char>(c);
        }
    }
  }
}

std::unique_lock<std::mutex> lockStdout() {
  std::unique_lock lock(outputMutex());
  std::fflush(stdout);
  return lock;
}

void writeLine(std::string_view json) {
  std::lock_guard lock(outputMutex());
  std::fwrite(json.data(), 1, json.size(), stdout);
  std::fputc('\n', stdout);
  std::fflush(stdout);
}

namespace {
std::atomic<int> minimum_level{static_cast<int>(Level::info)};
}

void setMinimumLevel(Level level) {
  minimum_level = static_cast<int>(level);
}

bool parseLevel(std::string_view name, Level& out) {
  if (name == "debug")
    out = Level::debug;
  else if (name == "info")
    out = Level::info;
  else if (name == "warn" || name == "warning")
    out = Level::warn;
  else if (name == "error")
    out = Level::error;
  else
    return false;
  return true;
}

void write(Level level, std::string_view msg, std::initializer_list<Field> fields) {
  if (static_cast<int>(level) < minimum_level.load(std::memory_order_relaxed)) return;
  std::string line = "{\"time\":\"" + nowRfc3339() + "\",\"level\":\"" + levelName(level) + "\",\"msg\":\"";
  appendEscaped(line, msg);
  line += '"';
  for (const auto& f : fields) {
    line += ",\"";
    appendEscaped(line, f.key);
    line += "\":";
    if (f.quoted) {
      line += '"';
      appendEscaped(line, f.value);
      line += '"';
    } else {
      line += f.value;
    }
  }
  line += '}';
  writeLine(line);
}

}  // namespace hawser::log
