// The response to the client: its head re-written (hop-by-hop fields and
// framing lines gone, hawser's one framing line and the connection's
// keep-alive decision in), then its body through the decoder. The upstream
// connection goes back to the pool only when the response ended exactly
// where its framing said, with nothing after it.
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/http.hpp>

#include "dataplane/http/http_connection.h"
#include "dataplane/http_headers.h"
#include "dataplane/worker.h"

namespace hawser::http1 {
namespace beast = boost::beast;
namespace http = beast::http;
constexpr auto tok = boost::asio::as_tuple(boost::asio::use_awaitable);

namespace {
// How the client gets a body framed `in`: a chunked or close-delimited
// body goes chunked to HTTP/1.1 clients, close-delimited to HTTP/1.0 ones.
Framing clientFraming(const Framing& in, unsigned client_version) {
  Framing out = in;
  if (in.kind == BodyKind::chunked || in.kind == BodyKind::until_close) {
    out.kind = client_version >= 11 ? BodyKind::chunked : BodyKind::until_close;
  }
  return out;
}
}  // namespace

boost::asio::awaitable<bool> HttpConnection::forwardResponse(Exchange& x, Request& rq, UpstreamResponse& ur,
                                                             const RouteChoice& rc) {
  auto& up = ur.conn;
  auto& msg = ur.parser->get();
  auto& res = msg.base();
  const unsigned status = res.result_int();
  if (status == 101) {  // asked for (the attempt loop refuses any other)
    co_await upgradeTunnel(x, ur, rc);
    co_return false;
  }
  observers_->responseHead(x, res);
  const auto& t = rc.timeouts;
  const bool upstream_keep_alive = ur.parser->keep_alive() && ur.framing.kind != BodyKind::until_close;
  const Framing out = clientFraming(ur.framing, x.version);
  removeHopByHop(res, false);
  stripFraming(res);
  const bool keep = rq.keep_alive && rq.bodyConsumed() && !w_.draining() && out.kind != BodyKind::until_close;
  res.version(x.version);
  msg.keep_alive(keep);
  serializeHead(res, head_, false);
  appendFramingHeader(out, head_);
  head_.append("\r\n");

  // The head goes out in one write with the body bytes that arrived with it
  // (one send, one TLS record for a small response); the rest is relayed.
  BodyDecoder dec(ur.framing, responseBodyLimits());
  BodyTap tap{observers_.get(), &x, BodyDirection::response};
  RelayResult relay;
  if (bodyBuffered(ur.framing, ur.buf)) {  // the usual small response: one write, no relay loop
    frameBuffered(ur.buf, dec, out.kind, head_, tap, x.bytes_out, out_);
    expire(down_, t.idle, x.deadline);
    size_t taken = 0;
    boost::system::error_code wec;
    if (!down_.writeNow(out_, taken, wec) && !wec) wec = co_await finishWrite(down_, out_, taken);
    relay.ec = wec;
    relay.head_sent = !wec;
  } else {
    relay = co_await relayBody(up->stream, ur.buf, dec, down_, out.kind, head_, {t.idle, x.deadline}, tap, x.bytes_out,
                               out_);
  }
  if (relay.head_sent) {
    x.status = status;
    x.response_started = true;
  }
  if (!relay.ok()) {
    if (!relay.head_sent && relay.on_read) {
      // Nothing reached the client yet: a clean reply instead of a truncated response.
      co_return co_await localReply(x, LocalReply::bad_gateway, nullptr);
    }
    x.reason = !relay.malformed.empty()            ? "bad-gateway"
               : relay.ec == beast::error::timeout ? "upstream-timeout"
               : relay.on_read                     ? "upstream-reset"
                                                   : "downstream-reset";
    co_return false;
  }
  if (upstream_keep_alive && ur.buf.size() == 0 && !rc.cluster->connectionSpent(up->requests)) {
    w_.pool().release(std::move(up), t.idle);
  }
  co_return keep;
}

}  // namespace hawser::http1
