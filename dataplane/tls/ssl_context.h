// Builds a configured SSL_CTX from loaded TLS material, plus the client-side
// session cache that lets outbound pools resume sessions per endpoint.
//
// The dataplane wraps the result with `boost::asio::ssl::context(ctx.release())`
// (Asio takes ownership). The SSL_CTX holds its own references to the
// certificate, key and trust store, so the TlsMaterial may be dropped after.
#pragma once

#include <string>
#include <string_view>

#include "dataplane/tls/openssl_handles.h"
#include "dataplane/tls/tls_material.h"

namespace hawser::tls {

enum class TlsRole { kServer, kClient };

struct SslContextOptions {
  TlsRole role = TlsRole::kServer;
  int min_version = TLS1_2_VERSION;  // TLS1_2_VERSION or TLS1_3_VERSION (config tls.min_version)
  // Server: SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT (mTLS). Clients always verify the server.
  bool require_client_certificate = true;
  // Client: cache sessions per endpoint (see prepareClientSession).
  bool client_session_cache = true;
  // Which certificates of the peer's chain are checked against the CRLs (when there are CRLs).
  CrlScope crl_scope = CrlScope::kChain;
};

// TLS >= min_version (1.2 or 1.3), no compression, no renegotiation, AEAD-only
// suites (TLS 1.2: ECDHE with AES-GCM or CHACHA20-POLY1305), ALPN "http/1.1",
// peer verification against the material's CA bundle, CRL checking when the
// material has CRLs, and, in both roles, the SAN rules of sanProblem()
// (identity.h) in the verify callback: a peer certificate breaking them fails
// the handshake with X509_V_ERR_APPLICATION_VERIFICATION (reason `bad_san`).
// Null with `error` set on failure.
SslCtxPtr buildSslContext(const TlsMaterial& material, const SslContextOptions& options, std::string& error);

// Client side, before the handshake: offers the cached session of `endpoint`
// (e.g. "10.0.0.7:8443") if there is one, and files the sessions this
// connection receives under `endpoint`. True when a session was offered;
// SSL_session_reused() tells after the handshake whether it was accepted.
// No-op (false) for an SSL_CTX built without client_session_cache.
bool prepareClientSession(SSL* ssl, std::string_view endpoint);

// Number of endpoints with a cached session on `ctx` (for tests and /clusters).
size_t cachedClientSessions(SSL_CTX* ctx);

// The negotiated ALPN protocol, "" when none.
std::string negotiatedAlpn(const SSL* ssl);

}  // namespace hawser::tls
