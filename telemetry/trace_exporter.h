// The OTLP/HTTP span exporter: a bounded queue the workers hand finished
// spans to (a full queue drops and counts, never waits), and a batching
// loop on the main thread's executor that encodes, compresses and POSTs
// them, retrying 429/502/503/504 and transport failures with backoff and
// Retry-After. Never on the request path; flushed on drain.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>

#include <atomic>
#include <chrono>
#include <functional>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "telemetry/http_post.h"
#include "telemetry/span.h"

namespace prometheus {
class Counter;
}

namespace hawser::telemetry {

struct ExporterSettings {
  std::string url;  // ends in /v1/traces
  bool json = false;
  bool gzip = false;
  std::vector<std::pair<std::string, std::string>> headers;  // e.g. a collector's token: never logged
  std::chrono::milliseconds timeout{10000};                  // one POST
  size_t max_batch_spans = 512;
  size_t max_batch_bytes = 512 * 1024;
  std::chrono::milliseconds batch_delay{5000};
  size_t max_queue_spans = 2048;
  unsigned max_attempts = 5;                    // per batch
  std::chrono::milliseconds backoff_base{500};  // doubled per retry, jittered
  std::chrono::milliseconds backoff_max{5000};
  std::chrono::milliseconds max_retry_after{30000};  // a longer Retry-After gives up on the batch
};

// hawser_trace_spans_total{outcome}
struct ExporterCounters {
  prometheus::Counter* exported = nullptr;
  prometheus::Counter* dropped = nullptr;  // the queue was full
  prometheus::Counter* failed = nullptr;   // the collector refused the batch or stayed unreachable
};

class TraceExporter {
 public:
  TraceExporter(boost::asio::any_io_executor executor, HttpTransport transport, ExporterCounters counters);
  ~TraceExporter();

  // Main thread. A new configuration applies from the next batch.
  void configure(ExporterSettings settings, ResourceAttributes resource);
  void start();
  // Any thread. False when the queue is full (the span is dropped and counted).
  bool submit(SpanRecord&& span) noexcept;
  // Exports what is queued (retrying until `deadline`), then calls `done`
  // on the executor. Spans submitted after this are dropped.
  void shutdown(std::chrono::steady_clock::time_point deadline, std::function<void()> done);

  size_t queued() const { return queued_.load(std::memory_order_relaxed); }

 private:
  boost::asio::awaitable<void> run();
  boost::asio::awaitable<void> exportBatch(std::vector<SpanRecord>& batch);
  boost::asio::awaitable<void> sleep(std::chrono::steady_clock::duration d);
  void count(prometheus::Counter* c, size_t n);

  boost::asio::any_io_executor executor_;
  HttpTransport transport_;
  ExporterCounters counters_;
  ExporterSettings settings_;
  ResourceAttributes resource_;
  boost::asio::steady_timer timer_;        // the batch delay; a full batch cancels it
  boost::asio::steady_timer retry_timer_;  // a retry's backoff: its own timer, so a full batch does not cut it short

  std::mutex mutex_;  // guards incoming_
  std::vector<SpanRecord> incoming_;
  std::atomic<size_t> queued_{0};      // submitted, not yet exported or failed
  std::atomic<size_t> batch_at_{512};  // a batch this full wakes the loop
  std::atomic<size_t> max_queue_{2048};
  std::atomic<bool> wake_posted_{false};
  std::atomic<bool> closed_{false};

  bool running_ = false;
  bool stopping_ = false;
  bool failing_ = false;  // the last batch failed (log once per streak)
  std::chrono::steady_clock::time_point deadline_ = std::chrono::steady_clock::time_point::max();
  std::function<void()> done_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
  Retrier retrier_;
  RetryPolicy policy_;
};

}  // namespace hawser::telemetry
