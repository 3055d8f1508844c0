// A connection on a transparent listener, top-down: find where it was going
// (SO_ORIGINAL_DST), refuse loops, then hand it to the session that serves it
// (the inbound entry of that port; a service over HTTP or TCP; passthrough)
// or refuse it (drop_all, no inbound entry).
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <algorithm>
#include <array>

#include "dataplane/cluster.h"
#include "dataplane/connection_guard.h"
#include "dataplane/sessions.h"
#include "dataplane/transparent/egress_route.h"
#include "dataplane/transparent/original_destination.h"
#include "dataplane/transparent/transparent_routes.h"
#include "dataplane/worker.h"
#include "telemetry/access_log.h"
#include "telemetry/metrics.h"

// GCC 12 misreads a coroutine frame's sized delete as mismatched (as in message_io.cpp).
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"

namespace hawser {
namespace asio = boost::asio;
namespace beast = boost::beast;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;
constexpr auto tok = asio::as_tuple(asio::use_awaitable);

namespace {

std::string str(const tcp::endpoint& e) {
  auto a = transparent::unmapped(e.address());
  return a.is_v6() ? "[" + a.to_string() + "]:" + std::to_string(e.port())
                   : a.to_string() + ":" + std::to_string(e.port());
}

// The connection is closed unserved: one counter and one access log line per connection.
void refuse(Worker& w, tcp::socket& s, const transparent::TransparentRoutes& routes, const char* direction,
            transparent::Refusal why, std::string_view dst) {
  routes.refusals[w.id()][static_cast<size_t>(why)]->Increment();
  telemetry::AccessRecord rec;
  rec.direction = direction;
  rec.method = "TCP";
  rec.authority = dst;
  rec.reason = transparent::reason(why);
  w.accessLog().write(rec);
  boost::system::error_code ignored;
  s.close(ignored);
}

// Would serving this connection send it back into hawser? Its original
// destination is the listener itself (nothing redirected it: a client dialled
// the port directly), or another of hawser's transparent ports on this host.
bool loops(const tcp::endpoint& dst, const tcp::endpoint& local, const transparent::TransparentRoutes& routes) {
  const auto d = transparent::unmapped(dst.address());
  const auto l = transparent::unmapped(local.address());
  if (d == l && dst.port() == local.port()) return true;
  const bool own_host = d.is_loopback() || d == l || d.is_unspecified();
  return own_host && std::find(routes.own_ports.begin(), routes.own_ports.end(), dst.port()) != routes.own_ports.end();
}

// The service whose live endpoints on this worker include `dst`.
std::optional<size_t> endpointOwner(const transparent::TransparentRoutes& routes, unsigned worker,
                                    const tcp::endpoint& dst) {
  const auto ip = transparent::unmapped(dst.address());
  for (size_t i = 0; i < routes.service_clusters.size(); ++i) {
    const auto& set = routes.service_clusters[i]->endpoints(worker);
    if (!set) continue;
    for (const auto& ep : *set) {
      if (ep->port != dst.port()) continue;
      boost::system::error_code ec;
      auto a = asio::ip::make_address(ep->host, ec);
      if (!ec && transparent::unmapped(a) == ip) return i;
    }
  }
  return std::nullopt;
}

// Waits (at most `timeout`) for the client's first bytes and peeks at them,
// leaving them in the socket for the session that serves the connection.
asio::awaitable<transparent::Sniffed> sniff(tcp::socket& s, std::chrono::milliseconds timeout) {
  using namespace asio::experimental::awaitable_operators;
  const auto deadline = Clock::now() + timeout;
  asio::steady_timer timer(co_await asio::this_coro::executor);
  std::array<char, 16> peek;
  size_t seen = 0;
  for (;;) {
    timer.expires_at(deadline);
    auto which = co_await (s.async_wait(tcp::socket::wait_read, tok) || timer.async_wait(tok));
    if (which.index() == 1) co_return transparent::Sniffed::other;  // said nothing in time: a server-first protocol
    boost::system::error_code ec;
    const size_t n = s.receive(asio::buffer(peek), tcp::socket::message_peek, ec);
    if (ec || n == 0) co_return transparent::Sniffed::other;  // closed or failed: the session sees it too
    auto verdict = transparent::sniffHttp(std::string_view(peek.data(), n));
    if (verdict != transparent::Sniffed::need_more) co_return verdict;
    if (n == seen) {
      // Readable with nothing new: wait a little for the rest of the method.
      timer.expires_after(std::chrono::milliseconds(2));
      if (Clock::now() + std::chrono::milliseconds(2) >= deadline) co_return transparent::Sniffed::other;
      co_await timer.async_wait(tok);
    }
    seen = n;
  }
}

asio::awaitable<void> passthrough(Worker& w, tcp::socket s, const tcp::endpoint& dst,
                                  const transparent::TransparentRoutes& routes) {
  AnyStream down{std::move(s)};
  ConnectionGuard guard(w, down.socket());
  const auto start = Clock::now();
  const auto dst_text = str(dst);
  auto ep = std::make_shared<discovery::Endpoint>(transparent::unmapped(dst.address()).to_string(), dst.port());
  auto r = co_await w.pool().connect(ep, nullptr, routes.passthrough_timeouts.connect);
  telemetry::AccessRecord rec;
  rec.direction = "outbound";
  rec.method = "TCP";
  rec.authority = dst_text;
  rec.upstream = dst_text;
  if (!r.conn) {
    rec.reason = "upstream-connect-failure";
  } else {
    rec.reason = "passthrough";
    beast::flat_buffer none_a;
    beast::flat_buffer none_b;
    auto [sent, received] = co_await splice(down, r.conn->stream, none_a, none_b, routes.passthrough_timeouts.idle);
    rec.bytes_received = sent;
    rec.bytes_sent = received;
  }
  rec.duration_ms = std::chrono::duration<double, std::milli>(Clock::now() - start).count();
  w.accessLog().write(rec);
}

}  // namespace

asio::awaitable<void> serveTransparent(Worker& w, tcp::socket s, std::string listener_key) {
  auto snap = w.snapshot();
  const auto* spec = snap->findListener(listener_key);
  if (!spec || !spec->transparent) co_return;
  // The snapshot (and so `routes`) stays alive while this coroutine holds `snap`.
  const auto& routes = *spec->transparent;
  const bool inbound = spec->kind == ListenerSpec::Kind::transparent_inbound;
  const char* direction = inbound ? "inbound" : "outbound";

  boost::system::error_code ec;
  const auto local = s.local_endpoint(ec);
  const auto dst = transparent::originalDestination(s, ec);
  if (!dst) {
    refuse(w, s, routes, direction, transparent::Refusal::no_original_destination, "");
    co_return;
  }
  const auto dst_text = str(*dst);
  if (loops(*dst, local, routes)) {
    refuse(w, s, routes, direction, transparent::Refusal::loop, dst_text);
    co_return;
  }

  if (inbound) {
    for (const auto& [port, key] : routes.ingress) {
      if (port != dst->port()) continue;
      const auto* target = snap->findListener(key);
      if (!target) break;
      if (target->protocol == config::Protocol::tcp) {
        co_await serveTcp(w, std::move(s), key);
      } else {
        co_await serveHttp(w, std::move(s), key);
      }
      co_return;
    }
    refuse(w, s, routes, direction, transparent::Refusal::no_inbound_for_port, dst_text);
    co_return;
  }

  auto decision = transparent::decideEgress(routes.table, dst->address(), dst->port(),
                                            endpointOwner(routes, w.id(), *dst), routes.filter);
  switch (decision.action) {
    case transparent::EgressAction::deny:
      refuse(w, s, routes, direction, transparent::Refusal::egress_denied, dst_text);
      co_return;
    case transparent::EgressAction::passthrough: co_await passthrough(w, std::move(s), *dst, routes); co_return;
    case transparent::EgressAction::service: break;
  }
  const auto& key = routes.service_keys[decision.service];
  const auto* target = snap->findListener(key);
  if (!target) co_return;
  if (target->protocol == config::Protocol::http &&
      co_await sniff(s, routes.protocol_detection_timeout) == transparent::Sniffed::http) {
    co_await serveHttp(w, std::move(s), key);
  } else {
    co_await serveTcp(w, std::move(s), key);
  }
}

}  // namespace hawser
