// One coroutine per downstream HTTP/1.1 connection. The whole path reads
// top-down: read the request head, route, pick an endpoint, forward the head,
// stream the body, stream the response back, log and count.
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/http.hpp>

#include <boost/asio/steady_timer.hpp>

#include <charconv>
#include <optional>
#include <random>

#include "dataplane/connection_guard.h"
#include "dataplane/http_headers.h"
#include "dataplane/inbound_tls.h"
#include "dataplane/local_reply.h"
#include "dataplane/sessions.h"
#include "dataplane/tls/handshake_failure.h"
#include "dataplane/tls/identity.h"
#include "dataplane/worker.h"
#include "policy/backoff.h"
#include "policy/random.h"
#include "policy/retry_policy.h"
#include "policy/route_split.h"
#include "policy/upstream_outcome.h"
#include "telemetry/access_log.h"
#include "telemetry/log.h"
#include "telemetry/metrics.h"

namespace hawser {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;
constexpr auto tok = asio::as_tuple(asio::use_awaitable);

namespace {

constexpr size_t kChunk = 64 * 1024;
// Pins a route's subset by name (policy/route_split.h), e.g. to try a canary.
constexpr std::string_view kSubsetHeader = policy::kSubsetOverrideHeader;

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}

bool isParseError(const boost::system::error_code& ec) {
  return ec.category() == http::make_error_code(http::error::bad_version).category() &&
         ec != http::error::end_of_stream && ec != http::error::need_buffer;
}

// Where one request goes.
struct Route {
  std::shared_ptr<Cluster> cluster;
  discovery::EndpointPtr fixed;  // passthrough destination
  std::string authority;
};

// Splits "host[:port]" (with [v6] support). Port 0 when absent.
bool splitAuthority(std::string_view auth, std::string& host, uint16_t& port) {
  port = 0;
  if (auth.empty()) return false;
  if (auth.front() == '[') {
    auto close = auth.find(']');
    if (close == std::string_view::npos) return false;
    host = std::string(auth.substr(1, close - 1));
    auth.remove_prefix(close + 1);
    if (auth.empty()) return true;
    if (auth.front() != ':') return false;
    auth.remove_prefix(1);
  } else {
    auto colon = auth.rfind(':');
    host = std::string(auth.substr(0, colon));
    if (colon == std::string_view::npos) return !host.empty();
    auth.remove_prefix(colon + 1);
  }
  unsigned p = 0;
  auto [end, ec] = std::from_chars(auth.data(), auth.data() + auth.size(), p);
  if (ec != std::errc() || end != auth.data() + auth.size() || p == 0 || p > 65535) return false;
  port = static_cast<uint16_t>(p);
  return !host.empty();
}

class HttpSession {
 public:
  HttpSession(Worker& w, tcp::socket s, std::string key)
      : w_(w), down_(beast::tcp_stream(std::move(s))), guard_(w, down_.socket()), key_(std::move(key)) {
    boost::system::error_code ec;
    auto ep = down_.socket().remote_endpoint(ec);
    client_ip_ = ec ? "unknown" : ep.address().to_string();
  }

  asio::awaitable<void> run() {
    const auto* spec = listener();
    if (!spec) co_return;
    auto accepted = co_await acceptInboundTls(w_, down_, buf_, *spec, guard_, snap_->config->limits.header_timeout);
    if (accepted.accepted) {
      peer_identity_ = std::move(accepted.peer_identity);
      if (spec->kind == ListenerSpec::Kind::inbound && !peer_identity_.empty()) {
        const auto& svc = snap_->config->node.service;
        peer_stats_ = &w_.metrics().requestStats("inbound", svc.empty() ? "local" : svc, peer_identity_);
      }
      while (co_await handleOne()) {
      }
    }
    boost::system::error_code ignored;
    down_.socket().shutdown(tcp::socket::shutdown_send, ignored);
    down_.tcp().close();
  }

 private:
  // Per-request state, reset for each request on the connection.
  struct Exchange {
    Clock::time_point start;
    Clock::time_point deadline = Clock::time_point::max();
    std::string request_id;
    std::string method;
    std::string authority;
    std::string path;
    std::string upstream;
    std::string_view reason;
    unsigned status = 0;
    unsigned version = 11;
    uint64_t bytes_in = 0;
    uint64_t bytes_out = 0;
    telemetry::RequestStats* stats = nullptr;
    bool response_started = false;
  };

  const ListenerSpec* listener() {
    if (snap_ != w_.snapshot()) {
      snap_ = w_.snapshot();
      spec_ = snap_->findListener(key_);
    }
    return spec_;
  }

  void expire(AnyStream& s, milliseconds op_timeout, const Exchange& x) {
    auto t = Clock::now() + op_timeout;
    s.tcp().expires_at(std::min(t, x.deadline));
  }

