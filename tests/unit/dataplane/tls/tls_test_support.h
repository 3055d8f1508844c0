// Shared by the TLS unit tests: a temporary directory, material built in
// memory from generated certificates, and an in-memory handshake between two
// SSL objects over a BIO pair (no sockets, no threads).
#pragma once

#include <gtest/gtest.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <stdlib.h>
#include <unistd.h>

#include <filesystem>
#include <functional>
#include <string>
#include <string_view>

#include "dataplane/tls/certificate_authority.h"
#include "dataplane/tls/handshake_failure.h"
#include "dataplane/tls/ssl_context.h"
#include "dataplane/tls/tls_material.h"

namespace hawser::tls::testing {

class TempDir {
 public:
  TempDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "hawser-tls-XXXXXX").string();
    path_ = ::mkdtemp(pattern.data());
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  std::string file(std::string_view name) const { return path_ + "/" + std::string(name); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

inline WorkloadOptions workload(const std::string& name, const std::string& spiffe) {
  WorkloadOptions o;
  o.common_name = name;
  o.uris = {spiffe};
  return o;
}

// Material for one side: `leaf` presented, `trusted` CAs accepted, optional CRL.
inline TlsMaterial materialFor(const CertifiedKey& leaf, const std::vector<const CertifiedKey*>& trusted,
                               const X509_CRL* crl = nullptr) {
  TlsMaterial m;
  m.cert = shareCertificate(leaf.cert.get());
  m.key = shareKey(leaf.key.get());
  for (const auto* ca : trusted) m.ca_certs.push_back(shareCertificate(ca->cert.get()));
  if (crl != nullptr) {
    X509_CRL_up_ref(const_cast<X509_CRL*>(crl));
    m.crls.emplace_back(const_cast<X509_CRL*>(crl));
  }
  return m;
}

// buildSslContext, failing the test (and returning null) on an error.
inline SslCtxPtr contextFor(const TlsMaterial& m, TlsRole role, int min_version = TLS1_2_VERSION,
                            CrlScope crl_scope = CrlScope::kChain) {
  std::string error;
  SslContextOptions o;
  o.role = role;
  o.min_version = min_version;
  o.crl_scope = crl_scope;
  SslCtxPtr ctx = buildSslContext(m, o, error);
  EXPECT_NE(ctx, nullptr) << error;
  return ctx;
}

struct SideResult {
  bool ok = false;
  long verify_result = X509_V_OK;
  unsigned long error = 0;
  std::string_view reason;  // handshakeFailureReason() when !ok
};

struct HandshakeResult {
  SideResult client, server;
  bool bothOk() const { return client.ok && server.ok; }
  SslPtr client_ssl, server_ssl;  // kept for inspection (peer certificate, ALPN, version)
};

namespace detail {
enum class State { kRunning, kDone, kFailed };

inline void fail(SSL* ssl, State& state, SideResult& side) {
  state = State::kFailed;
  side.ok = false;
  side.error = ERR_get_error();
  ERR_clear_error();
  side.verify_result = SSL_get_verify_result(ssl);
  side.reason = handshakeFailureReason(side.verify_result, side.error);
}

inline void step(SSL* ssl, State& state, SideResult& side) {
  if (state != State::kRunning) return;
  ERR_clear_error();
  int r = SSL_do_handshake(ssl);
  if (r == 1) {
    state = State::kDone;
    side.ok = true;
    return;
  }
  int e = SSL_get_error(ssl, r);
  if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) return;
  fail(ssl, state, side);
}

// Reads one message; TLS 1.3 reports a rejected client certificate only here,
// after the client believes the handshake is done.
inline bool readMessage(SSL* ssl, State& state, SideResult& side, std::string& out) {
  char buf[256];
  ERR_clear_error();
  int n = SSL_read(ssl, buf, sizeof buf);
  if (n > 0) {
    out.assign(buf, static_cast<size_t>(n));
    return true;
  }
  int e = SSL_get_error(ssl, n);
  if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) fail(ssl, state, side);
  return false;
}
}  // namespace detail

// Runs a handshake; `prepare_client` may adjust the client SSL before it starts.
// After both sides finish, client and server exchange "ping"/"pong" so that
// post-handshake alerts and TLS 1.3 session tickets are delivered.
inline HandshakeResult handshake(SSL_CTX* client_ctx, SSL_CTX* server_ctx,
                                 const std::function<void(SSL*)>& prepare_client = {}) {
  using detail::State;
  HandshakeResult result;
  result.client_ssl.reset(SSL_new(client_ctx));
  result.server_ssl.reset(SSL_new(server_ctx));
  SSL* c = result.client_ssl.get();
  SSL* s = result.server_ssl.get();
  BIO* client_bio = nullptr;
  BIO* server_bio = nullptr;
  BIO_new_bio_pair(&client_bio, 0, &server_bio, 0);
  SSL_set_bio(c, client_bio, client_bio);
  SSL_set_bio(s, server_bio, server_bio);
  SSL_set_connect_state(c);
  SSL_set_accept_state(s);
  if (prepare_client) prepare_client(c);

  State cs = State::kRunning, ss = State::kRunning;
  for (int i = 0; i < 50 && (cs == State::kRunning || ss == State::kRunning); ++i) {
    detail::step(c, cs, result.client);
    detail::step(s, ss, result.server);
    if (cs == State::kFailed && ss == State::kFailed) break;
  }
  if (cs == State::kRunning) detail::fail(c, cs, result.client);
  if (ss == State::kRunning) detail::fail(s, ss, result.server);

  std::string got;
  if (cs == State::kDone && ss == State::kDone) {
    SSL_write(c, "ping", 4);
    if (detail::readMessage(s, ss, result.server, got) && got == "ping") {
      SSL_write(s, "pong", 4);
      detail::readMessage(c, cs, result.client, got);
    }
  } else if (cs == State::kDone) {
    SSL_write(c, "ping", 4);
    detail::readMessage(c, cs, result.client, got);
  }
  ERR_clear_error();
  return result;
}

// Feeds raw bytes (e.g. plaintext HTTP) to a server SSL and returns its result.
inline SideResult serverFedWith(SSL_CTX* server_ctx, std::string_view bytes) {
  SslPtr s(SSL_new(server_ctx));
  BIO* peer = nullptr;
  BIO* server_bio = nullptr;
  BIO_new_bio_pair(&peer, 0, &server_bio, 0);
  SSL_set_bio(s.get(), server_bio, server_bio);
  SSL_set_accept_state(s.get());
  BIO_write(peer, bytes.data(), static_cast<int>(bytes.size()));
  SideResult side;
  detail::State state = detail::State::kRunning;
  detail::step(s.get(), state, side);
  if (state == detail::State::kRunning) detail::fail(s.get(), state, side);
  BIO_free(peer);
  return side;
}

}  // namespace hawser::tls::testing
