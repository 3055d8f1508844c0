// The forwarder's segment files: records appended as length-prefixed
// entries (u32 little-endian length, u32 little-endian CRC32C of the
// payload, the payload: one NDJSON record without its newline), made
// durable with fdatasync before the forwarder acknowledges a batch. A torn
// tail (a crash mid-append, never acknowledged) is cut off on recovery.
// Plain POSIX file I/O, no sockets.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace hawser::telemetry {

// CRC32C (Castagnoli), as iSCSI and ext4 use it; SSE4.2 when the CPU has it.
// No Debian package provides it for C++ (python3-crc32c checks ours in tests).
uint32_t crc32c(std::string_view data, uint32_t crc = 0);

// One segment being appended to. Not thread-safe.
class SegmentWriter {
 public:
  SegmentWriter() = default;
  SegmentWriter(const SegmentWriter&) = delete;
  SegmentWriter& operator=(const SegmentWriter&) = delete;
  ~SegmentWriter();

  // Creates `path` (which must not exist) and makes its directory entry durable.
  bool open(const std::string& path, std::string& error);
  // Appends the entries of `payloads`; not durable until sync().
  bool append(const std::vector<std::string>& payloads, std::string& error);
  bool append(std::string_view payload, std::string& error);
  bool sync(std::string& error);
  void close();

  bool isOpen() const { return fd_ >= 0; }
  uint64_t size() const { return size_; }
  const std::string& path() const { return path_; }

 private:
  int fd_ = -1;
  uint64_t size_ = 0;
  std::string path_;
};

struct SegmentContents {
  std::vector<std::string> records;
  uint64_t valid_bytes = 0;  // the length of the well-formed prefix
  uint64_t file_bytes = 0;
  std::string error;  // the file could not be read at all
};
// Reads every entry up to the first torn or corrupt one.
SegmentContents readSegment(const std::string& path);
// The same over bytes in memory.
SegmentContents parseSegment(std::string_view data);
// One entry as append() writes it.
std::string encodeSegmentEntry(std::string_view payload);

// fsync of a directory (after a create or rename in it).
bool syncDirectory(const std::string& dir, std::string& error);

// gzip (or zlib) inflate that stops at `limit` output bytes: false with
// `error` when the input is malformed or inflates past the limit.
bool gunzipBounded(std::string_view in, size_t limit, std::string& out, std::string& error);

}  // namespace hawser::telemetry
