// HTTP/1.1 message framing (RFC 9112 §6), decided once per message from its
// head. Whatever framing lines a message arrived with, hawser drops every
// Transfer-Encoding and Content-Length line and writes exactly one framing
// header of its own on output, so no two hops can read one message's length
// differently. Anything ambiguous is refused, never guessed.
//
// Plain functions over Beast's field container: no sockets, no Asio.
#pragma once

#include <boost/beast/http/fields.hpp>

#include <cstdint>
#include <string>
#include <string_view>

namespace hawser::http1 {

enum class BodyKind {
  none,         // no body (or a body that must not be read: HEAD, 204, 304, 1xx)
  length,       // exactly `length` bytes
  chunked,      // chunked transfer coding
  until_close,  // a response delimited by the upstream closing (requests never)
};

struct Framing {
  BodyKind kind = BodyKind::none;
  uint64_t length = 0;
  // The message said Content-Length (kept for HEAD/304 responses, where it
  // describes the representation rather than a body that follows).
  bool declared_length = false;
  uint64_t declared = 0;
};

struct FramingDecision {
  Framing framing;
  std::string_view error;  // empty: acceptable; else why it is refused (for logs and metrics)
  bool ok() const { return error.empty(); }
};

// A request: Transfer-Encoding must be exactly `chunked` (across all of its
// lines), never beside Content-Length, never in HTTP/1.0; Content-Length
// lines must all carry the same decimal value. Neither: no body.
FramingDecision requestFraming(const boost::beast::http::fields& f, unsigned version);

// A response to a request with `request_method_head`: 1xx, 204, 304 and
// responses to HEAD have no body whatever they say; otherwise the same rules
// as requests, and neither header means the body runs until the upstream
// closes.
FramingDecision responseFraming(const boost::beast::http::fields& f, unsigned status, bool request_method_head);

// Removes every Transfer-Encoding and Content-Length line.
void stripFraming(boost::beast::http::fields& f);

// Appends the one framing line hawser writes for a body of `f`'s kind:
// "Content-Length: N" for a length (or a declared length on a bodiless
// HEAD/304 response), "Transfer-Encoding: chunked" for chunked, nothing for
// no body or a close-delimited one.
void appendFramingHeader(const Framing& f, std::string& out);

// ASCII case-insensitive equality, as HTTP tokens and names compare.
bool iequalsAscii(std::string_view a, std::string_view b);

// Parses a Content-Length value: 1*DIGIT, or a list of identical values
// ("5, 5", RFC 9110 §8.6). False for anything else or overflow.
bool parseContentLength(std::string_view value, uint64_t& out);

}  // namespace hawser::http1
