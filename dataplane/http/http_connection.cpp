// The HTTP/1.1 connection loop and the request path, top-down. Each step is
// one call; how a step works lives in the file named after it.
#include "dataplane/http/http_connection.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/http.hpp>

#include "dataplane/http/request_head.h"
#include "dataplane/http/trace_headers.h"
#include "dataplane/inbound_tls.h"
#include "dataplane/sessions.h"
#include "dataplane/worker.h"
#include "telemetry/metrics.h"

// GCC 12 misreads a coroutine frame's sized delete as mismatched (as in
// message_io.cpp).
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"

namespace hawser {
namespace http1 {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;
constexpr auto tok = asio::as_tuple(asio::use_awaitable);

HttpConnection::HttpConnection(Worker& w, tcp::socket s, std::string key)
    : w_(w), down_(std::move(s)), guard_(w, down_.socket()), key_(std::move(key)) {
  boost::system::error_code ec;
  auto ep = down_.socket().remote_endpoint(ec);
  client_ip_ = ec ? "unknown" : ep.address().to_string();
}

const ListenerSpec* HttpConnection::listener() {
  if (snap_ != w_.snapshot()) {
    snap_ = w_.snapshot();
    observers_ = w_.observers();
    spec_ = snap_->findListener(key_);
  }
  return spec_;
}

asio::awaitable<void> HttpConnection::run() {
  const auto* spec = listener();
  if (!spec) co_return;
  auto accepted = co_await acceptInboundTls(w_, down_, buf_, *spec, guard_, snap_->config->limits.header_timeout);
  if (accepted.accepted) {
    peer_identity_ = std::move(accepted.peer_identity);
    if (spec->kind == ListenerSpec::Kind::inbound && !peer_identity_.empty()) {
      const auto& svc = snap_->config->node.service;
      peer_stats_ = &w_.metrics().requestStats("inbound", svc.empty() ? "local" : svc, peer_identity_);
    }
    // An exception escaping an exchange still waits for the read ahead to
    // end first: it refers to this connection's stream and buffer.
    std::exception_ptr failure;
    try {
      while (co_await serveOne()) {
      }
    } catch (...) {
      failure = std::current_exception();
    }
    co_await read_ahead_.stop(down_);
    if (failure) std::rethrow_exception(failure);
  }
  boost::system::error_code ignored;
  down_.socket().shutdown(tcp::socket::shutdown_send, ignored);
  down_.close();
}

// Whatever way an exchange ends, its completion runs once, here.
namespace {
struct Completion {
  HttpConnection* connection;
  Exchange& x;
  bool armed = true;
  void (HttpConnection::*complete)(Exchange&);
  ~Completion() {
    if (armed) (connection->*complete)(x);
  }
};
}  // namespace

// One exchange: the request path top-down. Returns whether the connection
// carries another request.
asio::awaitable<bool> HttpConnection::serveOne() {
  const auto* spec = listener();
  if (!spec) co_return false;
  auto ready = requestReadyNow();
  if (!ready) ready = co_await waitForRequest(*spec);
  if (!*ready) co_return false;

  Exchange x;
  x.direction = spec->kind == ListenerSpec::Kind::inbound ? Direction::inbound : Direction::outbound;
  x.listener = spec->name;
  x.peer = peer_identity_;
  x.client_address = client_ip_;
  x.scheme = down_.isTls() ? "https" : "http";
  // Counted in the listener's service until routing names another; the
  // http_proxy listener has none until then.
  x.stats = !spec->cluster ? unroutedStats() : peer_stats_ ? peer_stats_ : spec->cluster->stats[w_.id()];
  Completion done{this, x, true, &HttpConnection::complete};

  Request rq;
  boost::system::error_code ec;
  if (!headBuffered(rq, ec)) ec = co_await readRequestHead(rq);  // codec: the head, within its limits
  if (auto reply = decodeRequest(x, rq, ec)) {                   // codec: Host, framing
    if (x.reason == "closed") {                                  // the client left before a whole head: no exchange
      done.armed = false;
      co_return false;
    }
    co_await localReply(x, *reply, nullptr);
    co_return false;
  }
  if (snap_->config->tracing) startTrace(x, rq.head(), *snap_->config->tracing, w_.rng());
  observers_->requestHead(x, rq.head());

  if (auto reply = checkRequest(x, rq, *spec)) co_return co_await localReply(x, *reply, &rq);  // authz
  if (auto reply = admitListener(x, *spec)) co_return co_await localReply(x, *reply, &rq);     // rate limit
  if (rq.head().method() == http::verb::connect) {
    co_await connectTunnel(x, rq, *spec);
    co_return false;
  }
  RouteChoice rc;
  if (auto reply = route(x, rq, *spec, rc)) co_return co_await localReply(x, *reply, &rq);
  rewriteRequest(x, rq, *spec);  // hop-by-hop, identity and forwarding headers

  up_buf_.clear();
  UpstreamResponse ur{up_buf_};
  co_await upstreamRequest(x, rq, *spec, rc, ur);  // admission, attempts, response head
  if (ur.client_gone) co_return false;
  if (ur.reply) co_return co_await localReply(x, *ur.reply, &rq);
  co_return co_await forwardResponse(x, rq, ur, rc);
}

// Whether the next request's first bytes are here (true), the connection
// is done (false), or they are to be waited for (nullopt).
std::optional<bool> HttpConnection::requestReadyNow() {
  if (read_ahead_.started()) {  // the read began while the last exchange waited upstream
    if (read_ahead_.pending()) return std::nullopt;
    return !read_ahead_.take() && buf_.size() > 0;
  }
  if (buf_.size() > 0) return true;
  return std::nullopt;
}

// Waits for the first byte of the next request under the idle timeout.
// While draining, a request already on its way is still served (with
// Connection: close); only an idle connection ends here.
asio::awaitable<bool> HttpConnection::waitForRequest(const ListenerSpec& spec) {
  if (read_ahead_.pending()) {
    if (w_.draining()) co_return false;
    guard_.setIdle(true);
    const auto until = Clock::now() + spec.timeouts.idle;
    co_await read_ahead_.wait(std::min(until, Clock::now() + kReleaseBuffersAfter));
    if (!read_ahead_.pending()) {
      guard_.setIdle(false);
      co_return !read_ahead_.take() && buf_.size() > 0;
    }
    // Idle for a while: the pending read (and the buffer it reads into) gives
    // way to a wait for readability, and the connection's buffers go back.
    co_await read_ahead_.stop(down_);  // what it read before it ended stays in buf_
    if (buf_.size() > 0) {
      guard_.setIdle(false);
      co_return true;
    }
    if (!down_.tlsBuffered()) {
      releaseIdleBuffers();
      down_.expires_at(until);
      auto [wec] = co_await down_.async_wait_readable(tok);
      if (wec) {
        guard_.setIdle(false);
        co_return false;
      }
    }
    co_return co_await readRequestStart(until);
  }
  if (w_.draining() && !down_.socket().available()) co_return false;
  guard_.setIdle(true);
  co_return co_await readRequestStart(Clock::now() + spec.timeouts.idle);
}

// The first bytes of the next request, read by the idle wait itself.
asio::awaitable<bool> HttpConnection::readRequestStart(Clock::time_point until) {
  down_.expires_at(until);
  auto [ec, n] = co_await down_.async_read_some(buf_.prepare(kIdleRead), tok);
  guard_.setIdle(false);
  if (ec) co_return false;
  buf_.commit(n);
  co_return true;
}

void HttpConnection::releaseIdleBuffers() {
  if (up_buf_.size() == 0) up_buf_.shrink_to_fit();  // frees it
  if (buf_.size() == 0) buf_.shrink_to_fit();
  std::string().swap(head_);
  std::string().swap(out_);
  down_.releaseIdleBuffers();
}

// The codec: the head within its limits (what the buffer already holds,
// then reads under the head timeout), Host as RFC 9112 §3.2 requires, and
// the body's framing decided once (framing.h). A reply means the request
// is refused; x.reason "closed" means the client left mid-head.
bool HttpConnection::headBuffered(Request& rq, boost::system::error_code& ec) {
  return parseBufferedHead(buf_, rq.parser, snap_->config->limits.max_header_bytes, ec);
}

asio::awaitable<boost::system::error_code> HttpConnection::readRequestHead(Request& rq) {
  const auto& limits = snap_->config->limits;
  return readHead(down_, buf_, rq.parser, limits.max_header_bytes, Clock::now() + limits.header_timeout);
}

std::optional<LocalReply> HttpConnection::decodeRequest(Exchange& x, Request& rq, boost::system::error_code ec) {
  const auto& limits = snap_->config->limits;
  if (ec) {
    if (ec == http::error::end_of_stream || ec == asio::error::eof || ec == asio::error::connection_reset ||
        ec == asio::ssl::error::stream_truncated || ec == asio::error::operation_aborted) {
      x.reason = "closed";
      return LocalReply::bad_request;
    }
    if (ec == beast::error::timeout) return LocalReply::header_timeout;
    if (ec == http::error::header_limit) return LocalReply::header_too_large;
    return LocalReply::bad_request;
  }
  auto& req = rq.head();
  x.version = req.version();
  x.method = std::string(req.method_string());
  x.path = std::string(req.target());
  auto checked = checkRequestHead(req, limits);
  if (checked.reply) {
    x.reason = checked.detail;
    return checked.reply;
  }
  const auto& framing = checked.framing;
  rq.framing = framing;
  rq.body.reset(rq.framing, requestBodyLimits());
  if (rq.body.tooLarge()) return LocalReply::body_too_large;
  rq.keep_alive = rq.parser.keep_alive();
  return std::nullopt;
}

BodyLimits HttpConnection::requestBodyLimits() const {
  return http1::requestBodyLimits(snap_->config->limits);
}

BodyLimits HttpConnection::responseBodyLimits() const {
  BodyLimits b = requestBodyLimits();
  b.max_body_bytes = 0;
  return b;
}

bool HttpConnection::keepAliveAfterReply(const Request& rq) const {
  return rq.keep_alive && rq.bodyConsumed() && !w_.draining();
}

// Every response hawser makes itself. With `rq` null the request could not
// be read, and the connection closes. Returns whether it stays open.
asio::awaitable<bool> HttpConnection::localReply(Exchange& x, LocalReply r, const Request* rq) {
  const auto& i = info(r);
  x.reason = i.reason;
  if (i.malformed) w_.metrics().malformed(i.metric_label).Increment();
  w_.localReplyCounter(r).Increment();
  if (x.response_started) co_return false;  // too late for a status: the connection closes
  const bool keep = rq && !i.closes && keepAliveAfterReply(*rq);
  http::response<http::string_body> res{static_cast<http::status>(i.status), x.version >= 10 ? x.version : 11};
  res.set(http::field::content_type, "text/plain");
  res.set("x-hawser-reason", i.reason);
  if (!x.request_id.empty()) res.set("x-request-id", x.request_id);
  if (retry_after_) res.set(http::field::retry_after, std::to_string(retry_after_->count()));
  res.body() = std::string(i.reason) + "\n";
  res.keep_alive(keep);
  res.prepare_payload();
  down_.expires_after(std::chrono::seconds(5));
  auto [ec, n] = co_await http::async_write(down_, res, tok);
  retry_after_.reset();
  if (ec) {
    x.reason = "downstream-reset";  // the client never got it
    co_return false;
  }
  x.status = i.status;
  x.response_started = true;
  co_return keep;
}

void HttpConnection::complete(Exchange& x) {
  observers_->complete(x);
}

}  // namespace http1

boost::asio::awaitable<void> serveHttp(Worker& w, boost::asio::ip::tcp::socket s, std::string listener_key) {
  http1::HttpConnection c(w, std::move(s), std::move(listener_key));
  co_await c.run();
}

}  // namespace hawser
