#include "telemetry/capture/shipper.h"

#include <prometheus/counter.h>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <algorithm>

#include "telemetry/log.h"
#include "telemetry/otlp.h"

// GCC 12 misreads a coroutine frame's sized delete as mismatched.
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"

namespace hawser::telemetry {
namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;

CaptureShipper::CaptureShipper(asio::any_io_executor executor, HttpTransport transport, ShipperCounters counters,
                               unsigned shards)
    : executor_(std::move(executor)),
      transport_(std::move(transport)),
      counters_(counters),
      timer_(executor_),
      retry_timer_(executor_) {
  for (unsigned i = 0; i < std::max(1u, shards); ++i) shards_.push_back(std::make_unique<Shard>());
}

CaptureShipper::~CaptureShipper() {
  *alive_ = false;
}

void CaptureShipper::configure(ShipperSettings settings) {
  queue_limit_ = std::max<size_t>(1, settings.queue_bytes);
  wake_at_bytes_ = std::max<size_t>(1, settings.max_batch_bytes);
  settings_ = std::move(settings);
}

void CaptureShipper::start() {
  if (running_) return;
  running_ = true;
  asio::co_spawn(executor_, run(), asio::detached);
}

void CaptureShipper::count(prometheus::Counter* c, size_t n) {
  if (c && n) c->Increment(static_cast<double>(n));
}

bool CaptureShipper::submit(unsigned shard, CaptureRecord&& record) noexcept {
  const size_t bytes = record.approximateBytes();
  if (closed_.load(std::memory_order_relaxed) || queued_bytes_.fetch_add(bytes, std::memory_order_relaxed) + bytes >
                                                     queue_limit_.load(std::memory_order_relaxed)) {
    if (!closed_.load(std::memory_order_relaxed)) queued_bytes_.fetch_sub(bytes, std::memory_order_relaxed);
    count(counters_.dropped, 1);
    return false;
  }
  if (record.redacted) count(counters_.redacted, 1);
  auto& s = *shards_[shard % shards_.size()];
  size_t records = 0;
  try {
    std::lock_guard lock(s.mutex);
    s.records.push_back(std::move(record));
    records = s.records.size();
  } catch (...) {  // out of memory: the record is lost, never the request
    queued_bytes_.fetch_sub(bytes, std::memory_order_relaxed);
    count(counters_.dropped, 1);
    return false;
  }
  // A full batch wakes the loop (once, not per record).
  if ((records >= settings_.max_batch_records ||
       queued_bytes_.load(std::memory_order_relaxed) >= wake_at_bytes_.load(std::memory_order_relaxed)) &&
      !wake_posted_.exchange(true)) {
    asio::post(executor_, [this, alive = alive_] {
      if (*alive) timer_.cancel();
    });
  }
  return true;
}

void CaptureShipper::shutdown(Clock::time_point deadline, std::function<void()> done) {
  closed_ = true;
  stopping_ = true;
  deadline_ = deadline;
  done_ = std::move(done);
  if (!running_) {
    Pending left;
    collect(left);
    count(counters_.failed, left.records.size());
    queued_bytes_ = 0;
    asio::post(executor_, std::exchange(done_, {}));
    return;
  }
  timer_.cancel();
  retry_timer_.cancel();
}

bool CaptureShipper::collect(Pending& into) {
  for (auto& s : shards_) {
    std::vector<CaptureRecord> taken;
    {
      std::lock_guard lock(s->mutex);
      taken.swap(s->records);
    }
    for (auto& r : taken) {
      into.bytes += r.approximateBytes();
      into.records.push_back(std::move(r));
    }
  }
  return !into.records.empty();
}

asio::awaitable<void> CaptureShipper::run() {
  Pending pending;
  for (;;) {
    if (!stopping_ && queued_bytes_.load(std::memory_order_relaxed) < wake_at_bytes_.load(std::memory_order_relaxed)) {
      timer_.expires_after(settings_.batch_delay);
      co_await timer_.async_wait(asio::as_tuple(asio::use_awaitable));
    }
    wake_posted_ = false;
    pending = {};
    collect(pending);
    // Oldest first per worker, in batches bounded by count and bytes.
    size_t from = 0;
    while (from < pending.records.size()) {
      size_t to = from, bytes = 0;
      while (to < pending.records.size() && to - from < settings_.max_batch_records &&
             (to == from || bytes + pending.records[to].approximateBytes() <= settings_.max_batch_bytes)) {
        bytes += pending.records[to++].approximateBytes();
      }
      std::vector<CaptureRecord> batch(
          std::make_move_iterator(pending.records.begin() + static_cast<std::ptrdiff_t>(from)),
          std::make_move_iterator(pending.records.begin() + static_cast<std::ptrdiff_t>(to)));
      co_await ship(batch, bytes);
      queued_bytes_.fetch_sub(bytes, std::memory_order_relaxed);
      from = to;
    }
    if (stopping_) {
      Pending left;
      if (!collect(left)) break;
      // Submitted before the close: one more round.
      for (auto& r : left.records) {
        auto& s = *shards_.front();
        std::lock_guard lock(s.mutex);
        s.records.push_back(std::move(r));
      }
    }
  }
  running_ = false;
  if (done_) std::exchange(done_, {})();
}

asio::awaitable<void> CaptureShipper::ship(std::vector<CaptureRecord>& batch, size_t) {
  const auto& s = settings_;
  std::string ndjson;
  for (const auto& r : batch) {
    ndjson += encodeRecord(r);
    ndjson += '\n';
  }
  HttpPost post;
  post.url = s.url;
  post.timeout = s.timeout;
  post.body = gzipCompress(ndjson);
  post.headers.emplace_back("Content-Type", "application/x-ndjson");
  if (post.body.empty()) {
    post.body = std::move(ndjson);
  } else {
    post.headers.emplace_back("Content-Encoding", "gzip");
  }
  const size_t wire = post.body.size();
  auto outcome = co_await retrier_.post(transport_, post, s.retry, retry_timer_, deadline_, [&](const std::string& e) {
    if (failing_) return;
    failing_ = true;  // one line per streak; "recovered" ends it
    log::warn("capture forwarder unreachable or refusing; retrying (new records queue up to queue_bytes, then drop)",
              {{"url", s.url}, {"error", e}});
  });
  if (outcome.ok) {
    count(counters_.sent, batch.size());
    count(counters_.bytes, wire);
    if (failing_) log::info("capture shipping recovered", {{"url", s.url}});
    failing_ = false;
    co_return;
  }
  count(counters_.failed, batch.size());
  log::warn("capture shipping failed; records dropped",
            {{"url", s.url}, {"error", outcome.error}, {"records", batch.size()}});
  failing_ = true;
}

}  // namespace hawser::telemetry
