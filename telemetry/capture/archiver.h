// The archiver: a thread that takes the spool's closed segments oldest
// first, turns each into one gzip'ed NDJSON object, puts it into the
// archive (a local directory here, S3 through the same interface) under
// <prefix>/<service>/<yyyy>/<mm>/<dd>/<segment>.ndjson.gz, and removes the
// segment only once the put is confirmed. A failed put keeps the segment
// and is retried with backoff.
#pragma once

#include <atomic>
#include <chrono>
#include <string>
#include <thread>

#include "telemetry/capture/spool.h"

namespace prometheus {
class Counter;
}

namespace hawser::telemetry {

class ArchiveSink {
 public:
  virtual ~ArchiveSink() = default;
  // Blocking, on the archiver's thread; "" once the object is durable, else the problem.
  virtual std::string put(const std::string& key, const std::string& body) = 0;
  virtual std::string describe() const = 0;  // for log lines: "directory /x", "s3://bucket"
};

// Objects as files under `root` (written, fsynced, renamed into place).
class DirectorySink final : public ArchiveSink {
 public:
  explicit DirectorySink(std::string root) : root_(std::move(root)) {}
  std::string put(const std::string& key, const std::string& body) override;
  std::string describe() const override { return "directory " + root_; }

 private:
  std::string root_;
};

// "<prefix>/<service>/<yyyy>/<mm>/<dd>/<name>.ndjson.gz" (no leading '/' when prefix is "").
std::string archiveKey(const std::string& prefix, const ClosedSegment& s);

struct ArchiverCounters {
  prometheus::Counter* uploaded = nullptr;  // segments
  prometheus::Counter* failed = nullptr;    // put attempts that failed
  prometheus::Counter* records = nullptr;   // records in uploaded segments
  prometheus::Counter* bytes = nullptr;     // object bytes uploaded
};

class Archiver {
 public:
  Archiver(Spool& spool, ArchiveSink& sink, std::string prefix, ArchiverCounters counters);
  ~Archiver();
  void start();
  // Keeps uploading until the spool has no closed segment or `deadline`, then stops.
  void stop(std::chrono::steady_clock::time_point deadline);

 private:
  void run();
  bool uploadOne(const ClosedSegment& s);

  Spool& spool_;
  ArchiveSink& sink_;
  std::string prefix_;
  ArchiverCounters counters_;
  std::thread thread_;
  std::atomic<bool> stopping_{false};
  std::atomic<int64_t> deadline_ns_{INT64_MAX};
  bool failing_ = false;
};

}  // namespace hawser::telemetry
