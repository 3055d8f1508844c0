#include "telemetry/capture/archiver.h"

#include <fcntl.h>
#include <unistd.h>

#include <prometheus/counter.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include "telemetry/log.h"
#include "telemetry/otlp.h"

namespace hawser::telemetry {
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

std::string archiveKey(const std::string& prefix, const ClosedSegment& s) {
  using namespace std::chrono;
  auto day = floor<days>(sys_time<milliseconds>(milliseconds(s.start_ms)));
  year_month_day ymd(day);
  char date[16];
  std::snprintf(date, sizeof date, "%04d/%02u/%02u", static_cast<int>(ymd.year()), static_cast<unsigned>(ymd.month()),
                static_cast<unsigned>(ymd.day()));
  return (prefix.empty() ? "" : prefix + "/") + s.service + "/" + date + "/" + s.name + ".ndjson.gz";
}

std::string DirectorySink::put(const std::string& key, const std::string& body) {
  const fs::path target = fs::path(root_) / key;
  std::error_code ec;
  fs::create_directories(target.parent_path(), ec);
  if (ec) return "cannot create " + target.parent_path().string() + ": " + ec.message();
  const auto tmp = target.string() + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
  if (fd < 0) return "cannot create " + tmp + ": " + std::strerror(errno);
  const char* p = body.data();
  size_t n = body.size();
  while (n) {
    ssize_t w = ::write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) {
      std::string e = "cannot write " + tmp + ": " + std::strerror(errno);
      ::close(fd);
      ::unlink(tmp.c_str());
      return e;
    }
    p += w;
    n -= static_cast<size_t>(w);
  }
  const bool synced = ::fsync(fd) == 0;
  ::close(fd);
  if (!synced || ::rename(tmp.c_str(), target.c_str()) != 0) {
    std::string e = "cannot make " + target.string() + " durable: " + std::strerror(errno);
    ::unlink(tmp.c_str());
    return e;
  }
  std::string error;
  // The new name, and every directory created on the way, must survive a crash.
  for (auto dir = target.parent_path(); !dir.empty() && dir.string().size() >= root_.size(); dir = dir.parent_path()) {
    if (!syncDirectory(dir.string(), error)) return error;
    if (dir == fs::path(root_)) break;
  }
  return "";
}

Archiver::Archiver(Spool& spool, ArchiveSink& sink, std::string prefix, ArchiverCounters counters)
    : spool_(spool), sink_(sink), prefix_(std::move(prefix)), counters_(counters) {}

Archiver::~Archiver() {
  stop(Clock::now());
}

void Archiver::start() {
  thread_ = std::thread([this] { run(); });
}

void Archiver::stop(Clock::time_point deadline) {
  deadline_ns_ = deadline.time_since_epoch().count();
  stopping_ = true;
  spool_.stopWaiting();
  if (thread_.joinable()) thread_.join();
}

bool Archiver::uploadOne(const ClosedSegment& s) {
  auto contents = readSegment(s.path);
  std::string problem = contents.error;
  std::string body;
  if (problem.empty()) {
    std::string ndjson;
    for (const auto& r : contents.records) {
      ndjson += r;
      ndjson += '\n';
    }
    body = gzipCompress(ndjson);
    if (body.empty() && !ndjson.empty()) problem = "gzip failed";
  }
  const auto key = archiveKey(prefix_, s);
  if (problem.empty()) problem = sink_.put(key, body);
  if (!problem.empty()) {
    if (counters_.failed) counters_.failed->Increment();
    if (!failing_)
      log::warn("capture upload failed; the segment is kept and retried",
                {{"segment", s.path}, {"to", sink_.describe()}, {"error", problem}});
    failing_ = true;
    return false;
  }
  if (contents.valid_bytes != contents.file_bytes) {
    log::warn("a closed segment had a corrupt tail; its readable records were uploaded",
              {{"segment", s.path}, {"bytes_lost", contents.file_bytes - contents.valid_bytes}});
  }
  if (failing_) log::info("capture upload recovered", {{"to", sink_.describe()}});
  failing_ = false;
  spool_.remove(s);
  if (counters_.uploaded) counters_.uploaded->Increment();
  if (counters_.records) counters_.records->Increment(static_cast<double>(contents.records.size()));
  if (counters_.bytes) counters_.bytes->Increment(static_cast<double>(body.size()));
  return true;
}

void Archiver::run() {
  auto backoff = std::chrono::milliseconds(250);
  for (;;) {
    const bool stopping = stopping_.load();
    if (stopping && Clock::now().time_since_epoch().count() >= deadline_ns_.load()) return;
    auto next = spool_.nextClosed(std::chrono::milliseconds(stopping ? 0 : 500));
    if (!next) {
      if (stopping) return;
      continue;
    }
    if (uploadOne(*next)) {
      backoff = std::chrono::milliseconds(250);
      continue;
    }
    // Wait before the retry (in small steps, so a stop is seen).
    const auto until = Clock::now() + backoff;
    while (Clock::now() < until && !(stopping_ && Clock::now().time_since_epoch().count() >= deadline_ns_.load())) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    backoff = std::min(backoff * 2, std::chrono::milliseconds(30000));
  }
}

}  // namespace hawser::telemetry
