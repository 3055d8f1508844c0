// Tunnels: CONNECT on the http_proxy listener, and a relayed Upgrade
// (WebSocket) once the upstream said 101. After the handshake both are
// bytes both ways (splice); the exchange completes when the tunnel closes.
#include <boost/beast/http.hpp>

#include "dataplane/http/http_connection.h"
#include "dataplane/http_headers.h"
#include "dataplane/inbound_tls.h"
#include "dataplane/sessions.h"
#include "dataplane/worker.h"
#include "telemetry/metrics.h"

namespace hawser::http1 {
namespace beast = boost::beast;
namespace http = beast::http;

// CONNECT host:port: a service name goes to one of its endpoints; any other
// address is dialled as it is (passthrough). Each tunnel holds one of the
// service's max_connections while it is open.
boost::asio::awaitable<void> HttpConnection::connectTunnel(Exchange& x, Request& rq, const ListenerSpec& spec) {
  (void)spec;
  auto target = rq.head().target();
  x.authority = std::string(target);
  std::string host;
  uint16_t port = 0;
  if (!splitAuthority(target, host, port) || port == 0 || rq.hasBody()) {
    x.stats = unroutedStats();
    co_await localReply(x, LocalReply::bad_request, nullptr);
    co_return;
  }
  discovery::EndpointPtr fixed;
  config::Timeouts t;
  auto cluster = snap_->service(host);
  if (cluster) {
    t = cluster->timeouts();
  } else if (snap_->config->outbound.passthrough && snap_->passthrough) {
    cluster = snap_->passthrough;
    fixed = std::make_shared<discovery::Endpoint>(host, port);
  } else {
    x.stats = unroutedStats();
    co_await localReply(x, LocalReply::not_found, nullptr);
    co_return;
  }
  x.stats = cluster->stats[w_.id()];
  x.service = cluster->name();
  auto& pstats = *cluster->policy_stats[w_.id()];
  std::unique_ptr<UpstreamConnection> up;
  discovery::EndpointPtr tried;
  for (int attempt = 0; attempt < 2 && !up; ++attempt) {
    auto pick = fixed ? fixed : cluster->pick(w_.id(), tried.get());
    if (!pick || (tried && pick == tried)) break;
    tried = pick;
    x.upstream = pick->key;
    useUpstreamTls(cluster);
    auto r = co_await w_.pool().acquire(pick, up_tls_ ? &*up_tls_ : nullptr, t.connect, t.idle, /*fresh=*/true,
                                        cluster->policy);
    if (r.overflow) {
      pstats.overflow[static_cast<size_t>(*r.overflow)]->Increment();
      co_await localReply(x, LocalReply::overflow, nullptr);
      co_return;
    }
    up = std::move(r.conn);
  }
  if (!up) {
    co_await localReply(x, tried ? LocalReply::upstream_connect_failure : LocalReply::no_healthy_upstream, nullptr);
    co_return;
  }
  x.upstream = up->endpoint->key;
  static constexpr std::string_view ok = "HTTP/1.1 200 Connection Established\r\n\r\n";
  if (co_await writeAll(down_, ok, t.idle, Exchange::Clock::time_point::max())) {
    x.reason = "downstream-reset";
    co_return;
  }
  x.status = 200;
  x.response_started = true;
  beast::flat_buffer none;
  auto [a, b] = co_await splice(down_, up->stream, buf_, none, t.idle);
  x.bytes_in = a;
  x.bytes_out = b;
}

// The upstream agreed to the upgrade the client asked for: its 101 goes to
// the client, then bytes flow both ways until either side closes.
boost::asio::awaitable<void> HttpConnection::upgradeTunnel(Exchange& x, UpstreamResponse& ur, const RouteChoice& rc) {
  auto& head = ur.parser->get().base();
  removeHopByHop(head, /*keep_upgrade=*/true);
  stripFraming(head);
  head.set(http::field::connection, "upgrade");
  head.version(11);
  serializeHead(head, head_);
  if (co_await writeAll(down_, head_, rc.timeouts.idle, x.deadline)) {
    x.reason = "downstream-reset";
    co_return;
  }
  x.status = 101;
  x.response_started = true;
  auto [a, b] = co_await splice(down_, ur.conn->stream, buf_, ur.buf, rc.timeouts.idle);
  x.bytes_in += a;
  x.bytes_out += b;
}

}  // namespace hawser::http1
