#include "dataplane/http/message_io.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/http/error.hpp>

#include <array>

// GCC 12 misreads a coroutine frame's sized delete as mismatched (as in
// discovery/cloudmap/cloudmap_source.cpp).
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"

namespace hawser::http1 {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using Clock = std::chrono::steady_clock;
constexpr auto tok = asio::as_tuple(asio::use_awaitable);
using namespace asio::experimental::awaitable_operators;

namespace {
// One read's worth: a TLS record's payload, and what a socket usually has.
constexpr size_t kReadSize = 16 * 1024;
// A head is read in smaller steps: the buffer it grows stays with the
// connection, and most heads are well under 1 KiB.
constexpr size_t kHeadRead = 4096;

std::string_view bufferedView(const beast::flat_buffer& b, size_t from) {
  auto d = b.data();
  return std::string_view(static_cast<const char*>(d.data()) + from, d.size() - from);
}
}  // namespace

template <class Parser>
bool parseBufferedHead(beast::flat_buffer& buf, Parser& p, size_t limit, boost::system::error_code& ec) {
  if (!p.got_some()) {  // Beast takes these only before the first byte
    p.header_limit(static_cast<std::uint32_t>(std::min<size_t>(limit, UINT32_MAX)));
    p.skip(true);  // framing is decided by framing.h, not by the parser
  }
  ec = {};
  if (buf.size() > 0) {
    buf.consume(p.put(buf.data(), ec));
    if (!ec && p.is_header_done()) return true;
    if (ec && ec != http::error::need_more) return true;
    ec = {};
  }
  if (buf.size() >= limit) {
    ec = http::error::header_limit;
    return true;
  }
  return false;
}
template bool parseBufferedHead(beast::flat_buffer&, RequestParser&, size_t, boost::system::error_code&);
template bool parseBufferedHead(beast::flat_buffer&, ResponseParser&, size_t, boost::system::error_code&);

template <class Parser>
asio::awaitable<boost::system::error_code> readHead(AnyStream& s, beast::flat_buffer& buf, Parser& p, size_t limit,
                                                    Deadline until) {
  constexpr bool reply_on_timeout = Parser::is_request::value;  // a client is owed its 408
  for (;;) {
    boost::system::error_code ec;
    if (parseBufferedHead(buf, p, limit, ec)) co_return ec;
    auto space = buf.prepare(std::min(kHeadRead, limit - buf.size()));
    if constexpr (reply_on_timeout) {
      // The stream's own timer closes the socket when it fires; a client
      // that is too slow is owed its 408, so this read is cancelled instead.
      s.expires_never();
      asio::steady_timer timer(s.get_executor(), until);
      auto r = co_await (s.async_read_some(space, tok) || timer.async_wait(tok));
      if (r.index() == 1) co_return beast::error::timeout;
      auto [rec, n] = std::get<0>(r);
      if (rec) co_return rec;
      buf.commit(n);
    } else {
      s.expires_at(until);
      auto [rec, n] = co_await s.async_read_some(space, tok);
      if (rec) co_return rec;
      buf.commit(n);
    }
  }
}
template asio::awaitable<boost::system::error_code> readHead(AnyStream&, beast::flat_buffer&, RequestParser&, size_t,
                                                             Deadline);
template asio::awaitable<boost::system::error_code> readHead(AnyStream&, beast::flat_buffer&, ResponseParser&, size_t,
                                                             Deadline);

void expire(AnyStream& s, std::chrono::milliseconds op, Deadline deadline) {
  s.expires_at(std::min(Clock::now() + op, deadline));
}

asio::awaitable<boost::system::error_code> writeAll(AnyStream& out, std::string_view bytes,
                                                    std::chrono::milliseconds op, Deadline deadline) {
  expire(out, op, deadline);
  size_t taken = 0;
  boost::system::error_code ec;
  if (out.writeNow(bytes, taken, ec) || ec) co_return ec;
  co_return co_await finishWrite(out, bytes, taken);
}

asio::awaitable<boost::system::error_code> finishWrite(AnyStream& out, std::string_view bytes, size_t taken) {
  if (taken < bytes.size()) {  // what was not taken (TLS: with the records before it)
    auto [ec, n] = co_await asio::async_write(out, asio::buffer(bytes.substr(taken)), tok);
    co_return ec;
  }
  auto [ec] = co_await out.async_flush(tok);  // records made, not all sent
  co_return ec;
}

BodyDecoder::Status frameBuffered(beast::flat_buffer& in_buf, BodyDecoder& dec, BodyKind out_kind,
                                  std::string_view prefix, const BodyTap& tap, uint64_t& moved, std::string& scratch) {
  const bool chunked = out_kind == BodyKind::chunked;
  char size_line[20];
  scratch.clear();
  scratch.append(prefix);
  size_t consumed = 0;
  BodyDecoder::Status status = dec.done() ? BodyDecoder::Status::done : BodyDecoder::Status::more;
  while (status != BodyDecoder::Status::done && consumed < in_buf.size()) {
    auto st = dec.step(bufferedView(in_buf, consumed));
    consumed += st.consumed;
    status = st.status;
    if (!st.data.empty()) {
      tap(st.data);
      moved += st.data.size();
      if (chunked) scratch.append(chunkHeader(st.data.size(), size_line));
      scratch.append(st.data);
      if (chunked) scratch.append(kChunkEnd);
    }
    if (status == BodyDecoder::Status::error || status == BodyDecoder::Status::more) break;
  }
  if (status == BodyDecoder::Status::done && chunked) scratch.append(kLastChunk);
  in_buf.consume(consumed);  // what it framed is copied into scratch
  return status;
}

bool bodyBuffered(const Framing& f, const beast::flat_buffer& buf) {
  return f.kind == BodyKind::none || (f.kind == BodyKind::length && buf.size() >= f.length);
}

asio::awaitable<RelayResult> relayBody(AnyStream& in, beast::flat_buffer& in_buf, BodyDecoder& dec, AnyStream& out,
                                       BodyKind out_kind, std::string_view prefix, RelayTimeouts t, const BodyTap& tap,
                                       uint64_t& moved, std::string& scratch) {
  const bool chunked = out_kind == BodyKind::chunked;
  bool head_sent = prefix.empty();
  for (;;) {
    // What one read brought, framed, goes out as one buffer: over TLS a
    // buffer sequence would be one record (and one send) per buffer.
    const auto status = frameBuffered(in_buf, dec, out_kind, prefix, tap, moved, scratch);
    const bool done = status == BodyDecoder::Status::done;
    const bool failed = status == BodyDecoder::Status::error;
    if (!scratch.empty() && !(failed && !prefix.empty())) {
      expire(out, t.idle, t.deadline);
      auto [wec, wn] = co_await asio::async_write(out, asio::buffer(scratch), tok);
      if (wec) co_return RelayResult{wec, {}, false, false, head_sent};
      head_sent = true;
    }
    prefix = {};
    if (failed) co_return RelayResult{{}, dec.error(), dec.tooLarge(), true, head_sent};
    if (done) co_return RelayResult{{}, {}, false, false, head_sent};

    expire(in, t.idle, t.deadline);
    auto [rec, rn] = co_await in.async_read_some(in_buf.prepare(kReadSize), tok);
    in_buf.commit(rn);
    if (rec == asio::error::eof) {
      auto st = dec.finish();  // a close-delimited body ends here; any other is truncated
      if (st.status != BodyDecoder::Status::done) co_return RelayResult{rec, {}, false, true, head_sent};
      if (chunked) {
        expire(out, t.idle, t.deadline);
        auto [wec, wn] = co_await asio::async_write(out, asio::buffer(kLastChunk), tok);
        if (wec) co_return RelayResult{wec, {}, false, false, head_sent};
      }
      co_return RelayResult{{}, {}, false, false, head_sent};
    }
    if (rec) co_return RelayResult{rec, {}, false, true, head_sent};
  }
}

asio::awaitable<RelayResult> readBody(AnyStream& in, beast::flat_buffer& in_buf, BodyDecoder& dec, std::string& body,
                                      RelayTimeouts t, const BodyTap& tap) {
  for (;;) {
    while (!dec.done() && in_buf.size() > 0) {
      auto st = dec.step(bufferedView(in_buf, 0));
      if (!st.data.empty()) {
        tap(st.data);
        body.append(st.data);
      }
      in_buf.consume(st.consumed);
      if (st.status == BodyDecoder::Status::error) co_return RelayResult{{}, dec.error(), dec.tooLarge(), true};
      if (st.status == BodyDecoder::Status::more) break;
    }
    if (dec.done()) co_return RelayResult{};
    expire(in, t.idle, t.deadline);
    auto [rec, rn] = co_await in.async_read_some(in_buf.prepare(kReadSize), tok);
    in_buf.commit(rn);
    if (rec) co_return RelayResult{rec, {}, false, true};
  }
}

}  // namespace hawser::http1
