#include "telemetry/capture/spool.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <cstring>
#include <filesystem>
#include <optional>

namespace hawser::telemetry {
namespace fs = std::filesystem;

bool parseSegmentName(const std::string& file, std::string& service, int64_t& start_ms, uint64_t& seq,
                      std::string& ext) {
  auto t1 = file.find('~');
  auto t2 = t1 == std::string::npos ? std::string::npos : file.find('~', t1 + 1);
  auto dot = t2 == std::string::npos ? std::string::npos : file.find('.', t2 + 1);
  if (dot == std::string::npos || t1 == 0) return false;
  service = file.substr(0, t1);
  auto a = std::string_view(file).substr(t1 + 1, t2 - t1 - 1);
  auto b = std::string_view(file).substr(t2 + 1, dot - t2 - 1);
  ext = file.substr(dot + 1);
  auto ra = std::from_chars(a.data(), a.data() + a.size(), start_ms);
  auto rb = std::from_chars(b.data(), b.data() + b.size(), seq);
  return !a.empty() && !b.empty() && ra.ptr == a.data() + a.size() && rb.ptr == b.data() + b.size() &&
         (ext == "open" || ext == "closed");
}

std::string Spool::pathOf(const std::string& service, int64_t start_ms, uint64_t seq, const char* ext) const {
  return settings_.dir + "/" + service + "~" + std::to_string(start_ms) + "~" + std::to_string(seq) + "." + ext;
}

bool Spool::open(SpoolSettings settings, std::string& error) {
  settings_ = std::move(settings);
  std::error_code ec;
  fs::create_directories(settings_.dir, ec);
  if (ec) {
    error = "cannot create " + settings_.dir + ": " + ec.message();
    return false;
  }
  std::lock_guard lock(mutex_);
  for (const auto& entry : fs::directory_iterator(settings_.dir, ec)) {
    if (!entry.is_regular_file()) continue;
    std::string service, ext;
    int64_t start_ms = 0;
    uint64_t seq = 0;
    const auto file = entry.path().filename().string();
    if (!parseSegmentName(file, service, start_ms, seq, ext)) continue;
    seq_ = std::max(seq_, seq + 1);
    auto path = entry.path().string();
    if (ext == "open") {
      // A previous run's open segment: keep what was acknowledged, cut the torn tail, close it.
      auto contents = readSegment(path);
      if (!contents.error.empty()) {
        error = contents.error;
        return false;
      }
      recovered_records_ += contents.records.size();
      truncated_bytes_ += contents.file_bytes - contents.valid_bytes;
      if (contents.valid_bytes == 0) {
        ::unlink(path.c_str());
        continue;
      }
      if (contents.valid_bytes != contents.file_bytes &&
          ::truncate(path.c_str(), static_cast<off_t>(contents.valid_bytes)) != 0) {
        error = "cannot truncate " + path + ": " + std::strerror(errno);
        return false;
      }
      auto closed = pathOf(service, start_ms, seq, "closed");
      if (::rename(path.c_str(), closed.c_str()) != 0) {
        error = "cannot rename " + path + ": " + std::strerror(errno);
        return false;
      }
      path = closed;
    }
    ClosedSegment s{path, service, start_ms, std::to_string(start_ms) + "-" + std::to_string(seq),
                    static_cast<uint64_t>(fs::file_size(path, ec))};
    bytes_ += s.bytes;
    closed_.push_back(std::move(s));
  }
  if (ec) {
    error = "cannot list " + settings_.dir + ": " + ec.message();
    return false;
  }
  std::sort(closed_.begin(), closed_.end(), [](const auto& a, const auto& b) { return a.start_ms < b.start_ms; });
  return syncDirectory(settings_.dir, error);
}

Spool::Append Spool::append(const std::vector<std::pair<std::string, std::string>>& records, std::string& error) {
  std::map<std::string, std::vector<std::string>> by_service;
  uint64_t incoming = 0;
  for (const auto& [service, line] : records) {
    by_service[service].push_back(line);
    incoming += line.size() + 8;
  }
  std::lock_guard lock(mutex_);
  if (bytes_ + incoming > settings_.max_bytes) return Append::full;
  std::vector<Open*> touched;
  for (auto& [service, lines] : by_service) {
    auto& slot = open_[service];
    if (!slot) {
      auto o = std::make_unique<Open>();
      o->service = service;
      o->start_ms =
          std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
              .count();
      o->seq = seq_++;
      o->opened = std::chrono::steady_clock::now();
      if (!o->writer.open(pathOf(service, o->start_ms, o->seq, "open"), error)) {
        open_.erase(service);
        return Append::failed;
      }
      slot = std::move(o);
    }
    const auto before = slot->writer.size();
    if (!slot->writer.append(lines, error)) {
      if (!slot->writer.isOpen()) open_.erase(service);  // its file is recovered at the next start
      return Append::failed;
    }
    bytes_ += slot->writer.size() - before;
    touched.push_back(slot.get());
  }
  for (auto* o : touched) {
    if (!o->writer.sync(error)) return Append::failed;
  }
  for (auto* o : touched) {
    if (o->writer.size() >= settings_.segment_max_bytes) closeLocked(o->service);
  }
  return Append::ok;
}

void Spool::closeLocked(const std::string& service) {
  auto it = open_.find(service);
  if (it == open_.end()) return;
  auto& o = *it->second;
  const auto from = o.writer.path();
  const auto size = o.writer.size();
  o.writer.close();
  auto to = pathOf(o.service, o.start_ms, o.seq, "closed");
  std::string ignored;
  if (::rename(from.c_str(), to.c_str()) == 0) {
    syncDirectory(settings_.dir, ignored);
    closed_.push_back({to, o.service, o.start_ms, std::to_string(o.start_ms) + "-" + std::to_string(o.seq), size});
  }  // else it stays .open and is recovered at the next start
  open_.erase(it);
  cv_.notify_all();
}

void Spool::closeExpired(bool all) {
  std::lock_guard lock(mutex_);
  const auto now = std::chrono::steady_clock::now();
  std::vector<std::string> due;
  for (const auto& [service, o] : open_) {
    if (all || now - o->opened >= settings_.segment_max_age) due.push_back(service);
  }
  for (const auto& s : due) closeLocked(s);
}

std::optional<ClosedSegment> Spool::nextClosed(std::chrono::milliseconds wait) {
  std::unique_lock lock(mutex_);
  cv_.wait_for(lock, wait, [&] { return stop_ || !closed_.empty(); });
  if (closed_.empty()) return std::nullopt;
  return closed_.front();
}

void Spool::remove(const ClosedSegment& s) {
  std::lock_guard lock(mutex_);
  auto it = std::find_if(closed_.begin(), closed_.end(), [&](const auto& c) { return c.path == s.path; });
  if (it == closed_.end()) return;
  ::unlink(s.path.c_str());
  bytes_ -= std::min(bytes_, it->bytes);
  closed_.erase(it);
}

void Spool::stopWaiting() {
  std::lock_guard lock(mutex_);
  stop_ = true;
  cv_.notify_all();
}

uint64_t Spool::bytes() const {
  std::lock_guard lock(mutex_);
  return bytes_;
}
size_t Spool::openSegments() const {
  std::lock_guard lock(mutex_);
  return open_.size();
}
size_t Spool::closedSegments() const {
  std::lock_guard lock(mutex_);
  return closed_.size();
}

}  // namespace hawser::telemetry
