#include "telemetry/access_log.h"

#include <fcntl.h>
#include <poll.h>
#include <prometheus/counter.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <stdexcept>

#include "telemetry/log.h"

namespace hawser::telemetry {

// One producer thread's lines. The producer formats outside the lock and
// holds it only to copy the line in; the writer holds it only to swap the
// halves. Chosen over a lock-free SPSC byte ring: the lock is uncontended
// except during that swap (once per interval or wake threshold), so it costs
// what the ring's atomics would (tens of ns against ~1 µs of formatting); the
// writer hands the swapped half to write(2) as it is (no wrap-around, no
// partial lines to track), and nothing needs memory-order reasoning.
// Measured (2 producer threads x 100k lines to a file, a loaded 2-core box):
// ~1 µs of producer CPU and ~4 µs wall per write(), formatting included;
// the previous fwrite+fflush under one process-wide mutex: ~3.5-4 µs CPU and
// 20-30 µs wall (threads queued on the mutex behind each other's syscall).
class AccessLogBuffer {
 public:
  AccessLogBuffer(size_t capacity, std::thread::id owner) : capacity(capacity), owner(owner) {
    filling.reserve(capacity);
    spare.reserve(capacity);
  }
  std::mutex mutex;
  std::string filling;  // guarded by mutex: the owner appends, the writer swaps
  std::string spare;    // the writer's: the half being written, else empty
  const size_t capacity;
  const std::thread::id owner;
};

namespace {

std::atomic<uint64_t> next_log_id{1};

// The buffer the calling thread last used, and the log it belongs to.
struct CachedBuffer {
  uint64_t log_id = 0;
  AccessLogBuffer* buffer = nullptr;
};
thread_local CachedBuffer t_cached;

// writev(2) of every chunk, resuming after partial writes. Returns the bytes written.
size_t writeAll(int fd, std::span<const std::string_view> chunks) {
  size_t done = 0;
  size_t i = 0;       // first chunk not fully written
  size_t offset = 0;  // bytes of chunks[i] already written
  while (i < chunks.size()) {
    constexpr int kMaxIov = 64;
    iovec iov[kMaxIov];
    int n = 0;
    for (size_t j = i; j < chunks.size() && n < kMaxIov; ++j) {
      size_t skip = j == i ? offset : 0;
      if (chunks[j].size() > skip) {
        iov[n++] = {const_cast<char*>(chunks[j].data() + skip), chunks[j].size() - skip};
      }
    }
    if (n == 0) break;
    ssize_t w = ::writev(fd, iov, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) {  // a non-blocking stdout: wait here, off the workers
        pollfd p{fd, POLLOUT, 0};
        ::poll(&p, 1, 1000);
        continue;
      }
      return done;
    }
    done += static_cast<size_t>(w);
    for (auto left = static_cast<size_t>(w); i < chunks.size();) {
      size_t rest = chunks[i].size() - offset;
      if (left < rest) {
        offset += left;
        break;
      }
      left -= rest;
      ++i;
      offset = 0;
    }
  }
  return done;
}

class FileSink : public AccessLogSink {
 public:
  explicit FileSink(const std::string& path)
      : fd_(::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0666)) {
    if (fd_ < 0) throw std::runtime_error("cannot open access log " + path + ": " + std::strerror(errno));
  }
  ~FileSink() override { ::close(fd_); }
  FileSink(const FileSink&) = delete;
  FileSink& operator=(const FileSink&) = delete;
  size_t write(std::span<const std::string_view> chunks) override { return writeAll(fd_, chunks); }

 private:
  int fd_;
};

// Shares the application log's lock, so access lines never split its lines.
class StdoutSink : public AccessLogSink {
 public:
  size_t write(std::span<const std::string_view> chunks) override {
    auto lock = log::lockStdout();
    return writeAll(STDOUT_FILENO, chunks);
  }
};

std::unique_ptr<AccessLogSink> sinkFor(const std::string& path) {
  if (path == "off") return nullptr;
  if (path == "stdout") return std::make_unique<StdoutSink>();
  return std::make_unique<FileSink>(path);
}

template <class N>
void appendNumber(std::string& out, N n) {
  char buf[24];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, n);
  out.append(buf, end);
}

}  // namespace

void appendAccessLine(std::string& out, const AccessRecord& r) {
  auto str = [&](std::string_view key, std::string_view value) {
    out.append(",\"").append(key).append("\":\"");
    log::appendEscaped(out, value);
    out += '"';
  };
  auto num = [&](std::string_view key, auto value) {
    out.append(",\"").append(key).append("\":");
    appendNumber(out, value);
  };
  out.append("{\"time\":\"");
  log::appendNowRfc3339(out);
  out.append("\",\"log\":\"access\"");
  str("request_id", r.request_id);
  str("direction", r.direction);
  str("method", r.method);
  str("authority", r.authority);
  str("path", r.path);
  num("status", r.status);
  char ms[32];
  int n = std::snprintf(ms, sizeof ms, "%.3f", r.duration_ms);
  out.append(",\"duration_ms\":").append(ms, n > 0 ? std::min(static_cast<size_t>(n), sizeof ms - 1) : 0);
  str("upstream", r.upstream);
  num("bytes_received", r.bytes_received);
  num("bytes_sent", r.bytes_sent);
  str("reason", r.reason);
  if (!r.trace_id.empty()) {
    str("trace_id", r.trace_id);
    str("span_id", r.span_id);
  }
  out.append("}\n");
}

