#include "telemetry/access_log.h"

#include <cerrno>
#include <cstring>
#include <stdexcept>

#include "telemetry/log.h"

namespace hawser::telemetry {

AccessLog::AccessLog(const std::string& path) {
  if (path == "off") {
    enabled_ = false;
  } else if (path != "stdout") {
    file_ = std::fopen(path.c_str(), "a");
    if (!file_) throw std::runtime_error("cannot open access log " + path + ": " + std::strerror(errno));
  }
}

AccessLog::~AccessLog() {
  if (file_) std::fclose(file_);
}

void AccessLog::write(const AccessRecord& r) {
  if (!enabled_) return;
  std::string line;
  line.reserve(384);
  auto str = [&](std::string_view key, std::string_view value) {
    line.append(",\"").append(key).append("\":\"");
    log::appendEscaped(line, value);
    line += '"';
  };
  auto num = [&](std::string_view key, auto value) {
    line.append(",\"").append(key).append("\":").append(std::to_string(value));
  };
  line.append("{\"time\":\"").append(log::nowRfc3339()).append("\",\"log\":\"access\"");
  str("request_id", r.request_id);
  str("direction", r.direction);
  str("method", r.method);
  str("authority", r.authority);
  str("path", r.path);
  num("status", r.status);
  char ms[32];
  std::snprintf(ms, sizeof ms, "%.3f", r.duration_ms);
  line.append(",\"duration_ms\":").append(ms);
  str("upstream", r.upstream);
  num("bytes_received", r.bytes_received);
  num("bytes_sent", r.bytes_sent);
  str("reason", r.reason);
  line += '}';
  if (!file_) {
    log::writeLine(line);
    return;
  }
  std::lock_guard lock(mutex_);
  line += '\n';
  std::fwrite(line.data(), 1, line.size(), file_);
  std::fflush(file_);
}

}  // namespace hawser::telemetry
