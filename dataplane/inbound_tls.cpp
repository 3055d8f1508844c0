#include "dataplane/inbound_tls.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <atomic>
#include <cstdint>

#include "dataplane/tls/handshake_failure.h"
#include "dataplane/tls/identity.h"
#include "dataplane/worker.h"
#include "telemetry/log.h"
#include "telemetry/metrics.h"

namespace hawser {
namespace asio = boost::asio;
namespace beast = boost::beast;
constexpr auto tok = asio::as_tuple(asio::use_awaitable);

namespace {
// A missing CRL refuses every peer until an operator acts, and a bad SAN is
// an attack or a broken issuer: both deserve a line, not only a counter. At
// most one a second (any worker), so a peer retrying in a loop cannot flood
// the log; the counter has the totals. The SANs themselves are never logged.
void logRefusedCertificate(const ListenerSpec& spec, std::string_view reason) {
  if (reason != tls::reason::kCrlMissing && reason != tls::reason::kBadSan) return;
  static std::atomic<std::int64_t> last_logged{0};
  const std::int64_t now =
      std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now().time_since_epoch()).count();
  std::int64_t last = last_logged.load(std::memory_order_relaxed);
  if (now <= last || !last_logged.compare_exchange_strong(last, now, std::memory_order_relaxed)) return;
  log::warn(reason == tls::reason::kCrlMissing
                ? "inbound TLS handshake refused: no CRL for an issuer in the client's chain (see tls.crl_check)"
                : "inbound TLS handshake refused: the client certificate breaks the SAN rules",
            {{"listener", spec.name}, {"reason", reason}});
}
}  // namespace

asio::awaitable<InboundTlsResult> acceptInboundTls(Worker& w, AnyStream& down, beast::flat_buffer& buf,
                                                   const ListenerSpec& spec, ConnectionGuard& guard,
                                                   std::chrono::milliseconds timeout) {
  if (spec.tls_mode == config::InboundTlsMode::disabled) co_return InboundTlsResult{true, {}};
  down.expires_after(timeout);
  if (buf.size() == 0) {
    auto [ec, n] = co_await down.async_read_some(buf.prepare(4096), tok);
    if (ec) co_return InboundTlsResult{};
    buf.commit(n);
  }
  // A TLS record starts with content type 22 (handshake).
  const bool looks_tls = static_cast<const unsigned char*>(buf.data().data())[0] == 0x16;
  if (!looks_tls) {
    if (spec.tls_mode == config::InboundTlsMode::permissive) co_return InboundTlsResult{true, {}};
    w.metrics().tlsHandshakeError(tls::reason::kPlaintext).Increment();
    co_return InboundTlsResult{};
  }
  auto state = w.tls();
  if (!state) co_return InboundTlsResult{};
  down.upgradeToTls(state->server);
  guard.rebind(down.socket());
  auto* ssl = down.ssl();
  auto [ec] = co_await down.async_handshake(AnyStream::Role::server, buf.data(), tok);
  buf.consume(buf.size());  // every early byte went to TLS
  if (ec) {
    const auto reason = tlsFailureReason(ssl, ec);
    w.metrics().tlsHandshakeError(reason).Increment();
    logRefusedCertificate(spec, reason);
    co_return InboundTlsResult{};
  }
  auto identity = tls::peerIdentity(SSL_get0_peer_certificate(ssl));
  co_return InboundTlsResult{true, identity.value_or("")};
}

std::string_view tlsFailureReason(SSL* ssl, const boost::system::error_code& ec) {
  if (ec == beast::error::timeout) return "timeout";
  const unsigned long openssl_error =
      ec.category() == asio::error::get_ssl_category() ? static_cast<unsigned long>(ec.value()) : 0UL;
  return tls::handshakeFailureReason(SSL_get_verify_result(ssl), openssl_error);
}

std::optional<UpstreamTls> upstreamTls(const Worker& w, const Cluster& c) {
  if (!c.mutual_tls || !w.tls()) return std::nullopt;
  return UpstreamTls{w.tls()->client, &c.expected_sans, c.name(), c.tls_pool_tag};
}

}  // namespace hawser