AccessLog::AccessLog(const std::string& path, prometheus::Counter* dropped)
    : AccessLog(sinkFor(path), AccessLogOptions{}, dropped) {}

AccessLog::AccessLog(std::unique_ptr<AccessLogSink> sink, AccessLogOptions options, prometheus::Counter* dropped)
    : sink_(std::move(sink)), options_(options), dropped_counter_(dropped), id_(next_log_id.fetch_add(1)) {
  if (sink_) writer_ = std::thread([this] { runWriter(); });
}

AccessLog::~AccessLog() {
  stop();
}

void AccessLog::write(const AccessRecord& r) {
  if (!sink_) return;
  if (stopped_.load(std::memory_order_relaxed)) {
    countDropped(1);
    return;
  }
  thread_local std::string line;  // keeps its capacity: no allocation per line
  line.clear();
  appendAccessLine(line, r);
  auto& b = bufferOfThisThread();
  bool full = false;
  bool wake = false;
  {
    std::lock_guard lock(b.mutex);
    size_t before = b.filling.size();
    size_t after = before + line.size();
    if (after > b.capacity) {
      full = true;
    } else {
      b.filling.append(line);
      wake = before < options_.wake_bytes && after >= options_.wake_bytes;
    }
  }
  if (full) {
    countDropped(1);
  } else if (wake) {
    wakeWriter();
  }
}

void AccessLog::stop() {
  if (!writer_.joinable()) return;
  {
    std::lock_guard lock(wake_mutex_);
    stopping_ = true;
  }
  wake_cv_.notify_one();
  writer_.join();
  stopped_.store(true, std::memory_order_relaxed);
  flushBuffers();  // lines that arrived during the writer's last pass
}

uint64_t AccessLog::dropped() const {
  return dropped_.load(std::memory_order_relaxed);
}

AccessLogBuffer& AccessLog::bufferOfThisThread() {
  if (t_cached.log_id == id_) return *t_cached.buffer;
  std::lock_guard lock(buffers_mutex_);
  auto me = std::this_thread::get_id();
  AccessLogBuffer* mine = nullptr;
  for (const auto& b : buffers_) {
    if (b->owner == me) mine = b.get();
  }
  if (!mine) mine = buffers_.emplace_back(std::make_unique<AccessLogBuffer>(options_.buffer_bytes, me)).get();
  t_cached = {id_, mine};
  return *mine;
}

void AccessLog::wakeWriter() {
  {
    std::lock_guard lock(wake_mutex_);
    wake_ = true;
  }
  wake_cv_.notify_one();
}

void AccessLog::runWriter() {
  std::unique_lock lock(wake_mutex_);
  while (!stopping_) {
    wake_cv_.wait_for(lock, options_.flush_interval, [this] { return wake_ || stopping_; });
    wake_ = false;
    lock.unlock();
    flushBuffers();
    lock.lock();
  }
  lock.unlock();
  flushBuffers();
}

void AccessLog::flushBuffers() {
  {
    std::lock_guard lock(buffers_mutex_);
    flushing_.clear();
    for (const auto& b : buffers_) flushing_.push_back(b.get());
  }
  chunks_.clear();
  size_t total = 0;
  for (auto* b : flushing_) {
    {
      std::lock_guard lock(b->mutex);
      b->filling.swap(b->spare);
    }
    if (!b->spare.empty()) {
      chunks_.emplace_back(b->spare);
      total += b->spare.size();
    }
  }
  if (total == 0) return;
  size_t written = sink_->write(chunks_);
  if (written < total) {
    // Count the lines that did not make it (a partly written one included).
    uint64_t lost = 0;
    size_t skip = written;
    for (auto c : chunks_) {
      if (skip >= c.size()) {
        skip -= c.size();
        continue;
      }
      lost += static_cast<uint64_t>(std::count(c.begin() + static_cast<ptrdiff_t>(skip), c.end(), '\n'));
      skip = 0;
    }
    countDropped(lost);
  }
  for (auto* b : flushing_) b->spare.clear();
}

void AccessLog::countDropped(uint64_t lines) {
  dropped_.fetch_add(lines, std::memory_order_relaxed);
  if (dropped_counter_) dropped_counter_->Increment(static_cast<double>(lines));
}

}  // namespace hawser::telemetry
