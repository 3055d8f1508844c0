// The TLS side of accepting a connection on an inbound listener: strict
// (mutual TLS only), permissive (TLS or plaintext, told apart by the first
// byte) or disabled.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>

#include <chrono>
#include <string>

#include "dataplane/any_stream.h"
#include "dataplane/connection_guard.h"
#include "dataplane/snapshot.h"

namespace hawser {

struct InboundTlsResult {
  bool accepted = false;
  std::string peer_identity;  // empty for plaintext peers
};

// On success `down` may have become a TLS stream (and `guard` rebound to its
// socket); bytes read ahead stay in `buf`.
boost::asio::awaitable<InboundTlsResult> acceptInboundTls(Worker& w, AnyStream& down, boost::beast::flat_buffer& buf,
                                                          const ListenerSpec& spec, ConnectionGuard& guard,
                                                          std::chrono::milliseconds timeout);

// The hawser_tls_handshake_errors_total reason of a failed TLS operation on
// `ssl` (the handshake, or a first read that carries the peer's alert).
std::string_view tlsFailureReason(SSL* ssl, const boost::system::error_code& ec);

// The client side for an outbound cluster: null for plaintext clusters.
std::optional<UpstreamTls> upstreamTls(const Worker& w, const Cluster& c);

}  // namespace hawser
