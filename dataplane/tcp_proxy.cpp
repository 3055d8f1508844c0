// Byte proxying: `protocol: tcp` listeners, CONNECT tunnels and upgraded
// (WebSocket) connections all end in splice().
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include "dataplane/connection_guard.h"
#include "dataplane/http/observers.h"
#include "dataplane/inbound_tls.h"
#include "dataplane/sessions.h"
#include "dataplane/tls/identity.h"
#include "dataplane/worker.h"
#include "telemetry/access_log.h"
#include "telemetry/metrics.h"

namespace hawser {
namespace asio = boost::asio;
namespace beast = boost::beast;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;
constexpr auto tok = asio::as_tuple(asio::use_awaitable);

namespace {
struct SpliceState {
  Clock::time_point last_activity = Clock::now();
  uint64_t a_to_b = 0;
  uint64_t b_to_a = 0;
};

asio::awaitable<void> pump(AnyStream& in, AnyStream& out, beast::flat_buffer& pending, uint64_t& moved,
                           SpliceState& state) {
  boost::system::error_code ignored;
  if (pending.size() > 0) {
    auto [ec, n] = co_await asio::async_write(out, pending.data(), tok);
    pending.consume(n);
    moved += n;
    if (ec) {
      in.socket().close(ignored);
      co_return;
    }
  }
  std::array<char, 16 * 1024> buf;
  for (;;) {
    auto [ec, n] = co_await in.async_read_some(asio::buffer(buf), tok);
    if (n > 0) {
      state.last_activity = Clock::now();
      auto [wec, wn] = co_await asio::async_write(out, asio::buffer(buf.data(), n), tok);
      moved += wn;
      if (wec) {
        in.socket().close(ignored);
        co_return;
      }
    }
    if (ec == asio::error::eof) {
      // Half-close: the other direction may still have bytes to deliver.
      out.socket().shutdown(tcp::socket::shutdown_send, ignored);
      co_return;
    }
    if (ec) {
      out.socket().close(ignored);
      co_return;
    }
  }
}

asio::awaitable<void> watchdog(AnyStream& a, AnyStream& b, SpliceState& state, std::chrono::milliseconds idle) {
  asio::steady_timer timer(co_await asio::this_coro::executor);
  for (;;) {
    timer.expires_at(state.last_activity + idle);
    auto [ec] = co_await timer.async_wait(tok);
    if (ec) co_return;  // cancelled: both directions finished
    if (Clock::now() - state.last_activity >= idle) break;
  }
  boost::system::error_code ignored;
  a.socket().close(ignored);
  b.socket().close(ignored);
}
}  // namespace

asio::awaitable<std::pair<uint64_t, uint64_t>> splice(AnyStream& a, AnyStream& b, beast::flat_buffer& from_a,
                                                      beast::flat_buffer& from_b, std::chrono::milliseconds idle) {
  using namespace asio::experimental::awaitable_operators;
  a.expires_never();
  b.expires_never();
  SpliceState state;
  co_await ((pump(a, b, from_a, state.a_to_b, state) && pump(b, a, from_b, state.b_to_a, state)) ||
            watchdog(a, b, state, idle));
  co_return std::pair{state.a_to_b, state.b_to_a};
}

asio::awaitable<void> serveTcp(Worker& w, tcp::socket s, std::string listener_key) {
  AnyStream down{std::move(s)};
  ConnectionGuard guard(w, down.socket());
  auto snap = w.snapshot();
  const auto* spec = snap->findListener(listener_key);
  if (!spec || !spec->cluster) co_return;
  auto cluster = spec->cluster;
  auto start = Clock::now();
  beast::flat_buffer early;  // bytes read while telling TLS from plaintext
  auto accepted = co_await acceptInboundTls(w, down, early, *spec, guard, snap->config->limits.header_timeout);
  if (!accepted.accepted) co_return;
  if (!spec->allow.empty() && !tls::identityAllowed(spec->allow, accepted.peer_identity)) {
    w.metrics().rejected("unauthorized").Increment();
    co_return;
  }
  auto up_tls = upstreamTls(w, *cluster);

  std::unique_ptr<UpstreamConnection> up;
  discovery::EndpointPtr tried;
  for (int attempt = 0; attempt < 2 && !up; ++attempt) {
    auto ep = cluster->pick(w.id(), tried.get());
    if (!ep || ep == tried) break;
    tried = ep;
    auto r = co_await w.pool().connect(ep, up_tls ? &*up_tls : nullptr, cluster->timeouts().connect);
    up = std::move(r.conn);
  }
  telemetry::AccessRecord rec;
  rec.direction = spec->kind == ListenerSpec::Kind::inbound ? "inbound" : "outbound";
  rec.method = "TCP";
  rec.authority = cluster->name();
  if (!up) {
    rec.reason = "upstream-connect-failure";
    rec.upstream = tried ? tried->key : "";
  } else {
    rec.upstream = up->endpoint->key;
    beast::flat_buffer none;
    auto [sent, received] = co_await splice(down, up->stream, early, none, spec->timeouts.idle);
    rec.bytes_received = sent;
    rec.bytes_sent = received;
  }
  rec.duration_ms = std::chrono::duration<double, std::milli>(Clock::now() - start).count();
  w.accessLog().write(rec);
  if (const auto& capture = snap->config->capture) {
    TcpSessionFacts facts;
    facts.inbound = spec->kind == ListenerSpec::Kind::inbound;
    facts.cluster = cluster->name();
    facts.listener = spec->name;
    facts.peer = facts.inbound ? std::string_view(accepted.peer_identity)
                 : up          ? std::string_view(up->peer_identity)
                               : std::string_view();
    facts.upstream = rec.upstream;
    facts.reason = rec.reason;
    facts.start = start;
    facts.bytes_in = rec.bytes_received;
    facts.bytes_out = rec.bytes_sent;
    captureTcpSession(w.shipper(), w.id(), *capture, snap->config->node.service, facts);
  }
}

}  // namespace hawser