  // Returns whether the connection may carry another request.
  asio::awaitable<bool> handleOne() {
    const auto* spec = listener();
    // While draining, a request already on its way is still served (with
    // Connection: close); only an idle connection ends here.
    if (!spec || (w_.draining() && buf_.size() == 0 && !down_.socket().available())) co_return false;
    const auto& limits = snap_->config->limits;

    // Wait for the first byte of the next request under the idle timeout,
    // then give the whole head `header_timeout` (slowloris protection).
    if (buf_.size() == 0) {
      guard_.setIdle(true);
      down_.tcp().expires_after(spec->timeouts.idle);
      auto [ec, n] = co_await down_.async_read_some(buf_.prepare(8192), tok);
      guard_.setIdle(false);
      if (ec) co_return false;
      buf_.commit(n);
    }
    Exchange x;
    x.start = Clock::now();

    http::request_parser<http::buffer_body> parser;
    parser.header_limit(static_cast<std::uint32_t>(std::min<uint64_t>(limits.max_header_bytes, UINT32_MAX)));
    if (limits.max_request_body_bytes)
      parser.body_limit(limits.max_request_body_bytes);
    else
      parser.body_limit(boost::none);

    // The head usually arrives whole in one read: parse it from the buffer
    // without another asynchronous operation; else read the rest of it.
    boost::system::error_code hec;
    buf_.consume(parser.put(buf_.data(), hec));
    if (hec == http::error::need_more || (!hec && !parser.is_header_done())) {
      down_.tcp().expires_after(limits.header_timeout);
      auto [rec, rn] = co_await http::async_read_header(down_, buf_, parser, tok);
      hec = rec;
    }
    if (hec) {
      if (hec == http::error::end_of_stream || hec == asio::error::eof || hec == asio::error::connection_reset) {
        co_return false;
      }
      LocalReply r = LocalReply::bad_request;
      if (hec == beast::error::timeout)
        r = LocalReply::header_timeout;
      else if (hec == http::error::header_limit)
        r = LocalReply::header_too_large;
      else if (hec == http::error::body_limit)
        r = LocalReply::body_too_large;
      x.status = info(r).status;
      co_await localReply(x, r, false);
      finish(x, spec);
      co_return false;
    }
    auto& req = parser.get();
    x.version = req.version();
    x.method = std::string(req.method_string());
    x.path = std::string(req.target());
    bool client_keep_alive = parser.keep_alive();
    const bool has_body = !parser.is_done();
    if (spec->cluster) x.stats = peer_stats_ ? peer_stats_ : spec->cluster->stats[w_.id()];
    if (spec->rate_limiter) {
      if (auto wait = spec->rate_limiter->admit(Clock::now(), peer_identity_)) {
        w_.metrics().rateLimited(spec->name).Increment();
        retry_after_ = *wait;
        co_await localReply(x, LocalReply::rate_limited, client_keep_alive && !has_body);
        retry_after_.reset();
        finish(x, spec);
        co_return client_keep_alive && !has_body && !w_.draining();
      }
    }
    if (spec->kind == ListenerSpec::Kind::inbound) {
      // Only hawser vouches for a client certificate: never trust one from the network.
      req.erase("x-forwarded-client-cert");
      if (!spec->allow.empty() && !tls::identityAllowed(spec->allow, peer_identity_)) {
        co_await localReply(x, LocalReply::unauthorized, client_keep_alive && !has_body);
        finish(x, spec);
        co_return client_keep_alive && !has_body && !w_.draining();
      }
      if (!peer_identity_.empty()) {
        const auto* own = w_.tls() ? &w_.tls()->identity : nullptr;
        req.set("x-forwarded-client-cert",
                (own && !own->empty() ? "By=" + *own + ";" : std::string()) + "URI=" + peer_identity_);
      }
    }

    // Beast enforces header_limit only while the head is incomplete; a whole
    // head arriving in one read is measured here.
    size_t count = 0;
    size_t head_bytes = req.method_string().size() + req.target().size() + 12;
    for (const auto& f : req) {
      ++count;
      head_bytes += f.name_string().size() + f.value().size() + 4;
    }
    if (head_bytes > limits.max_header_bytes) {
      co_await localReply(x, LocalReply::header_too_large, false);
      finish(x, spec);
      co_return false;
    }
    if (count > limits.max_headers) {
      co_await localReply(x, LocalReply::too_many_headers, false);
      finish(x, spec);
      co_return false;
    }

    if (spec->kind == ListenerSpec::Kind::http_proxy && req.method() == http::verb::connect) {
      co_await tunnel(x, req.target(), spec);
      co_return false;
    }

    Route route;
    if (!routeRequest(req, spec, route)) {
      co_await localReply(x, LocalReply::not_found, client_keep_alive && !has_body);
      finish(x, spec);
      co_return client_keep_alive && !has_body;
    }
    x.authority = route.authority;
    x.path = std::string(req.target());  // origin-form, after an absolute-form rewrite
    auto cluster = route.cluster;
    if (spec->kind != ListenerSpec::Kind::inbound || !peer_stats_) x.stats = cluster->stats[w_.id()];
    if (cluster->rate_limiter) {  // the outbound limit of this service
      if (auto wait = cluster->rate_limiter->admit(Clock::now())) {
        w_.metrics().rateLimited(cluster->name()).Increment();
        retry_after_ = *wait;
        co_await localReply(x, LocalReply::rate_limited, client_keep_alive && !has_body);
        retry_after_.reset();
        finish(x, spec);
        co_return client_keep_alive && !has_body && !w_.draining();
      }
    }
    // The service's routes: the first match may send the request to a subset
    // of the endpoints and override retries and timeouts.
    const ClusterRoute* croute = route.fixed ? nullptr : cluster->matchRoute(req);
    std::optional<size_t> subset;
    if (croute) {
      auto pin = req.find(kSubsetHeader);
      subset = cluster->chooseSubset(w_.id(), *croute,
                                     pin == req.end() ? std::string_view() : std::string_view(pin->value()));
    }
    const config::Timeouts t = croute && croute->timeouts ? *croute->timeouts : cluster->timeouts();
    if (t.request.count() > 0) x.deadline = x.start + t.request;

    // Rewrite the head for the upstream.
    const bool upgrade = isUpgradeRequest(req);
    bool expect_continue = false;
    if (auto e = req.find(http::field::expect); e != req.end() && iequals(e->value(), "100-continue")) {
      expect_continue = true;
      req.erase(http::field::expect);
    }
    removeHopByHop(req, upgrade);
    if (upgrade) req.set(http::field::connection, "upgrade");
    x.request_id = applyForwardingHeaders(req, client_ip_, down_.isTls() ? "https" : "http");
    req.version(11);

    // Circuit breaker admission: past a threshold, fail fast.
    auto& pol = *cluster->policy;
    auto& pstats = *cluster->policy_stats[w_.id()];
    if (auto overflow = pol.admit()) {
      pstats.overflow[static_cast<size_t>(*overflow)]->Increment();
      co_await localReply(x, LocalReply::overflow, client_keep_alive && !has_body);
      finish(x, spec);
      co_return client_keep_alive && !has_body && !w_.draining();
    }
    struct Admitted {
      ClusterPolicy& p;
      ~Admitted() { p.finish(); }
    } admitted{pol};
    const auto& retry = croute && croute->retry ? *croute->retry : pol.retry();

    // A small body is read whole first, so a retry can send it again.
    std::string replay;
    bool buffered = false;
    const bool retries_responses =
        retry.attempts > 1 &&
        !(retry.retry_on.statuses().empty() && !retry.retry_on.has(policy::RetryConditions::server_error) &&
          !retry.retry_on.has(policy::RetryConditions::gateway_error) &&
          !retry.retry_on.has(policy::RetryConditions::reset));
    if (has_body && retries_responses && parser.content_length() &&
        *parser.content_length() <= retry.max_buffered_body) {
      if (expect_continue) {
        static constexpr std::string_view cont = "HTTP/1.1 100 Continue\r\n\r\n";
        expire(down_, t.idle, x);
        auto [cec, cn] = co_await asio::async_write(down_, asio::buffer(cont), tok);
        if (cec) co_return false;
        expect_continue = false;
      }
      replay.reserve(static_cast<size_t>(*parser.content_length()));
      // The session's chunk buffer, not an array in this coroutine's frame: a
      // frame that large is a heap allocation per request.
      char* chunk = chunkBuffer();
      while (!parser.is_done()) {
        req.body().data = chunk;
        req.body().size = kChunk;
        expire(down_, t.idle, x);
        auto [rec, rn] = co_await http::async_read_some(down_, buf_, parser, tok);
        if (rec == http::error::need_buffer) rec = {};
        if (rec) {
          co_await localReply(x, isParseError(rec) ? LocalReply::bad_request : LocalReply::upstream_reset, false);
          finish(x, spec);
          co_return false;
        }
        replay.append(chunk, kChunk - req.body().size);
      }
      x.bytes_in = replay.size();
      buffered = true;
    }

    // Attempts: pick an endpoint (another one than last time when there is
    // one), connect, send, read the response head; policy decides whether an
    // outcome is tried again.
    std::unique_ptr<UpstreamConnection> up;
    std::optional<http::response_parser<http::buffer_body>> rp;
    struct Active {  // the endpoint's active requests, for least_request
      discovery::Endpoint& e;
      explicit Active(discovery::Endpoint& ep) : e(ep) { e.active_requests.fetch_add(1, std::memory_order_relaxed); }
      ~Active() { e.active_requests.fetch_sub(1, std::memory_order_relaxed); }
      Active(const Active&) = delete;
      Active& operator=(const Active&) = delete;
    };
    std::optional<Active> active;
    beast::flat_buffer up_buf;
    discovery::EndpointPtr previous;
    up_tls_ = upstreamTls(w_, *cluster);
    bool retry_running = false;
    bool retry_budgeted = false;
    struct RetryEnd {
      ClusterPolicy& p;
      bool& running;
      bool& budgeted;
      ~RetryEnd() {
        if (running) p.endRetry(budgeted);
      }
    } retry_end{pol, retry_running, retry_budgeted};
    for (std::uint32_t attempt = 1;; ++attempt) {
      auto ep = route.fixed ? route.fixed : cluster->pick(w_.id(), previous.get(), subset);
      if (!ep) {
        co_await localReply(x, LocalReply::no_healthy_upstream, client_keep_alive && !has_body);
        finish(x, spec);
        co_return client_keep_alive && !has_body && !w_.draining();
      }
      previous = ep;
      x.upstream = ep->key;
      active.emplace(*ep);
      policy::UpstreamOutcome outcome = policy::UpstreamOutcome::connectFailure();
      bool reached = false;
      auto r = co_await w_.pool().acquire(ep, up_tls_ ? &*up_tls_ : nullptr, t.connect, t.idle, false, cluster->policy,
                                          /*replayable=*/!has_body || buffered);
      if (r.overflow) {  // the circuit breaker: fail fast, no retry
        pstats.overflow[static_cast<size_t>(*r.overflow)]->Increment();
        co_await localReply(x, LocalReply::overflow, client_keep_alive && !has_body);
        finish(x, spec);
        co_return client_keep_alive && !has_body && !w_.draining();
      }
      if (!r.ec) {
        up = std::move(r.conn);
        auto sent = co_await sendAndReadHead(x, req, parser, has_body, buffered, replay, expect_continue, up, rp,
                                             up_buf, t, retry.per_try_timeout);
        if (sent.client_gone) co_return false;
        if (sent.local_reply) {  // the client's body failed: nothing to retry
          if (x.reason.empty()) co_await localReply(x, *sent.local_reply, false);
          finish(x, spec);
          co_return false;
        }
        outcome = sent.outcome;
        reached = sent.reached;
      }
      if (cluster->outlier && !route.fixed) {
        if (auto ev = cluster->outlier->record(*ep, outcome, Clock::now())) {
          pstats.ejections->Increment();
          log::warn("endpoint ejected", {{"service", cluster->name()},
                                         {"endpoint", ep->key},
                                         {"reason", policy::ejectionReasonName(ev->reason)},
                                         {"times_ejected", ev->times_ejected},
                                         {"seconds", std::chrono::duration<double>(ev->duration).count()}});
        }
      }
      if (outcome.isResponse() && !retry.retry_on.matches(outcome)) break;
      const bool body_untouched = !has_body || buffered || x.bytes_in == 0;
      // Replayable: no body, a buffered copy, or a streamed body not yet read.
      const bool replayable = !has_body || buffered || (!reached && x.bytes_in == 0);
      auto decision = policy::decideRetry(retry, outcome, {x.method, reached, false, replayable, attempt});
      if (decision.retry) {
        if (retry_running) {
          pol.endRetry(retry_budgeted);
          retry_running = false;
        }
        // A connect failure sent nothing: trying another endpoint adds no load
        // upstream, so neither the budget nor max_retries applies to it.
        const bool connect_failure = outcome.failure == policy::UpstreamFailure::connect_failure;
        switch (pol.startRetry(Clock::now(), /*budgeted=*/!connect_failure)) {
          case ClusterPolicy::RetryAdmission::ok:
          case ClusterPolicy::RetryAdmission::ok_unbudgeted:
            retry_running = true;
            retry_budgeted = !connect_failure;
            break;
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
        LocalReply reply = outcome.failure == policy::UpstreamFailure::connect_failure
                               ? LocalReply::upstream_connect_failure
                           : outcome.failure == policy::UpstreamFailure::timeout ? LocalReply::upstream_timeout
                                                                                 : LocalReply::upstream_reset;
        bool keep = client_keep_alive && body_untouched && !has_body;
        co_await localReply(x, reply, keep);
        finish(x, spec);
        co_return keep && !w_.draining();
      }
      pstats.retries->Increment();
      up.reset();  // an unread response: the connection cannot be reused
      rp.reset();
      up_buf.clear();
      if (outcome.failure != policy::UpstreamFailure::connect_failure) {
        // A connect failure moves on to another endpoint at once; anything
        // that reached an upstream waits out a jittered backoff first.
        auto delay = policy::backoffDelay(retry.backoff, attempt - 1, rng_);
        asio::steady_timer timer(down_.get_executor(), delay);
        co_await timer.async_wait(tok);
      }
    }
    if (!up->peer_identity.empty() && spec->kind != ListenerSpec::Kind::inbound) {
      // Outbound series carry the identity the upstream proved.
      if (up->peer_identity != outbound_peer_) {
        outbound_peer_ = up->peer_identity;
        outbound_peer_stats_ = &w_.metrics().requestStats("outbound", cluster->name(), outbound_peer_);
      }
      x.stats = outbound_peer_stats_;
    }
    auto& res = rp->get();
    x.status = res.result_int();
    x.response_started = true;

    if (x.status == 101 && upgrade) {
      expire(down_, t.idle, x);
      http::response<http::empty_body> head{res.result(), x.version};
      for (const auto& f : res) head.insert(f.name_string(), f.value());
      auto [uec, un] = co_await http::async_write(down_, head, tok);
      if (!uec) {
        auto [a, b] = co_await splice(down_, up->stream, buf_, up_buf, t.idle);
        x.bytes_in += a;
        x.bytes_out += b;
      }
      finish(x, spec);
      co_return false;
    }

    const bool upstream_keep_alive = rp->keep_alive();
    removeHopByHop(res, false);
    bool keep = client_keep_alive && !w_.draining();
    res.version(x.version);
    if (x.version < 11 && res.chunked()) {
      res.chunked(false);  // HTTP/1.0 clients get a close-delimited body
      keep = false;
    }
    res.keep_alive(keep);
    // The head goes out in one write with the body bytes that arrived with it
    // (one send, one TLS record for a small response); the rest is relayed.
    const size_t first = takeBufferedBody(*rp, up_buf);
    x.bytes_out += first;
    expire(down_, t.idle, x);
    boost::system::error_code body_ec;
    if (rp->is_done() && !res.chunked()) {  // the whole response is here: one plain buffer
      serializeHead(res, head_);
      head_.append(static_cast<const char*>(res.body().data ? res.body().data : ""), first);
      auto [wec, wn] = co_await asio::async_write(down_, asio::buffer(head_), tok);
      body_ec = wec;
    } else {
      http::serializer<false, http::buffer_body> res_sr{res};
      auto [hwec, hwn] = co_await http::async_write(down_, res_sr, tok);
      body_ec = hwec == http::error::need_buffer ? boost::system::error_code() : hwec;
      if (!body_ec) body_ec = (co_await relayBody(*rp, res_sr, up->stream, up_buf, down_, t.idle, x, x.bytes_out)).ec;
    }
    if (body_ec) x.reason = body_ec == beast::error::timeout ? "upstream-timeout" : "stream-reset";
    finish(x, spec);
    if (!body_ec && upstream_keep_alive && up_buf.size() == 0) w_.pool().release(std::move(up), t.idle);
    co_return keep && !body_ec;
  }

  struct SendResult {
    policy::UpstreamOutcome outcome = policy::UpstreamOutcome::reset();
    bool reached = false;                   // request bytes were written
    std::optional<LocalReply> local_reply;  // the client side failed
    bool client_gone = false;
  };

  // One attempt on a connected upstream: the head, the body (streamed once, or
  // the buffered copy), then the response head; 1xx responses pass through.
  // A pooled connection the upstream closed meanwhile is replaced once by a
  // fresh one when no body byte was consumed.
  asio::awaitable<SendResult> sendAndReadHead(Exchange& x, http::request<http::buffer_body>& req,
                                              http::request_parser<http::buffer_body>& parser, bool has_body,
                                              bool buffered, std::string& replay, bool expect_continue,
                                              std::unique_ptr<UpstreamConnection>& up,
                                              std::optional<http::response_parser<http::buffer_body>>& rp,
                                              beast::flat_buffer& up_buf, const config::Timeouts& t,
                                              policy::Duration per_try) {
    SendResult out;
    bool stale_retried = false;
    const bool streaming = has_body && !buffered;
    auto staleRetry = [&](const boost::system::error_code& e) {
      return !streaming && up->reused && !stale_retried &&
             (e == asio::error::eof || e == asio::error::connection_reset || e == asio::error::broken_pipe ||
              e == http::error::end_of_stream || e == asio::ssl::error::stream_truncated);
    };
    std::optional<http::serializer<true, http::buffer_body>> req_sr;
    for (;;) {
      if (buffered) {
        req.body().data = replay.empty() ? nullptr : replay.data();
        req.body().size = replay.size();
        req.body().more = false;
      } else if (!has_body) {
        req.body().data = nullptr;
        req.body().size = 0;
        req.body().more = false;
      }
      expire(up->stream, t.idle, x);
      boost::system::error_code wec;
      size_t wn = 0;
      if (streaming || req.chunked()) {
        req_sr.emplace(req);
        std::tie(wec, wn) = streaming ? co_await http::async_write_header(up->stream, *req_sr, tok)
                                      : co_await http::async_write(up->stream, *req_sr, tok);
      } else {  // the head and any buffered body in one plain buffer
        serializeHead(req, head_);
        head_.append(replay.data(), buffered ? replay.size() : 0);
        std::tie(wec, wn) = co_await asio::async_write(up->stream, asio::buffer(head_), tok);
      }
      if (wec) {
        if (staleRetry(wec)) {
          if (co_await reconnect(up, t)) {
            stale_retried = true;
            continue;
          }
          out.outcome = policy::UpstreamOutcome::connectFailure();  // the endpoint is gone
          co_return out;
        }
        out.reached = wn > 0;
        co_return out;
      }
      out.reached = true;
      if (streaming) {
        if (expect_continue) {
          static constexpr std::string_view cont = "HTTP/1.1 100 Continue\r\n\r\n";
          expire(down_, t.idle, x);
          auto [cec, cn] = co_await asio::async_write(down_, asio::buffer(cont), tok);
          if (cec) {
            out.client_gone = true;
            co_return out;
          }
        }
        auto relay = co_await relayBody(parser, *req_sr, down_, buf_, up->stream, t.idle, x, x.bytes_in);
        if (relay.ec) {
          if (relay.on_read) {
            out.local_reply = relay.ec == http::error::body_limit ? LocalReply::body_too_large
                              : relay.ec == beast::error::timeout ? LocalReply::upstream_timeout
                              : isParseError(relay.ec)            ? LocalReply::bad_request
                                                                  : LocalReply::upstream_reset;
            if (*out.local_reply == LocalReply::upstream_reset) x.reason = "downstream-reset";
            co_return out;
          }
          out.outcome =
              relay.ec == beast::error::timeout ? policy::UpstreamOutcome::timeout() : policy::UpstreamOutcome::reset();
          co_return out;
        }
      }
      boost::system::error_code rec;
      for (;;) {
        rp.emplace();
        rp->body_limit(boost::none);
        rp->header_limit(256 * 1024);
        if (req.method() == http::verb::head) rp->skip(true);
        auto head_timeout = t.request.count() ? t.request : t.idle;
        if (per_try.count() > 0) {
          head_timeout = std::min(head_timeout, std::chrono::duration_cast<milliseconds>(per_try));
        }
        expire(up->stream, head_timeout, x);
        auto [e, rn] = co_await http::async_read_header(up->stream, up_buf, *rp, tok);
        rec = e;
        if (rec) break;
        auto status = rp->get().result_int();
        if (status < 100 || status >= 200 || status == 101) break;
        http::response<http::empty_body> info_res{rp->get().result(), x.version};
        for (const auto& f : rp->get()) info_res.insert(f.name_string(), f.value());
        expire(down_, t.idle, x);
        auto [iec, in] = co_await http::async_write(down_, info_res, tok);
        if (iec) {
          out.client_gone = true;
          co_return out;
        }
      }
      if (!rec) {
        out.outcome = policy::UpstreamOutcome::response(static_cast<int>(rp->get().result_int()));
        co_return out;
      }
      if (staleRetry(rec) && up_buf.size() == 0) {
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
      if (up->stream.isTls() && !up->reused && up_buf.size() == 0 &&
          rec.category() == asio::error::get_ssl_category()) {
        w_.metrics().tlsHandshakeError(tlsFailureReason(up->stream.tls()->native_handle(), rec)).Increment();
        out.outcome = policy::UpstreamOutcome::connectFailure();
        out.reached = false;
        co_return out;
      }
      out.outcome =
          rec == beast::error::timeout ? policy::UpstreamOutcome::timeout() : policy::UpstreamOutcome::reset();
      co_return out;
    }
  }

  // Replaces `up` with a fresh connection to the same endpoint.
  asio::awaitable<bool> reconnect(std::unique_ptr<UpstreamConnection>& up, const config::Timeouts& t) {
    auto endpoint = up->endpoint;
    auto limits = up->limits;
    up.reset();  // gives back its max_connections slot first
    auto r =
        co_await w_.pool().acquire(endpoint, up_tls_ ? &*up_tls_ : nullptr, t.connect, t.idle, /*fresh=*/true, limits);
    if (r.ec) co_return false;
    up = std::move(r.conn);
    co_return true;
  }

  // The session's body buffer (kChunk bytes), made on first use.
  char* chunkBuffer() {
    if (!chunk_) chunk_ = std::make_unique<char[]>(kChunk);
    return chunk_.get();
  }

  // Parses body bytes already in `buf` (no I/O) into the chunk buffer and
  // points the message body at them; returns how many.
  template <bool isRequest>
  size_t takeBufferedBody(http::parser<isRequest, http::buffer_body>& p, beast::flat_buffer& buf) {
    auto& body = p.get().body();
    size_t got = 0;
    if (!p.is_done() && buf.size() > 0) {
      body.data = chunkBuffer();
      body.size = kChunk;
      boost::system::error_code ec;
      while (!p.is_done() && buf.size() > 0 && body.size > 0) {
        const size_t used = p.put(buf.data(), ec);
        buf.consume(used);
        if (ec || used == 0) break;  // need more input, a full chunk buffer, or an error relayBody meets again
      }
      got = kChunk - body.size;
    }
    body.data = got ? chunk_.get() : nullptr;
    body.size = got;
    body.more = !p.is_done();
    return got;
  }

  // Streams a message body from `in` to `out` in chunks of at most kChunk.
  struct RelayResult {
    boost::system::error_code ec;
    bool on_read = false;  // failed reading the source (else writing the sink)
  };

  template <bool isRequest>
  asio::awaitable<RelayResult> relayBody(http::parser<isRequest, http::buffer_body>& p,
                                         http::serializer<isRequest, http::buffer_body>& sr, AnyStream& in,
                                         beast::flat_buffer& in_buf, AnyStream& out, milliseconds idle,
                                         const Exchange& x, uint64_t& moved) {
    char* chunk = chunkBuffer();
    while (!sr.is_done()) {
      if (!p.is_done()) {
        p.get().body().data = chunk;
        p.get().body().size = kChunk;
        expire(in, idle, x);
        auto [ec, n] = co_await http::async_read_some(in, in_buf, p, tok);
        if (ec == http::error::need_buffer) ec = {};
        if (ec) co_return RelayResult{ec, true};
        const size_t got = kChunk - p.get().body().size;
        // No body bytes this time (a chunk header, say): writing an empty
        // buffer would emit a last-chunk marker, so read again.
        if (got == 0 && !p.is_done()) continue;
        p.get().body().size = got;
        p.get().body().data = got ? chunk : nullptr;
        p.get().body().more = !p.is_done();
        moved += got;
      } else {
        p.get().body().data = nullptr;
        p.get().body().size = 0;
        p.get().body().more = false;
      }
      expire(out, idle, x);
      auto [wec, wn] = co_await http::async_write(out, sr, tok);
      if (wec == http::error::need_buffer) wec = {};
      if (wec) co_return RelayResult{wec, false};
    }
    co_return RelayResult{};
  }

  // Chooses the cluster (or passthrough address) for a request and rewrites
  // an absolute-form target to origin-form.
  bool routeRequest(http::request<http::buffer_body>& req, const ListenerSpec* spec, Route& route) {
    if (spec->kind != ListenerSpec::Kind::http_proxy) {
      route.cluster = spec->cluster;
      route.authority = std::string(req[http::field::host]);
      return true;
    }
    std::string_view target = req.target();
    std::string authority;
    if (target.size() > 7 && iequals(target.substr(0, 7), "http://")) {
      auto rest = target.substr(7);
      auto slash = rest.find_first_of("/?");
      authority = std::string(rest.substr(0, slash));
      std::string path = slash == std::string_view::npos ? "/" : std::string(rest.substr(slash));
      if (path[0] == '?') path.insert(0, "/");
      req.target(path);
      req.set(http::field::host, authority);
    } else {
      authority = std::string(req[http::field::host]);
    }
    route.authority = authority;
    std::string host;
    uint16_t port = 0;
    if (!splitAuthority(authority, host, port)) return false;
    if (auto c = snap_->service(host)) {
      route.cluster = c;
      return true;
    }
    if (!snap_->config->outbound.passthrough || !snap_->passthrough) return false;
    route.cluster = snap_->passthrough;
    route.fixed = std::make_shared<discovery::Endpoint>(host, port ? port : 80);
    return true;
  }

  // CONNECT host:port on the http_proxy listener: a service name goes to one
  // of its endpoints; any other address is dialled as it is (passthrough).
  asio::awaitable<void> tunnel(Exchange& x, std::string_view target, const ListenerSpec* spec) {
    x.authority = std::string(target);
    std::string host;
    uint16_t port = 0;
    if (!splitAuthority(target, host, port) || port == 0) {
      co_await localReply(x, LocalReply::bad_request, false);
      finish(x, spec);
      co_return;
    }
    discovery::EndpointPtr ep;
    config::Timeouts t;
    auto cluster = snap_->service(host);
    if (cluster) {
      t = cluster->timeouts();
    } else if (snap_->config->outbound.passthrough) {
      cluster = snap_->passthrough;
      ep = std::make_shared<discovery::Endpoint>(host, port);
    } else {
      co_await localReply(x, LocalReply::not_found, false);
      finish(x, spec);
      co_return;
    }
    x.stats = cluster->stats[w_.id()];
    std::unique_ptr<UpstreamConnection> up;
    discovery::EndpointPtr tried;
    for (int attempt = 0; attempt < 2 && !up; ++attempt) {
      auto pick = ep ? ep : cluster->pick(w_.id(), tried.get());
      if (!pick || (tried && pick == tried)) break;
      tried = pick;
      up_tls_ = upstreamTls(w_, *cluster);
      auto r = co_await w_.pool().connect(pick, up_tls_ ? &*up_tls_ : nullptr, t.connect);
      up = std::move(r.conn);
    }
    if (!up) {
      co_await localReply(x, tried ? LocalReply::upstream_connect_failure : LocalReply::no_healthy_upstream, false);
      finish(x, spec);
      co_return;
    }
    x.upstream = up->endpoint->key;
    static constexpr std::string_view ok = "HTTP/1.1 200 Connection Established\r\n\r\n";
    down_.tcp().expires_after(t.idle);
    auto [ec, n] = co_await asio::async_write(down_, asio::buffer(ok), tok);
    x.status = 200;
    if (!ec) {
      beast::flat_buffer none;
      auto [a, b] = co_await splice(down_, up->stream, buf_, none, t.idle);
      x.bytes_in = a;
      x.bytes_out = b;
    }
    finish(x, spec);
  }

  asio::awaitable<void> localReply(Exchange& x, LocalReply r, bool keep_alive) {
    const auto& i = info(r);
    x.status = i.status;
    x.reason = i.reason;
    if (i.malformed) w_.metrics().malformed(i.metric_label).Increment();
    w_.metrics().rejected(i.reason).Increment();
    if (x.response_started) co_return;  // too late for a status: the caller closes
    http::response<http::string_body> res{static_cast<http::status>(i.status), x.version >= 10 ? x.version : 11};
    res.set(http::field::content_type, "text/plain");
    res.set("x-hawser-reason", i.reason);
    if (!x.request_id.empty()) res.set("x-request-id", x.request_id);
    if (retry_after_) res.set(http::field::retry_after, std::to_string(retry_after_->count()));
    res.body() = std::string(i.reason) + "\n";
    res.keep_alive(keep_alive && !w_.draining());
    res.prepare_payload();
    down_.tcp().expires_after(std::chrono::seconds(5));
    co_await http::async_write(down_, res, tok);
  }

  // Counts and logs a finished exchange.
  void finish(const Exchange& x, const ListenerSpec* spec) {
    if (x.stats && snap_->config->metrics_enabled) {
      x.stats->record(x.status, std::chrono::duration<double>(Clock::now() - x.start).count());
    }
    auto& log = w_.accessLog();
    if (!log.enabled()) return;
    telemetry::AccessRecord r;
    r.request_id = x.request_id;
    r.direction = spec->kind == ListenerSpec::Kind::inbound ? "inbound" : "outbound";
    r.method = x.method;
    r.authority = x.authority;
    r.path = x.path;
    r.upstream = x.upstream;
    r.reason = x.reason;
    r.status = x.status;
    r.duration_ms = std::chrono::duration<double, std::milli>(Clock::now() - x.start).count();
    r.bytes_received = x.bytes_in;
    r.bytes_sent = x.bytes_out;
    log.write(r);
  }

  Worker& w_;
  AnyStream down_;
  ConnectionGuard guard_;
  std::string key_;
  std::string client_ip_;
  beast::flat_buffer buf_;
  std::shared_ptr<const Snapshot> snap_;
  const ListenerSpec* spec_ = nullptr;
  std::unique_ptr<char[]> chunk_;
  std::string head_;                               // a serialized head (and small body), reused by every exchange
  std::string peer_identity_;                      // verified client identity (inbound TLS)
  telemetry::RequestStats* peer_stats_ = nullptr;  // inbound series labelled with that identity
  std::optional<UpstreamTls> up_tls_;
  policy::Random rng_{std::random_device{}()};
  std::optional<std::chrono::seconds> retry_after_;  // for a 429 being sent
  std::string outbound_peer_;                        // cache of the last outbound peer's series
  telemetry::RequestStats* outbound_peer_stats_ = nullptr;
};

}  // namespace

asio::awaitable<void> serveHttp(Worker& w, tcp::socket s, std::string listener_key) {
  HttpSession session(w, std::move(s), std::move(listener_key));
  co_await session.run();
}

}  // namespace hawser
