#include "telemetry/capture/segment.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#if defined(__x86_64__)
#include <cpuid.h>
#include <nmmintrin.h>
#endif

namespace hawser::telemetry {

namespace {

constexpr std::array<uint32_t, 256> kTable = [] {
  std::array<uint32_t, 256> t{};
  for (uint32_t i = 0; i < 256; ++i) {
    uint32_t c = i;
    for (int k = 0; k < 8; ++k) c = (c >> 1) ^ (0x82F63B78u & (0u - (c & 1u)));
    t[i] = c;
  }
  return t;
}();

uint32_t crcSoftware(std::string_view data, uint32_t crc) {
  for (unsigned char b : data) crc = kTable[(crc ^ b) & 0xff] ^ (crc >> 8);
  return crc;
}

#if defined(__x86_64__)
__attribute__((target("sse4.2"))) uint32_t crcHardware(std::string_view data, uint32_t crc) {
  const char* p = data.data();
  size_t n = data.size();
  uint64_t c = crc;
  for (; n >= 8; p += 8, n -= 8) {
    uint64_t v;
    std::memcpy(&v, p, 8);
    c = _mm_crc32_u64(c, v);
  }
  auto c32 = static_cast<uint32_t>(c);
  for (; n; ++p, --n) c32 = _mm_crc32_u8(c32, static_cast<unsigned char>(*p));
  return c32;
}

bool haveSse42() {
  unsigned a, b, c, d;
  return __get_cpuid(1, &a, &b, &c, &d) && (c & bit_SSE4_2);
}
#endif

std::string errnoText(const char* what, const std::string& path) {
  return std::string(what) + " " + path + ": " + std::strerror(errno);
}

void putLe32(char* out, uint32_t v) {
  for (int i = 0; i < 4; ++i) out[i] = static_cast<char>(v >> (8 * i));
}
uint32_t getLe32(const char* in) {
  uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v |= static_cast<uint32_t>(static_cast<unsigned char>(in[i])) << (8 * i);
  return v;
}

bool writeAll(int fd, const char* p, size_t n) {
  while (n) {
    ssize_t w = ::write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return false;
    p += w;
    n -= static_cast<size_t>(w);
  }
  return true;
}

constexpr uint32_t kMaxEntry = 64u << 20;

}  // namespace

uint32_t crc32c(std::string_view data, uint32_t crc) {
  crc = ~crc;
#if defined(__x86_64__)
  static const bool hw = haveSse42();
  crc = hw ? crcHardware(data, crc) : crcSoftware(data, crc);
#else
  crc = crcSoftware(data, crc);
#endif
  return ~crc;
}

SegmentWriter::~SegmentWriter() {
  close();
}

bool SegmentWriter::open(const std::string& path, std::string& error) {
  close();
  fd_ = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC, 0640);
  if (fd_ < 0) {
    error = errnoText("cannot create", path);
    return false;
  }
  path_ = path;
  size_ = 0;
  auto slash = path.rfind('/');
  return syncDirectory(slash == std::string::npos ? "." : path.substr(0, slash), error);
}

bool SegmentWriter::append(std::string_view payload, std::string& error) {
  return append(std::vector<std::string>{std::string(payload)}, error);
}

std::string encodeSegmentEntry(std::string_view payload) {
  std::string out(8, '\0');
  putLe32(out.data(), static_cast<uint32_t>(payload.size()));
  putLe32(out.data() + 4, crc32c(payload));
  out.append(payload);
  return out;
}

bool SegmentWriter::append(const std::vector<std::string>& payloads, std::string& error) {
  std::string buf;
  size_t total = 0;
  for (const auto& p : payloads) total += p.size() + 8;
  buf.reserve(total);
  for (const auto& p : payloads) {
    if (p.size() > kMaxEntry) {
      error = "a record of " + std::to_string(p.size()) + " bytes is larger than a segment entry may be";
      return false;
    }
    buf += encodeSegmentEntry(p);
  }
  if (!writeAll(fd_, buf.data(), buf.size())) {
    error = errnoText("cannot write", path_);
    // What was written of this batch is a torn tail: cut it so the next batch appends to a clean file.
    if (::ftruncate(fd_, static_cast<off_t>(size_)) != 0) close();
    return false;
  }
  size_ += buf.size();
  return true;
}

bool SegmentWriter::sync(std::string& error) {
  if (::fdatasync(fd_) != 0) {
    error = errnoText("cannot fdatasync", path_);
    return false;
  }
  return true;
}

void SegmentWriter::close() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

SegmentContents readSegment(const std::string& path) {
  SegmentContents out;
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    out.error = errnoText("cannot read", path);
    return out;
  }
  std::stringstream ss;
  ss << in.rdbuf();
  return parseSegment(ss.str());
}

SegmentContents parseSegment(std::string_view data) {
  SegmentContents out;
  out.file_bytes = data.size();
  size_t pos = 0;
  while (data.size() - pos >= 8) {
    const uint32_t len = getLe32(data.data() + pos);
    const uint32_t crc = getLe32(data.data() + pos + 4);
    if (len > kMaxEntry || data.size() - pos - 8 < len) break;
    std::string_view payload(data.data() + pos + 8, len);
    if (crc32c(payload) != crc) break;
    out.records.emplace_back(payload);
    pos += 8 + len;
  }
  out.valid_bytes = pos;
  return out;
}

bool syncDirectory(const std::string& dir, std::string& error) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) {
    error = errnoText("cannot open directory", dir);
    return false;
  }
  bool ok = ::fsync(fd) == 0;
  if (!ok) error = errnoText("cannot fsync directory", dir);
  ::close(fd);
  return ok;
}

bool gunzipBounded(std::string_view in, size_t limit, std::string& out, std::string& error) {
  out.clear();
  z_stream z{};
  if (inflateInit2(&z, 15 + 32) != Z_OK) {  // 32: gzip or zlib header, detected
    error = "inflate init failed";
    return false;
  }
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  z.avail_in = static_cast<uInt>(in.size());
  char chunk[16384];
  int rc = Z_OK;
  while (rc != Z_STREAM_END) {
    z.next_out = reinterpret_cast<Bytef*>(chunk);
    z.avail_out = sizeof chunk;
    rc = inflate(&z, Z_NO_FLUSH);
    if (rc != Z_OK && rc != Z_STREAM_END) {
      error = rc == Z_BUF_ERROR ? "truncated gzip stream" : "malformed gzip stream";
      inflateEnd(&z);
      return false;
    }
    const size_t got = sizeof chunk - z.avail_out;
    if (out.size() + got > limit) {
      error = "inflates past " + std::to_string(limit) + " bytes";
      inflateEnd(&z);
      return false;
    }
    out.append(chunk, got);
    if (rc == Z_OK && got == 0 && z.avail_in == 0) {
      error = "truncated gzip stream";
      inflateEnd(&z);
      return false;
    }
  }
  const bool trailing = z.avail_in != 0;
  inflateEnd(&z);
  if (trailing) {
    error = "bytes after the gzip stream";
    return false;
  }
  return true;
}

}  // namespace hawser::telemetry
