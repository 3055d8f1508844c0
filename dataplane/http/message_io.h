// HTTP/1.1 messages on a stream: reading a head, moving a body through the
// decoder and out again with hawser's own framing. The one place bytes of
// an HTTP/1 body cross hawser, so every body byte is decoded once, bounded,
// re-framed, and shown to the observers once.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/parser.hpp>

#include <chrono>
#include <string>
#include <string_view>

#include "dataplane/any_stream.h"
#include "dataplane/http/body_decoder.h"
#include "dataplane/http/exchange.h"

namespace hawser::http1 {

using Deadline = std::chrono::steady_clock::time_point;
using RequestParser = boost::beast::http::request_parser<boost::beast::http::empty_body>;
using ResponseParser = boost::beast::http::response_parser<boost::beast::http::empty_body>;

// Arms the stream's timer for one operation: `op` from now, never past `deadline`.
void expire(AnyStream& s, std::chrono::milliseconds op, Deadline deadline);

// Reads until `parser` holds a whole head (at most `limit` bytes), by `until`.
// Bytes after the head stay in `buf`. A request head that is late leaves
// the connection open (beast::error::timeout) so the client gets its 408. The parser is set to skip the body:
// the body is framed by framing.h, never by the parser.
// (Instantiated for RequestParser and ResponseParser.)
template <class Parser>
boost::asio::awaitable<boost::system::error_code> readHead(AnyStream& s, boost::beast::flat_buffer& buf, Parser& parser,
                                                           size_t limit, Deadline until);
// The part of readHead that needs no read: feeds what `buf` holds to the
// parser. True when that settled it (the head is whole, or `ec` says why
// not); false when more bytes are needed.
template <class Parser>
bool parseBufferedHead(boost::beast::flat_buffer& buf, Parser& parser, size_t limit, boost::system::error_code& ec);

// Where body bytes are shown to the exchange observers.
struct BodyTap {
  const ExchangeObservers* observers = nullptr;
  const Exchange* exchange = nullptr;
  BodyDirection direction = BodyDirection::request;
  void operator()(std::string_view bytes) const noexcept {
    if (observers) observers->body(*exchange, direction, bytes);
  }
};

struct RelayResult {
  boost::system::error_code ec;  // I/O error (on_read says on which side)
  std::string_view malformed;    // the decoder refused the body (why)
  bool too_large = false;        // a body limit was passed
  bool on_read = false;          // the failure was on the source side
  bool head_sent = false;        // the prefix went out (relayBody)
  bool ok() const { return !ec && malformed.empty(); }
};

struct RelayTimeouts {
  std::chrono::milliseconds idle;  // per operation
  Deadline deadline;               // the exchange's
};

// Moves the body `dec` decodes from `in` (starting with the bytes in
// `in_buf`) to `out`, framed as `out_kind`: raw for a length or a
// close-delimited body, re-chunked for chunked (ending with the last
// chunk). `prefix` (a serialized head) goes out first, with the first body
// bytes already buffered when there are any; when those bytes are already
// malformed, nothing is written (the caller can still send a clean reply).
// On success, `in_buf` holds
// only bytes after the body. `moved` counts body bytes written. Each write
// is one buffer assembled in `scratch` (reused across exchanges).
// Decodes what `in_buf` holds of a body into `scratch` (after `prefix`),
// framed for `out_kind`, and consumes it; returns the decoder's status.
BodyDecoder::Status frameBuffered(boost::beast::flat_buffer& in_buf, BodyDecoder& dec, BodyKind out_kind,
                                  std::string_view prefix, const BodyTap& tap, uint64_t& moved, std::string& scratch);
// The whole body is already in `buf` (none, or all of a Content-Length body).
bool bodyBuffered(const Framing& f, const boost::beast::flat_buffer& buf);

boost::asio::awaitable<RelayResult> relayBody(AnyStream& in, boost::beast::flat_buffer& in_buf, BodyDecoder& dec,
                                              AnyStream& out, BodyKind out_kind, std::string_view prefix,
                                              RelayTimeouts t, const BodyTap& tap, uint64_t& moved,
                                              std::string& scratch);

// Reads the whole body into `body` (for a request that may be sent again).
boost::asio::awaitable<RelayResult> readBody(AnyStream& in, boost::beast::flat_buffer& in_buf, BodyDecoder& dec,
                                             std::string& body, RelayTimeouts t, const BodyTap& tap);

// Writes `bytes` whole.
// The rest of a write whose fast path (AnyStream::writeNow) took `taken`
// bytes of `bytes` and did not finish: under the deadline already set.
boost::asio::awaitable<boost::system::error_code> finishWrite(AnyStream& out, std::string_view bytes, size_t taken);
// `bytes` whole, within `op` and the deadline: the fast path first.
boost::asio::awaitable<boost::system::error_code> writeAll(AnyStream& out, std::string_view bytes,
                                                           std::chrono::milliseconds op, Deadline deadline);

}  // namespace hawser::http1
