// The forwarder's spool: one open segment per service that records are
// appended to (durably: written and fdatasync'ed before append() returns),
// closed by size or age into segments waiting for the archiver, which
// removes each only after its upload is confirmed. A restart resumes what
// the previous run left: open segments are cut at their torn tail (a batch
// that was never acknowledged) and closed. Thread-safe: the forwarder's
// I/O thread appends, the archiver takes and removes.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "telemetry/capture/segment.h"

namespace hawser::telemetry {

struct SpoolSettings {
  std::string dir;
  uint64_t max_bytes = 1ull << 30;
  uint64_t segment_max_bytes = 64ull << 20;
  std::chrono::milliseconds segment_max_age{60000};
};

// A closed segment: <dir>/<service>~<start unix ms>~<sequence>.closed
struct ClosedSegment {
  std::string path;
  std::string service;
  int64_t start_ms = 0;
  std::string name;  // "<start unix ms>-<sequence>", the archive object's base name
  uint64_t bytes = 0;
};

class Spool {
 public:
  // Creates the directory if needed and recovers a previous run's segments.
  bool open(SpoolSettings settings, std::string& error);

  enum class Append { ok, full, failed };
  // (service, record line) pairs; all durable when this returns ok.
  Append append(const std::vector<std::pair<std::string, std::string>>& records, std::string& error);
  // Closes the open segments older than segment_max_age (all of them with `all`).
  void closeExpired(bool all = false);

  // The archiver's side: the oldest closed segment, waiting up to `wait`.
  std::optional<ClosedSegment> nextClosed(std::chrono::milliseconds wait);
  void remove(const ClosedSegment& s);  // after a confirmed upload
  void stopWaiting();                   // wakes nextClosed() for a shutdown

  uint64_t bytes() const;
  size_t openSegments() const;
  size_t closedSegments() const;
  uint64_t recoveredRecords() const { return recovered_records_; }
  uint64_t truncatedBytes() const { return truncated_bytes_; }

 private:
  struct Open {
    SegmentWriter writer;
    std::chrono::steady_clock::time_point opened;
    std::string service;
    int64_t start_ms = 0;
    uint64_t seq = 0;
  };
  void closeLocked(const std::string& service);
  std::string pathOf(const std::string& service, int64_t start_ms, uint64_t seq, const char* ext) const;

  SpoolSettings settings_;
  mutable std::mutex mutex_;
  std::condition_variable cv_;
  std::map<std::string, std::unique_ptr<Open>> open_;  // by service
  std::vector<ClosedSegment> closed_;                  // oldest first
  uint64_t bytes_ = 0;
  uint64_t seq_ = 0;
  bool stop_ = false;
  uint64_t recovered_records_ = 0;
  uint64_t truncated_bytes_ = 0;
};

// "svc~1764674400000~3.closed" -> the parts; false when it is not a segment name.
bool parseSegmentName(const std::string& file, std::string& service, int64_t& start_ms, uint64_t& seq,
                      std::string& ext);

}  // namespace hawser::telemetry
