// The capture shipper: the workers hand finished records to a bounded
// queue (one shard per worker, `queue_bytes` across all of them; a full
// queue drops and counts, never waits), and a loop on the main thread's
// executor batches them by count, bytes and delay, gzips the NDJSON and
// POSTs it to the forwarder, retrying with backoff and Retry-After until
// the forwarder takes it. A record stays counted against the queue until
// the forwarder acknowledged its batch, so memory stays bounded while the
// forwarder is away. Flushed (within a bound) on drain.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "telemetry/capture/record.h"
#include "telemetry/http_post.h"

namespace prometheus {
class Counter;
}

namespace hawser::telemetry {

struct ShipperSettings {
  std::string url;                           // http(s)://forwarder:8888/v1/capture
  std::chrono::milliseconds timeout{10000};  // one POST
  size_t max_batch_records = 1000;
  size_t max_batch_bytes = 1024 * 1024;  // before compression
  std::chrono::milliseconds batch_delay{1000};
  size_t queue_bytes = 16 * 1024 * 1024;  // across every worker, batches in flight included
  RetryPolicy retry{0, std::chrono::milliseconds(250), std::chrono::milliseconds(10000),
                    std::chrono::milliseconds(60000)};
};

// hawser_capture_records_total{outcome}, hawser_capture_bytes_total
struct ShipperCounters {
  prometheus::Counter* sent = nullptr;      // the forwarder acknowledged them
  prometheus::Counter* dropped = nullptr;   // the queue was full
  prometheus::Counter* failed = nullptr;    // refused by the forwarder, or still queued when the drain bound ran out
  prometheus::Counter* redacted = nullptr;  // submitted with a header value replaced
  prometheus::Counter* bytes = nullptr;     // compressed batch bytes acknowledged
};

class CaptureShipper {
 public:
  CaptureShipper(boost::asio::any_io_executor executor, HttpTransport transport, ShipperCounters counters,
                 unsigned shards);
  ~CaptureShipper();

  // Main thread. A new configuration applies from the next batch.
  void configure(ShipperSettings settings);
  void start();
  // Worker `shard`'s thread. False when the queue is full (dropped and counted).
  bool submit(unsigned shard, CaptureRecord&& record) noexcept;
  // Ships what is queued (retrying until `deadline`), then calls `done` on
  // the executor. Records submitted after this are dropped.
  void shutdown(std::chrono::steady_clock::time_point deadline, std::function<void()> done);

  size_t queuedBytes() const { return queued_bytes_.load(std::memory_order_relaxed); }
  size_t queueLimit() const { return queue_limit_.load(std::memory_order_relaxed); }

 private:
  struct Shard {
    std::mutex mutex;
    std::vector<CaptureRecord> records;
  };
  struct Pending {
    std::vector<CaptureRecord> records;
    size_t bytes = 0;
  };

  boost::asio::awaitable<void> run();
  boost::asio::awaitable<void> ship(std::vector<CaptureRecord>& batch, size_t bytes);
  bool collect(Pending& into);  // true when anything was queued
  void count(prometheus::Counter* c, size_t n);

  boost::asio::any_io_executor executor_;
  HttpTransport transport_;
  ShipperCounters counters_;
  ShipperSettings settings_;
  boost::asio::steady_timer timer_;        // the batch delay; a full batch cancels it
  boost::asio::steady_timer retry_timer_;  // a retry's backoff
  Retrier retrier_;

  std::vector<std::unique_ptr<Shard>> shards_;
  std::atomic<size_t> queued_bytes_{0};
  std::atomic<size_t> queue_limit_{16 * 1024 * 1024};
  std::atomic<size_t> wake_at_bytes_{1024 * 1024};
  std::atomic<bool> wake_posted_{false};
  std::atomic<bool> closed_{false};

  bool running_ = false;
  bool stopping_ = false;
  bool failing_ = false;  // the last batch failed (log once per streak)
  std::chrono::steady_clock::time_point deadline_ = std::chrono::steady_clock::time_point::max();
  std::function<void()> done_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace hawser::telemetry
