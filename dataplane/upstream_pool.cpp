#include "dataplane/upstream_pool.h"

#include <sys/socket.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "dataplane/inbound_tls.h"
#include "dataplane/tls/handshake_failure.h"
#include "dataplane/tls/identity.h"
#include "dataplane/tls/ssl_context.h"
#include "telemetry/log.h"
#include "telemetry/metrics.h"

namespace hawser {
namespace asio = boost::asio;
namespace beast = boost::beast;
using tcp = asio::ip::tcp;
constexpr auto tok = asio::as_tuple(asio::use_awaitable);

UpstreamConnection::UpstreamConnection(AnyStream s, discovery::EndpointPtr ep, telemetry::WorkerMetrics& m)
    : stream(std::move(s)), endpoint(std::move(ep)), metrics(m) {
  metrics.upstream_active.Increment();
  metrics.upstream_opened.Increment();
}

UpstreamConnection::~UpstreamConnection() {
  metrics.upstream_active.Decrement();
  if (limits) limits->closeConnection();
}

namespace {
constexpr size_t kPendingRead = 4096;

// Leaves a read pending on a connection going into the pool.
void startPending(UpstreamConnection& c) {
  if (!c.pending) c.pending = std::make_shared<PendingRead>(c.stream.get_executor());
  auto& p = *c.pending;
  p.bytes.clear();
  p.ec = {};
  p.done = false;
  p.active = true;
  c.stream.expires_never();  // the pool's sweep bounds it
  c.stream.async_read_some(p.bytes.prepare(kPendingRead),
                           [pending = c.pending](boost::system::error_code ec, size_t n) {
                             pending->done = true;
                             pending->ec = ec;
                             if (!ec) pending->bytes.commit(n);
                             pending->wake.cancel();
                           });
}

// A pooled connection whose pending read completed is not at a message
// boundary: the upstream closed it (EOF), or wrote to it unasked (a late
// body after a 204, more than Content-Length, a 408 before its keep-alive
// close). It is closed, never handed to a request. (For TLS, records that
// carry no data, such as a late session ticket, do not complete the read.)
bool stillAlive(const UpstreamConnection& c) {
  return c.pending && c.pending->active && !c.pending->done;
}
}  // namespace

asio::awaitable<boost::system::error_code> takePending(UpstreamConnection& up, beast::flat_buffer& buf,
                                                       std::chrono::steady_clock::time_point until) {
  if (!up.pending || !up.pending->active) co_return boost::system::error_code{};
  auto p = up.pending;
  p->active = false;
  if (!p->done) {
    up.stream.limitPendingRead(until);
    while (!p->done) {
      p->wake.expires_at(std::chrono::steady_clock::time_point::max());
      co_await p->wake.async_wait(asio::as_tuple(asio::use_awaitable));
    }
  }
  if (p->ec) co_return p->ec;
  auto data = p->bytes.data();
  buf.commit(asio::buffer_copy(buf.prepare(data.size()), data));
  p->bytes.clear();
  co_return boost::system::error_code{};
}

std::unique_ptr<UpstreamConnection> UpstreamPool::takeIdle(const std::string& key, std::chrono::milliseconds max_idle) {
  auto it = idle_.find(key);
  if (it == idle_.end()) return nullptr;
  auto& list = it->second;
  auto now = std::chrono::steady_clock::now();
  while (!list.empty()) {
    auto conn = std::move(list.back());
    list.pop_back();
    const auto idle = now - conn->idle_since;
    // Bytes or a close waiting on it (a late body after a 204, more than
    // Content-Length, a 408 before the upstream's keep-alive close) mean it
    // is not at a message boundary: it is closed, never handed to this
    // request. Its pending read says so, without a system call.
    if (idle < max_idle && stillAlive(*conn)) {
      conn->reused = true;
      return conn;
    }
  }
  return nullptr;
}

std::unique_ptr<UpstreamConnection> UpstreamPool::reuse(const discovery::EndpointPtr& ep, const UpstreamTls* tls,
                                                        std::chrono::milliseconds max_idle) {
  key_.assign(ep->key);  // a reused scratch: the usual case makes no string
  if (tls) key_ += tls->pool_tag;
  return takeIdle(key_, max_idle);
}

asio::awaitable<UpstreamPool::Result> UpstreamPool::acquire(const discovery::EndpointPtr& ep, const UpstreamTls* tls,
                                                            std::chrono::milliseconds connect_timeout,
                                                            std::chrono::milliseconds max_idle, bool fresh,
                                                            const std::shared_ptr<ClusterPolicy>& limits) {
  if (!fresh) {
    if (auto conn = reuse(ep, tls, max_idle)) co_return Result{{}, std::move(conn), std::nullopt};
  }
  const std::string key = tls ? ep->key + tls->pool_tag : ep->key;
  if (!limits) co_return co_await connect(ep, tls, connect_timeout);

  if (!limits->tryStartPending())
    co_return Result{asio::error::no_buffer_space, nullptr, policy::Threshold::max_pending};
  struct Pending {
    ClusterPolicy& p;
    ~Pending() { p.endPending(); }
  } pending{*limits};
  // At max_connections: wait for a connection of this worker to come back to
  // the pool (woken by release) or for any of the service's to close (seen on
  // the next short wake-up), within the connect timeout.
  const auto deadline = std::chrono::steady_clock::now() + connect_timeout;
  asio::steady_timer wake(ex_);
  struct Waiting {
    std::list<asio::steady_timer*>& list;
    std::list<asio::steady_timer*>::iterator it;
    ~Waiting() { list.erase(it); }
  } waiting{waiters_, waiters_.insert(waiters_.end(), &wake)};
  while (!limits->tryOpenConnection()) {
    const auto now = std::chrono::steady_clock::now();
    if (now >= deadline) {
      co_return Result{asio::error::no_buffer_space, nullptr, policy::Threshold::max_connections};
    }
    wake.expires_after(std::min<std::chrono::steady_clock::duration>(deadline - now, std::chrono::milliseconds(5)));
    co_await wake.async_wait(tok);
    if (!fresh) {
      if (auto conn = takeIdle(key, max_idle)) co_return Result{{}, std::move(conn), std::nullopt};
    }
  }
  auto r = co_await connect(ep, tls, connect_timeout);
  if (r.conn)
    r.conn->limits = limits;
  else
    limits->closeConnection();
  co_return r;
}

asio::awaitable<UpstreamPool::Result> UpstreamPool::connect(const discovery::EndpointPtr& ep, const UpstreamTls* tls,
                                                            std::chrono::milliseconds timeout) {
  AnyStream stream(ex_);
  boost::system::error_code ec;
  auto addr = asio::ip::make_address(ep->host, ec);
  stream.expires_after(timeout);
  if (!ec) {
    auto [cec] = co_await stream.async_connect(tcp::endpoint(addr, ep->port), tok);
    ec = cec;
  } else {
    tcp::resolver resolver(ex_);
    auto [rec, results] = co_await resolver.async_resolve(ep->host, std::to_string(ep->port), tok);
    if (rec) co_return Result{rec, nullptr, std::nullopt};
    ec = asio::error::host_not_found;
    for (const auto& entry : results) {  // each address in turn, as asio::async_connect does
      boost::system::error_code ignored;
      stream.socket().close(ignored);
      auto [cec] = co_await stream.async_connect(entry.endpoint(), tok);
      ec = cec;
      if (!ec || ec == beast::error::timeout) break;
    }
  }
  if (ec) co_return Result{ec, nullptr, std::nullopt};
  stream.socket().set_option(tcp::no_delay(true), ec);
  if (!tls) {
    stream.expires_never();
    auto conn = std::make_unique<UpstreamConnection>(std::move(stream), ep, metrics_);
    conn->pool_key = ep->key;
    co_return Result{{}, std::move(conn), std::nullopt};
  }
  stream.upgradeToTls(tls->context);
  auto* ssl = stream.ssl();
  if (!tls->server_name.empty()) SSL_set_tlsext_host_name(ssl, tls->server_name.c_str());
  tls::prepareClientSession(ssl, ep->key);
  auto [hec] = co_await stream.async_handshake(AnyStream::Role::client, {}, tok);
  if (hec) {
    auto reason = tlsFailureReason(ssl, hec);
    metrics_.tlsHandshakeError(reason).Increment();
    log::warn("upstream TLS handshake failed", {{"endpoint", ep->key}, {"reason", reason}, {"error", hec.message()}});
    co_return Result{hec, nullptr, std::nullopt};
  }
  X509* peer = SSL_get0_peer_certificate(ssl);
  auto check = tls::checkPresentedIdentity(peer, *tls->expected_sans);
  if (!check.matched) {
    metrics_.tlsHandshakeError(tls::reason::kSanMismatch).Increment();
    std::string expected;
    for (const auto& s : *tls->expected_sans) expected += (expected.empty() ? "" : ",") + s;
    log::warn("upstream presented an unexpected identity; connection refused",
              {{"endpoint", ep->key},
               {"expected", expected},
               {"presented", check.presented.empty() ? "(none)" : check.presented}});
    co_return Result{asio::error::access_denied, nullptr, std::nullopt};
  }
  stream.expires_never();
  auto conn = std::make_unique<UpstreamConnection>(std::move(stream), ep, metrics_);
  conn->pool_key = ep->key + tls->pool_tag;
  conn->peer_identity = check.presented;
  co_return Result{{}, std::move(conn), std::nullopt};
}

void UpstreamPool::release(std::unique_ptr<UpstreamConnection> conn, std::chrono::milliseconds max_idle) {
  auto& list = idle_[conn->pool_key];
  if (list.size() >= kMaxIdlePerEndpoint) return;  // closes it
  if (conn->stream.tlsBuffered()) return;          // records already read off the socket but not yet by hawser
  conn->idle_since = std::chrono::steady_clock::now();
  conn->idle_until = conn->idle_since + max_idle;
  // Whether bytes or a close arrive while it waits is seen when it is taken.
  startPending(*conn);
  list.push_back(std::move(conn));
  for (auto* w : waiters_) w->cancel();
  armSweep(std::min(list.back()->idle_until, list.back()->idle_since + std::chrono::seconds(1)));
}

void UpstreamPool::clear() {
  idle_.clear();
  sweep_timer_.cancel();
  sweeping_ = false;
}

// The sweep runs when the first idle connection expires, and at least once a
// second (to notice connections the upstream closed).
void UpstreamPool::armSweep(std::chrono::steady_clock::time_point when) {
  if (sweeping_ && sweep_timer_.expiry() <= when) return;
  sweeping_ = true;
  sweep_timer_.expires_at(when);  // a pending wait ends with operation_aborted
  sweep_timer_.async_wait([this](boost::system::error_code ec) {
    if (ec) return;  // re-armed, or cancelled with the pool
    sweeping_ = false;
    sweep();
  });
}

void UpstreamPool::sweep() {
  const auto now = std::chrono::steady_clock::now();
  auto next = now + std::chrono::seconds(1);
  for (auto it = idle_.begin(); it != idle_.end();) {
    std::erase_if(it->second, [&](const auto& c) { return now >= c->idle_until || !stillAlive(*c); });
    for (const auto& c : it->second) next = std::min(next, c->idle_until);
    it = it->second.empty() ? idle_.erase(it) : std::next(it);
  }
  if (!idle_.empty()) armSweep(next);
}

size_t UpstreamPool::idleCount() const {
  size_t n = 0;
  for (const auto& [k, v] : idle_) n += v.size();
  return n;
}

}  // namespace hawser
