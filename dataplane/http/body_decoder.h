// Decodes an HTTP/1.1 message body from the bytes that follow its head, by
// the framing decided for it (framing.h): a length, the chunked coding
// (RFC 9112 §7.1) or the connection's end. Pure: bytes in, views of body
// bytes out, no copies, no I/O, so it is fuzzed and unit-tested directly.
//
// The chunked parser is strict: CRLF only, hex sizes without overflow, chunk
// extensions and trailer fields bounded (a size line or a trailer section
// past its limit is an error, however slowly it arrives) and never passed
// on. Trailers are read and dropped.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "dataplane/http/framing.h"

namespace hawser::http1 {

struct BodyLimits {
  size_t max_chunk_line = 4096;          // chunk size with its extensions, CRLF excluded
  size_t max_trailer_bytes = 64 * 1024;  // the whole trailer section
  uint64_t max_body_bytes = 0;           // 0: unlimited
};

class BodyDecoder {
 public:
  enum class Status {
    more,   // consumed everything given; give more (data may hold body bytes)
    data,   // `data` holds body bytes; call again with the rest
    done,   // the body is complete; bytes after `consumed` belong to the next message
    error,  // malformed; `error()` says why
  };
  struct Step {
    Status status = Status::more;
    size_t consumed = 0;    // input bytes used (the caller drops them after using `data`)
    std::string_view data;  // body bytes: a view into the input
  };

  BodyDecoder() = default;
  BodyDecoder(const Framing& f, const BodyLimits& limits) { reset(f, limits); }
  void reset(const Framing& f, const BodyLimits& limits);

  // Decodes from the front of `in`. At most one run of body bytes per call.
  Step step(std::string_view in);
  // The connection ended: completes a close-delimited body, else an error.
  Step finish();

  bool done() const { return state_ == State::done; }
  std::string_view error() const { return error_; }
  uint64_t bodyBytes() const { return body_bytes_; }
  // True once a body limit was passed (413 rather than 400).
  bool tooLarge() const { return too_large_; }

 private:
  enum class State {
    length,       // `remaining_` bytes of a sized body
    until_close,  // everything until the connection ends
    size,         // chunk-size hex digits
    ext,          // chunk extensions up to CR
    size_lf,      // the LF after a size line
    chunk_data,   // `remaining_` bytes of chunk data
    data_cr,      // the CR after chunk data
    data_lf,      // the LF after chunk data
    trailer,      // a trailer field line (or the final empty line)
    trailer_lf,   // the LF ending a trailer line
    done,
    error,
  };
  Step fail(std::string_view why, size_t consumed);
  bool countBody(uint64_t n);

  State state_ = State::done;
  BodyLimits limits_;
  uint64_t remaining_ = 0;
  uint64_t body_bytes_ = 0;
  size_t line_bytes_ = 0;     // bytes of the current size line or trailer line
  size_t trailer_bytes_ = 0;  // bytes of the trailer section so far
  int digits_ = 0;
  bool last_chunk_ = false;
  bool too_large_ = false;
  std::string_view error_;
};

// The chunked coding of `n` body bytes: the size line written before them
// ("1a2b\r\n") into `buf`; the data is followed by "\r\n". The last chunk is
// "0\r\n\r\n".
std::string_view chunkHeader(uint64_t n, char (&buf)[20]);
inline constexpr std::string_view kChunkEnd = "\r\n";
inline constexpr std::string_view kLastChunk = "0\r\n\r\n";

}  // namespace hawser::http1
