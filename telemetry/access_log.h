// One JSON line per request (or TCP connection): stdout, a file, or off.
//
// The request path only formats its line and copies it into a buffer of its
// own thread; one writer thread takes the buffers and writes each batch with
// one write(2). A full buffer drops the line and counts it: logging never
// blocks a request on I/O.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace prometheus {
class Counter;
}

namespace hawser::telemetry {

struct AccessRecord {
  std::string_view request_id;
  std::string_view direction;
  std::string_view method;
  std::string_view authority;
  std::string_view path;
  std::string_view upstream;
  std::string_view reason;    // x-hawser-reason of a local reply, else empty
  std::string_view trace_id;  // hex; empty when tracing is off
  std::string_view span_id;   // this hop's span
  unsigned status = 0;
  double duration_ms = 0;
  uint64_t bytes_received = 0;  // request body bytes from the client
  uint64_t bytes_sent = 0;      // response body bytes to the client
};

// Appends the record's line (a JSON object and '\n') to `out`.
void appendAccessLine(std::string& out, const AccessRecord& r);

// Where the writer thread puts batches of whole, newline-terminated lines.
class AccessLogSink {
 public:
  virtual ~AccessLogSink() = default;
  // Writes the chunks in order; returns the bytes written (less on an error).
  virtual size_t write(std::span<const std::string_view> chunks) = 0;
};

struct AccessLogOptions {
  // Per producer thread: lines it can hold while the writer is busy. There
  // are two halves of this size (one filling, one being written).
  size_t buffer_bytes = 256 * 1024;
  // A buffer this full wakes the writer before its interval.
  size_t wake_bytes = 64 * 1024;
  std::chrono::milliseconds flush_interval{100};
};

class AccessLogBuffer;

class AccessLog {
 public:
  // "stdout", "off" or a file (appended to). `dropped` counts lost lines.
  explicit AccessLog(const std::string& path, prometheus::Counter* dropped = nullptr);
  AccessLog(std::unique_ptr<AccessLogSink> sink, AccessLogOptions options, prometheus::Counter* dropped = nullptr);
  ~AccessLog();  // stop()
  AccessLog(const AccessLog&) = delete;
  AccessLog& operator=(const AccessLog&) = delete;

  bool enabled() const { return sink_ != nullptr; }
  // Any thread. Each thread gets its own buffer on its first write, so a
  // worker's lines keep their order and never wait for another worker's.
  void write(const AccessRecord& r);
  // Writes everything buffered and ends the writer thread. Call once the
  // producers have stopped; lines written afterwards are dropped.
  void stop();
  // Lines lost so far (buffer full, write error, after stop).
  uint64_t dropped() const;

 private:
  AccessLogBuffer& bufferOfThisThread();
  void wakeWriter();
  void runWriter();
  void flushBuffers();  // writer thread, or after it is joined
  void countDropped(uint64_t lines);

  std::unique_ptr<AccessLogSink> sink_;  // null: off
  AccessLogOptions options_;
  prometheus::Counter* dropped_counter_ = nullptr;
  uint64_t id_;  // tells this log apart in the thread-local buffer cache

  std::mutex buffers_mutex_;  // guards buffers_ (a thread's first write, each flush)
  std::vector<std::unique_ptr<AccessLogBuffer>> buffers_;

  std::mutex wake_mutex_;
  std::condition_variable wake_cv_;
  bool wake_ = false;
  bool stopping_ = false;
  std::atomic<bool> stopped_{false};
  std::atomic<uint64_t> dropped_{0};
  // The writer's own scratch (writer thread, or the stopper after the join).
  std::vector<AccessLogBuffer*> flushing_;
  std::vector<std::string_view> chunks_;
  std::thread writer_;
};

}  // namespace hawser::telemetry
