// The upstream request: admission (outbound rate limit, circuit breaker),
// then attempts — pick an endpoint (another one than last time when there
// is one), connect, send, read the response head — until a response is
// worth forwarding or policy says stop.

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/http.hpp>

#include "dataplane/http/http_connection.h"
#include "dataplane/http/trace_headers.h"
#include "dataplane/http_headers.h"
#include "dataplane/inbound_tls.h"
#include "dataplane/worker.h"
#include "policy/backoff.h"
#include "policy/upstream_outcome.h"
#include "telemetry/log.h"
#include "telemetry/metrics.h"

namespace hawser::http1 {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;
constexpr auto tok = asio::as_tuple(asio::use_awaitable);

Admission& Admission::operator=(Admission&& o) noexcept {
  if (this != &o) {
    release();
    policy_ = std::exchange(o.policy_, nullptr);
    endpoint_ = std::move(o.endpoint_);
    o.endpoint_.reset();
    retrying_ = std::exchange(o.retrying_, false);
    budgeted_ = o.budgeted_;
  }
  return *this;
}

void Admission::setEndpoint(discovery::EndpointPtr e) {
  if (endpoint_) endpoint_->active_requests.fetch_sub(1, std::memory_order_relaxed);
  endpoint_ = std::move(e);
  if (endpoint_) endpoint_->active_requests.fetch_add(1, std::memory_order_relaxed);
}

void Admission::endRetry() {
  if (retrying_ && policy_) policy_->endRetry(budgeted_);
  retrying_ = false;
}

void Admission::release() {
  endRetry();
  setEndpoint(nullptr);
  if (policy_) policy_->finish();
  policy_ = nullptr;
}

namespace {
bool retriesResponses(const policy::RetryPolicy& retry) {
  return retry.attempts > 1 &&
         !(retry.retry_on.statuses().empty() && !retry.retry_on.has(policy::RetryConditions::server_error) &&
           !retry.retry_on.has(policy::RetryConditions::gateway_error) &&
           !retry.retry_on.has(policy::RetryConditions::reset));
}

LocalReply replyFor(const policy::UpstreamOutcome& outcome) {
  switch (outcome.failure) {
    case policy::UpstreamFailure::connect_failure: return LocalReply::upstream_connect_failure;
    case policy::UpstreamFailure::timeout: return LocalReply::upstream_timeout;
    default: return LocalReply::upstream_reset;
  }
}

std::string_view failureName(const policy::UpstreamOutcome& outcome) {
  if (outcome.isResponse()) return {};
  switch (outcome.failure) {
    case policy::UpstreamFailure::connect_failure: return "connect-failure";
    case policy::UpstreamFailure::timeout: return "timeout";
    default: return "reset";
  }
}
}  // namespace

struct HttpConnection::SendResult {
  policy::UpstreamOutcome outcome = policy::UpstreamOutcome::reset();
  bool reached = false;                   // request bytes were written
  std::optional<LocalReply> local_reply;  // the client side failed: nothing to retry
  std::optional<LocalReply> final_reply;  // the reply if this outcome is not retried
  bool client_gone = false;
};

asio::awaitable<void> HttpConnection::upstreamRequest(Exchange& x, Request& rq, const ListenerSpec& spec,
                                                      RouteChoice& rc, UpstreamResponse& ur) {
  auto& cluster = *rc.cluster;
  const auto& t = rc.timeouts;
  const auto& retry = *rc.retry;
  if (cluster.rate_limiter) {  // the outbound limit of this service
    if (auto wait = cluster.rate_limiter->admit(Clock::now())) {
      w_.metrics().rateLimited(cluster.name()).Increment();
      retry_after_ = *wait;
      ur.reply = LocalReply::rate_limited;
      co_return;
    }
  }
  // Circuit breaker admission: past a threshold, fail fast.
  auto& pol = *cluster.policy;
  auto& pstats = *cluster.policy_stats[w_.id()];
  if (auto overflow = pol.admit()) {
    pstats.overflow[static_cast<size_t>(*overflow)]->Increment();
    ur.reply = LocalReply::overflow;
    co_return;
  }
  ur.admission.admitted(pol);

  // A small body is read whole first, so a retry can send it again.
  if (rq.hasBody() && retriesResponses(retry) && rq.framing.kind == BodyKind::length &&
      rq.framing.length <= retry.max_buffered_body) {
    if (rq.expect_continue) {
      static constexpr std::string_view cont = "HTTP/1.1 100 Continue\r\n\r\n";
      if (co_await writeAll(down_, cont, t.idle, x.deadline)) {
        ur.client_gone = true;
        co_return;
      }
      rq.expect_continue = false;
    }
    rq.replay.reserve(static_cast<size_t>(rq.framing.length));
    BodyTap tap{observers_.get(), &x, BodyDirection::request};
    auto r = co_await readBody(down_, buf_, rq.body, rq.replay, {t.idle, x.deadline}, tap);
    if (!r.ok()) {
      ur.reply = r.too_large            ? LocalReply::body_too_large
                 : !r.malformed.empty() ? LocalReply::bad_request
                                        : LocalReply::upstream_reset;
      if (*ur.reply == LocalReply::upstream_reset) x.reason = "downstream-reset";
      co_return;
    }
    x.bytes_in = rq.replay.size();
    rq.buffered = true;
  }

  useUpstreamTls(rc.cluster);
  discovery::EndpointPtr previous;
  for (std::uint32_t attempt = 1;; ++attempt) {
    auto ep = rc.fixed ? rc.fixed : cluster.pick(w_.id(), previous.get(), rc.subset);
    if (!ep) {
      ur.reply = LocalReply::no_healthy_upstream;
      co_return;
    }
    previous = ep;
    x.upstream = ep->key;
    x.attempts = attempt;
    ur.admission.setEndpoint(ep);
    Attempt at;
    at.number = attempt;
    at.endpoint = ep->key;
    at.start = Clock::now();
    if (x.trace.active) injectTrace(x, rq.head(), *snap_->config->tracing, w_.rng());
    observers_->attemptStart(x, at, rq.head());
    // An attempt cut short still ends, for the observers (its span).
    auto abandon = [&](std::string_view why) {
      at.end = Clock::now();
      at.failure = why;
      observers_->attemptEnd(x, at);
    };

    policy::UpstreamOutcome outcome = policy::UpstreamOutcome::connectFailure();
    bool reached = false;
    std::optional<LocalReply> final_reply;
    const auto* tls = up_tls_ ? &*up_tls_ : nullptr;
    UpstreamPool::Result r;
    if (auto idle = w_.pool().reuse(ep, tls, t.idle)) {
      r.conn = std::move(idle);
    } else {
      r = co_await w_.pool().acquire(ep, tls, t.connect, t.idle, false, cluster.policy);
    }
    if (r.overflow) {  // the circuit breaker: fail fast, no retry
      pstats.overflow[static_cast<size_t>(*r.overflow)]->Increment();
      ur.reply = LocalReply::overflow;
      abandon("overflow");
      co_return;
    }
    if (!r.ec) {
      ur.conn = std::move(r.conn);
      auto sent = co_await sendAndReadHead(x, rq, ur, rc);
      if (sent.client_gone) {
        ur.client_gone = true;
        x.reason = "downstream-reset";
        abandon("downstream-reset");
        co_return;
      }
      if (sent.local_reply) {  // the client's body failed: nothing to retry
        ur.reply = sent.local_reply;
        abandon("request-body");
        co_return;
      }
      outcome = sent.outcome;
      reached = sent.reached;
      final_reply = sent.final_reply;
    }
    at.end = Clock::now();
    at.status = outcome.isResponse() ? static_cast<unsigned>(outcome.status) : 0;
    at.failure = failureName(outcome);
    observers_->attemptEnd(x, at);
    if (cluster.outlier && !rc.fixed) {
      if (auto ev = cluster.outlier->record(*ep, outcome, Clock::now())) {
        pstats.ejections->Increment();
        log::warn("endpoint ejected", {{"service", cluster.name()},
                                       {"endpoint", ep->key},
                                       {"reason", policy::ejectionReasonName(ev->reason)},
                                       {"times_ejected", ev->times_ejected},
                                       {"seconds", std::chrono::duration<double>(ev->duration).count()}});
      }
    }
    if (outcome.isResponse() && !retry.retry_on.matches(outcome)) break;
    // Replayable: no body, a buffered copy, or a streamed body not yet read.
    const bool body_replayable = !rq.hasBody() || rq.buffered || (!reached && x.bytes_in == 0);
    auto decision = policy::decideRetry(retry, outcome, {x.method, reached, false, body_replayable, attempt});
    if (decision.retry) {
      ur.admission.endRetry();
      // A connect failure sent nothing: trying another endpoint adds no load
      // upstream, so neither the budget nor max_retries applies to it.
      const bool connect_failure = outcome.failure == policy::UpstreamFailure::connect_failure;
      switch (pol.startRetry(Clock::now(), /*budgeted=*/!connect_failure)) {
        case ClusterPolicy::RetryAdmission::ok:
        case ClusterPolicy::RetryAdmission::ok_unbudgeted: ur.admission.retryStarted(!connect_failure); break;
        case ClusterPolicy::RetryAdmission::budget_exhausted:
          pstats.budget_exhausted->Increment();
          decision = policy::RetryDecision::stop(policy::StopReason::budget_exhausted);
          break;
        case ClusterPolicy::RetryAdmission::overflow:
          pstats.overflow[static_cast<size_t>(policy::Threshold::max_retries)]->Increment();
          decision = policy::RetryDecision::stop(policy::StopReason::budget_exhausted);
          break;
      }
    }
    if (!decision.retry) {
      if (outcome.isResponse()) break;  // the last response goes to the client
      ur.conn.reset();
      ur.reply = final_reply ? *final_reply : replyFor(outcome);
      co_return;
    }
    pstats.retries->Increment();
    ur.conn.reset();  // an unread response: the connection cannot be reused
    ur.parser.reset();
    ur.buf.clear();
    if (outcome.failure != policy::UpstreamFailure::connect_failure) {
      // A connect failure moves on to another endpoint at once; anything
      // that reached an upstream waits out a jittered backoff, never past
      // the request's deadline.
      auto delay = policy::backoffDelay(retry.backoff, attempt - 1, w_.rng());
      asio::steady_timer timer(down_.get_executor());
      timer.expires_at(std::min(Clock::now() + delay, x.deadline));
      co_await timer.async_wait(tok);
      if (Clock::now() >= x.deadline) {
        ur.reply = LocalReply::upstream_timeout;
        co_return;
      }
    }
  }
  countOutboundPeer(x, *ur.conn, cluster, spec);
  co_return;
}

void HttpConnection::countOutboundPeer(Exchange& x, const UpstreamConnection& up, const Cluster& c,
                                       const ListenerSpec& spec) {
  if (up.peer_identity.empty() || spec.kind == ListenerSpec::Kind::inbound) return;
  // Outbound series carry the identity the upstream proved.
  if (up.peer_identity != outbound_peer_) {
    outbound_peer_ = up.peer_identity;
    outbound_peer_stats_ = &w_.metrics().requestStats("outbound", c.name(), outbound_peer_);
  }
  x.stats = outbound_peer_stats_;
  x.upstream_peer = outbound_peer_;
}

// One attempt on a connected upstream: the head, the body (streamed once, or
// the buffered copy), then the response head; informational responses pass
// through to HTTP/1.1 clients. A pooled connection the upstream closed
// meanwhile is replaced once by a fresh one — after a failed write always
// (nothing was taken), after a failed read only when the request may be
// applied twice (idempotent, or the route allows it).
asio::awaitable<HttpConnection::SendResult> HttpConnection::sendAndReadHead(Exchange& x, Request& rq,
                                                                            UpstreamResponse& ur,
                                                                            const RouteChoice& rc) {
  SendResult out;
  const auto& t = rc.timeouts;
  const auto per_try = rc.retry->per_try_timeout;
  const bool streaming = rq.hasBody() && !rq.buffered;
  const bool idempotent = policy::isIdempotentMethod(x.method) || rc.retry->allow_non_idempotent;
  bool stale_retried = false;
  auto stale = [&](const boost::system::error_code& e) {
    return !streaming && ur.conn->reused && !stale_retried &&
           (e == asio::error::eof || e == asio::error::connection_reset || e == asio::error::broken_pipe ||
            e == asio::ssl::error::stream_truncated);
  };
  Framing out_framing = rq.framing;
  if (rq.buffered) {
    out_framing.kind = rq.replay.empty() ? BodyKind::none : BodyKind::length;
    out_framing.length = rq.replay.size();
  }
  for (;;) {
    auto& up = ur.conn;
    serializeHead(rq.head(), head_, false);
    // The last request a connection may carry says so; the upstream closes after it.
    if (rc.cluster->connectionSpent(++up->requests)) head_.append("Connection: close\r\n");
    appendFramingHeader(out_framing, head_);
    head_.append("\r\n");
    if (rq.buffered) head_.append(rq.replay);
    if (!streaming || rq.expect_continue) {
      expire(up->stream, t.idle, x.deadline);
      size_t taken = 0;
      boost::system::error_code wec;
      if (!up->stream.writeNow(head_, taken, wec) && !wec) wec = co_await finishWrite(up->stream, head_, taken);
      if (wec) {
        if (stale(wec)) {
          if (co_await reconnect(up, t)) {
            stale_retried = true;
            continue;
          }
          out.outcome = policy::UpstreamOutcome::connectFailure();  // the endpoint is gone
          co_return out;
        }
        out.reached = true;  // some of it may have been taken
        co_return out;
      }
    }
    out.reached = true;
    if (streaming) {
      if (rq.expect_continue) {
        static constexpr std::string_view cont = "HTTP/1.1 100 Continue\r\n\r\n";
        if (co_await writeAll(down_, cont, t.idle, x.deadline)) {
          out.client_gone = true;
          co_return out;
        }
      }
      BodyTap tap{observers_.get(), &x, BodyDirection::request};
      auto relay = co_await relayBody(down_, buf_, rq.body, up->stream, out_framing.kind,
                                      rq.expect_continue ? std::string_view() : std::string_view(head_),
                                      {t.idle, x.deadline}, tap, x.bytes_in, out_);
      if (!relay.ok()) {
        if (relay.on_read) {
          out.local_reply = relay.too_large                     ? LocalReply::body_too_large
                            : !relay.malformed.empty()          ? LocalReply::bad_request
                            : relay.ec == beast::error::timeout ? LocalReply::upstream_timeout
                                                                : LocalReply::upstream_reset;
          if (*out.local_reply == LocalReply::upstream_reset) x.reason = "downstream-reset";
          co_return out;
        }
        out.outcome =
            relay.ec == beast::error::timeout ? policy::UpstreamOutcome::timeout() : policy::UpstreamOutcome::reset();
        co_return out;
      }
    }

    // The response head, after any informational responses.
    auto head_timeout = t.request.count() ? t.request : t.idle;
    if (per_try.count() > 0) head_timeout = std::min(head_timeout, std::chrono::duration_cast<milliseconds>(per_try));
    const auto head_deadline = std::min(Clock::now() + head_timeout, x.deadline);
    boost::system::error_code rec;
    for (unsigned informational = 0;;) {
      ur.parser.emplace();
      // The client's next read watches it while the upstream answers (not
      // when it already sent more, or will speak another protocol).
      if (!read_ahead_.started() && buf_.size() == 0 && rq.bodyConsumed() && !rq.upgrade) {
        read_ahead_.start(down_, buf_);
      }
      if (read_ahead_.gone()) {
        out.client_gone = true;
        co_return out;
      }
      read_ahead_.cancelOnGone(&up->stream.socket());
      rec = co_await takePending(*up, ur.buf, head_deadline);  // a reused connection's first bytes
      if (!rec) rec = co_await readHead(up->stream, ur.buf, *ur.parser, kMaxResponseHead, head_deadline);
      read_ahead_.cancelOnGone(nullptr);
      if (rec && read_ahead_.gone()) {
        out.client_gone = true;  // the client left: the upstream connection is abandoned
        co_return out;
      }
      if (rec) break;
      auto& res = ur.parser->get();
      const unsigned status = res.result_int();
      if (status >= 200 || status == 101) break;
      if (++informational > kMaxInformational) {
        log::warn("upstream sent too many informational responses", {{"endpoint", up->endpoint->key}});
        out.final_reply = LocalReply::bad_gateway;
        co_return out;
      }
      // 100 Continue was hawser's to send (it took Expect off the request);
      // other 1xx go to clients that speak HTTP/1.1, and never to 1.0 ones.
      if (status == 100 || x.version < 11) continue;
      auto& head = res.base();
      removeHopByHop(head, false);
      stripFraming(head);
      head.version(11);
      serializeHead(head, head_);
      if (co_await writeAll(down_, head_, t.idle, x.deadline)) {
        out.client_gone = true;
        co_return out;
      }
    }
    if (!rec) {
      auto& res = ur.parser->get();
      const unsigned status = res.result_int();
      if (status == 101 && !rq.upgrade) {
        log::warn("upstream switched protocols unasked", {{"endpoint", up->endpoint->key}});
        out.final_reply = LocalReply::bad_gateway;
        co_return out;
      }
      auto framing = responseFraming(res, status, rq.head().method() == http::verb::head);
      if (!framing.ok()) {
        log::warn("upstream response refused", {{"endpoint", up->endpoint->key}, {"reason", framing.error}});
        out.final_reply = LocalReply::bad_gateway;
        co_return out;
      }
      ur.framing = framing.framing;
      out.outcome = policy::UpstreamOutcome::response(static_cast<int>(status));
      co_return out;
    }
    if (stale(rec) && ur.buf.size() == 0 && idempotent) {
      if (co_await reconnect(up, t)) {
        stale_retried = true;
        continue;
      }
      out.outcome = policy::UpstreamOutcome::connectFailure();  // the endpoint is gone
      out.reached = false;
      co_return out;
    }
    // TLS 1.3: the server checks our certificate after our side of the
    // handshake is done, so its refusal arrives as an alert on the first
    // read. The connection never carried a request: a connect failure.
    if (up->stream.isTls() && !up->reused && ur.buf.size() == 0 && rec.category() == asio::error::get_ssl_category()) {
      w_.metrics().tlsHandshakeError(tlsFailureReason(up->stream.ssl(), rec)).Increment();
      out.outcome = policy::UpstreamOutcome::connectFailure();
      out.reached = false;
      co_return out;
    }
    if (rec != beast::error::timeout && rec.category() == http::make_error_code(http::error::bad_version).category()) {
      out.final_reply = LocalReply::bad_gateway;  // a head no parser should accept
    }
    out.outcome = rec == beast::error::timeout ? policy::UpstreamOutcome::timeout() : policy::UpstreamOutcome::reset();
    co_return out;
  }
}

// The TLS settings for the cluster's upstreams, kept while the cluster and
// the worker's TLS material stay the ones they were made from.
void HttpConnection::useUpstreamTls(const std::shared_ptr<Cluster>& c) {
  if (up_tls_cluster_ == c && up_tls_state_ == w_.tls()) return;
  up_tls_cluster_ = c;
  up_tls_state_ = w_.tls();
  up_tls_ = upstreamTls(w_, *c);
}

// Replaces `up` with a fresh connection to the same endpoint.
asio::awaitable<bool> HttpConnection::reconnect(std::unique_ptr<UpstreamConnection>& up, const config::Timeouts& t) {
  auto endpoint = up->endpoint;
  auto limits = up->limits;
  up.reset();  // gives back its max_connections slot first
  auto r =
      co_await w_.pool().acquire(endpoint, up_tls_ ? &*up_tls_ : nullptr, t.connect, t.idle, /*fresh=*/true, limits);
  if (r.ec) co_return false;
  up = std::move(r.conn);
  co_return true;
}

}  // namespace hawser::http1
