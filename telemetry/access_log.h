// One JSON line per request (or TCP connection): stdout, a file, or off.
#pragma once

#include <cstdint>
#include <cstdio>
#include <mutex>
#include <string>
#include <string_view>

namespace hawser::telemetry {

struct AccessRecord {
  std::string_view request_id;
  std::string_view direction;
  std::string_view method;
  std::string_view authority;
  std::string_view path;
  std::string_view upstream;
  std::string_view reason;  // x-hawser-reason of a local reply, else empty
  unsigned status = 0;
  double duration_ms = 0;
  uint64_t bytes_received = 0;  // request body bytes from the client
  uint64_t bytes_sent = 0;      // response body bytes to the client
};

class AccessLog {
 public:
  explicit AccessLog(const std::string& path);  // "stdout", "off" or a file
  ~AccessLog();
  AccessLog(const AccessLog&) = delete;
  AccessLog& operator=(const AccessLog&) = delete;
  bool enabled() const { return enabled_; }
  void write(const AccessRecord& r);

 private:
  bool enabled_ = true;
  FILE* file_ = nullptr;  // null: stdout through log::writeLine
  std::mutex mutex_;
};

}  // namespace hawser::telemetry
