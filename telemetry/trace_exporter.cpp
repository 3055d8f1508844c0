#include "telemetry/trace_exporter.h"

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

TraceExporter::TraceExporter(asio::any_io_executor executor, HttpTransport transport, ExporterCounters counters)
    : executor_(std::move(executor)),
      transport_(std::move(transport)),
      counters_(counters),
      timer_(executor_),
      retry_timer_(executor_) {}

TraceExporter::~TraceExporter() {
  *alive_ = false;
}

void TraceExporter::configure(ExporterSettings settings, ResourceAttributes resource) {
  batch_at_ = std::max<size_t>(1, settings.max_batch_spans);
  max_queue_ = std::max<size_t>(1, settings.max_queue_spans);
  policy_ = RetryPolicy{settings.max_attempts, settings.backoff_base, settings.backoff_max, settings.max_retry_after};
  settings_ = std::move(settings);
  resource_ = std::move(resource);
}

void TraceExporter::start() {
  if (running_) return;
  running_ = true;
  asio::co_spawn(executor_, run(), asio::detached);
}

void TraceExporter::count(prometheus::Counter* c, size_t n) {
  if (c && n) c->Increment(static_cast<double>(n));
}

bool TraceExporter::submit(SpanRecord&& span) noexcept {
  if (closed_.load(std::memory_order_relaxed)) {
    count(counters_.dropped, 1);
    return false;
  }
  if (queued_.fetch_add(1, std::memory_order_relaxed) >= max_queue_.load(std::memory_order_relaxed)) {
    queued_.fetch_sub(1, std::memory_order_relaxed);
    count(counters_.dropped, 1);
    return false;
  }
  size_t size = 0;
  try {
    std::lock_guard lock(mutex_);
    incoming_.push_back(std::move(span));
    size = incoming_.size();
  } catch (...) {  // out of memory: the span is lost, never the request
    queued_.fetch_sub(1, std::memory_order_relaxed);
    count(counters_.dropped, 1);
    return false;
  }
  // A full batch wakes the loop (once, not per span).
  if (size >= batch_at_.load(std::memory_order_relaxed) && !wake_posted_.exchange(true)) {
    asio::post(executor_, [this, alive = alive_] {
      if (*alive) timer_.cancel();
    });
  }
  return true;
}

void TraceExporter::shutdown(Clock::time_point deadline, std::function<void()> done) {
  closed_ = true;
  stopping_ = true;
  deadline_ = deadline;
  done_ = std::move(done);
  if (!running_) {
    // Never started: what was queued cannot go anywhere.
    std::lock_guard lock(mutex_);
    count(counters_.failed, incoming_.size());
    incoming_.clear();
    queued_ = 0;
    asio::post(executor_, std::exchange(done_, {}));
    return;
  }
  timer_.cancel();
  retry_timer_.cancel();
}

asio::awaitable<void> TraceExporter::sleep(Clock::duration d) {
  timer_.expires_after(d);
  co_await timer_.async_wait(asio::as_tuple(asio::use_awaitable));
}

asio::awaitable<void> TraceExporter::run() {
  std::vector<SpanRecord> pending;
  for (;;) {
    if (!stopping_) {
      bool full;
      {
        std::lock_guard lock(mutex_);
        full = incoming_.size() >= batch_at_.load(std::memory_order_relaxed);
      }
      if (!full) co_await sleep(settings_.batch_delay);
    }
    wake_posted_ = false;
    {
      std::lock_guard lock(mutex_);
      pending.swap(incoming_);
    }
    // In batches bounded by count and bytes, oldest first.
    size_t from = 0;
    while (from < pending.size()) {
      size_t to = from, bytes = 0;
      while (to < pending.size() && to - from < settings_.max_batch_spans &&
             (to == from || bytes + pending[to].approximateBytes() <= settings_.max_batch_bytes)) {
        bytes += pending[to++].approximateBytes();
      }
      std::vector<SpanRecord> batch(std::make_move_iterator(pending.begin() + static_cast<std::ptrdiff_t>(from)),
                                    std::make_move_iterator(pending.begin() + static_cast<std::ptrdiff_t>(to)));
      co_await exportBatch(batch);
      queued_.fetch_sub(to - from, std::memory_order_relaxed);
      from = to;
    }
    pending.clear();
    if (stopping_) {
      std::lock_guard lock(mutex_);
      if (incoming_.empty()) break;
    }
  }
  running_ = false;
  if (done_) std::exchange(done_, {})();
}

asio::awaitable<void> TraceExporter::exportBatch(std::vector<SpanRecord>& batch) {
  const auto& s = settings_;
  HttpPost post;
  post.url = s.url;
  post.body = s.json ? encodeOtlpJson(resource_, batch) : encodeOtlpProtobuf(resource_, batch);
  post.headers = s.headers;
  post.timeout = s.timeout;
  post.headers.emplace_back("Content-Type", s.json ? "application/json" : "application/x-protobuf");
  if (s.gzip) {
    if (auto z = gzipCompress(post.body); !z.empty()) {
      post.body = std::move(z);
      post.headers.emplace_back("Content-Encoding", "gzip");
    }
  }
  auto outcome = co_await retrier_.post(transport_, post, policy_, retry_timer_, deadline_);
  if (outcome.ok) {
    count(counters_.exported, batch.size());
    if (failing_) log::info("trace export recovered", {{"url", s.url}});
    failing_ = false;
    co_return;
  }
  const auto& last = outcome.error;
  count(counters_.failed, batch.size());
  if (!failing_)
    log::warn("trace export failed; spans dropped", {{"url", s.url}, {"error", last}, {"spans", batch.size()}});
  failing_ = true;
}

}  // namespace hawser::telemetry
