#include "dataplane/tls/ssl_context.h"

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include <cstring>
#include <mutex>
#include <unordered_map>

#include "dataplane/tls/identity.h"

namespace hawser::tls {
namespace {

// TLS 1.2: forward secrecy and AEAD only. TLS 1.3 suites are all AEAD.
constexpr const char* kTls12Ciphers =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";
constexpr const char* kTls13Suites = "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256";
constexpr const char* kGroups = "X25519:P-256:P-384";
// ALPN wire format: length-prefixed names. "h2" can be added later.
constexpr unsigned char kAlpn[] = {8, 'h', 't', 't', 'p', '/', '1', '.', '1'};
constexpr unsigned char kSessionIdContext[] = "hawser";
constexpr size_t kMaxCachedEndpoints = 4096;

std::string opensslError(const char* what) {
  unsigned long code = ERR_get_error();
  ERR_clear_error();
  char buf[256] = "unknown error";
  if (code != 0) ERR_error_string_n(code, buf, sizeof buf);
  return std::string(what) + ": " + buf;
}

int selectAlpn(SSL*, const unsigned char** out, unsigned char* outlen, const unsigned char* in, unsigned int inlen,
               void*) {
  unsigned char* selected = nullptr;
  if (SSL_select_next_proto(&selected, outlen, kAlpn, sizeof kAlpn, in, inlen) == OPENSSL_NPN_NEGOTIATED) {
    *out = selected;
    return SSL_TLSEXT_ERR_OK;
  }
  // A client offering only other protocols still gets a connection without ALPN.
  return SSL_TLSEXT_ERR_NOACK;
}

// Client session cache: one resumable session per endpoint, owned by the
// SSL_CTX (ex_data) so it lives exactly as long as the context. The mutex is
// taken only at handshake time; workers share the context.
struct ClientSessionCache {
  std::mutex mu;
  std::unordered_map<std::string, SSL_SESSION*> sessions;
  ~ClientSessionCache() {
    for (auto& [_, s] : sessions) SSL_SESSION_free(s);
  }
};

void freeCache(void*, void* ptr, CRYPTO_EX_DATA*, int, long, void*) {
  delete static_cast<ClientSessionCache*>(ptr);
}
void freeEndpoint(void*, void* ptr, CRYPTO_EX_DATA*, int, long, void*) {
  delete static_cast<std::string*>(ptr);
}

int cacheIndex() {
  static const int index = SSL_CTX_get_ex_new_index(0, nullptr, nullptr, nullptr, freeCache);
  return index;
}
int endpointIndex() {
  static const int index = SSL_get_ex_new_index(0, nullptr, nullptr, nullptr, freeEndpoint);
  return index;
}

ClientSessionCache* cacheOf(SSL_CTX* ctx) {
  return ctx == nullptr ? nullptr : static_cast<ClientSessionCache*>(SSL_CTX_get_ex_data(ctx, cacheIndex()));
}

// Called by OpenSSL when a connection gets a new session (TLS 1.3: a ticket
// after the handshake). Returning 1 keeps the reference OpenSSL handed us.
int onNewSession(SSL* ssl, SSL_SESSION* session) {
  auto* cache = cacheOf(SSL_get_SSL_CTX(ssl));
  auto* endpoint = static_cast<std::string*>(SSL_get_ex_data(ssl, endpointIndex()));
  if (cache == nullptr || endpoint == nullptr || SSL_SESSION_is_resumable(session) != 1) return 0;
  std::lock_guard lock(cache->mu);
  auto [it, inserted] = cache->sessions.try_emplace(*endpoint, session);
  if (!inserted) {
    SSL_SESSION_free(it->second);
    it->second = session;
  } else if (cache->sessions.size() > kMaxCachedEndpoints) {
    // Bounded: forget some other endpoint; it will do one full handshake.
    auto victim = cache->sessions.begin();
    if (victim == it) ++victim;
    SSL_SESSION_free(victim->second);
    cache->sessions.erase(victim);
  }
  return 1;
}

// After OpenSSL's own checks of each certificate: the peer's leaf must also
// pass the SAN rules, so a certificate with a CR/LF in a SAN, or a SPIFFE
// certificate with two URI SANs, never completes a handshake in either
// direction. Intermediates' SANs identify nobody and are not checked.
int verifyPeer(int preverify_ok, X509_STORE_CTX* store_ctx) {
  if (preverify_ok != 1 || X509_STORE_CTX_get_error_depth(store_ctx) != 0) return preverify_ok;
  if (sanProblem(X509_STORE_CTX_get_current_cert(store_ctx)) == SanProblem::kNone) return 1;
  X509_STORE_CTX_set_error(store_ctx, X509_V_ERR_APPLICATION_VERIFICATION);
  return 0;
}

}  // namespace

SslCtxPtr buildSslContext(const TlsMaterial& material, const SslContextOptions& options, std::string& error) {
  const bool server = options.role == TlsRole::kServer;
  if (options.min_version != TLS1_2_VERSION && options.min_version != TLS1_3_VERSION) {
    error = "TLS minimum version must be 1.2 or 1.3";
    return nullptr;
  }
  if (!material.cert || !material.key || material.ca_certs.empty()) {
    error = "TLS material is incomplete (certificate, key and CA bundle are required)";
    return nullptr;
  }
  SslCtxPtr ctx(SSL_CTX_new(server ? TLS_server_method() : TLS_client_method()));
  if (!ctx) {
    error = opensslError("SSL_CTX_new");
    return nullptr;
  }
  SSL_CTX* c = ctx.get();
  if (SSL_CTX_set_min_proto_version(c, options.min_version) != 1 ||
      SSL_CTX_set_max_proto_version(c, TLS1_3_VERSION) != 1) {
    error = opensslError("protocol version");
    return nullptr;
  }
  SSL_CTX_set_options(c,
                      SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION | (server ? SSL_OP_CIPHER_SERVER_PREFERENCE : 0));
  // Idle keep-alive connections then hold no 34 KB read/write buffers (an
  // A/B under the bench load showed no throughput cost: docs/performance.md).
  SSL_CTX_set_mode(c, SSL_MODE_RELEASE_BUFFERS);
  if (SSL_CTX_set_cipher_list(c, kTls12Ciphers) != 1 || SSL_CTX_set_ciphersuites(c, kTls13Suites) != 1) {
    error = opensslError("cipher suites");
    return nullptr;
  }
  if (SSL_CTX_set1_groups_list(c, kGroups) != 1) {
    error = opensslError("key exchange groups");
    return nullptr;
  }

  // Own certificate and chain.
  if (SSL_CTX_use_certificate(c, material.cert.get()) != 1) {
    error = opensslError("certificate");
    return nullptr;
  }
  for (const auto& extra : material.chain) {
    if (SSL_CTX_add1_chain_cert(c, extra.get()) != 1) {
      error = opensslError("certificate chain");
      return nullptr;
    }
  }
  if (SSL_CTX_use_PrivateKey(c, material.key.get()) != 1 || SSL_CTX_check_private_key(c) != 1) {
    error = opensslError("private key");
    return nullptr;
  }

  // Trust: CA bundle and CRLs.
  X509StorePtr store = buildTrustStore(material, options.crl_scope);
  if (!store) {
    error = opensslError("CA bundle");
    return nullptr;
  }
  SSL_CTX_set_cert_store(c, store.release());  // the context owns it now
  SSL_CTX_set_verify_depth(c, 5);
  if (server) {
    int mode = SSL_VERIFY_PEER;
    if (options.require_client_certificate) mode |= SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
    SSL_CTX_set_verify(c, mode, verifyPeer);
    // Tell clients which CAs we accept (shown by `openssl s_client`).
    for (const auto& ca : material.ca_certs) SSL_CTX_add_client_CA(c, ca.get());
    // Required for resumption when client certificates are verified.
    SSL_CTX_set_session_id_context(c, kSessionIdContext, sizeof kSessionIdContext - 1);
    SSL_CTX_set_num_tickets(c, 1);
    SSL_CTX_set_alpn_select_cb(c, selectAlpn, nullptr);
  } else {
    SSL_CTX_set_verify(c, SSL_VERIFY_PEER, verifyPeer);
    if (SSL_CTX_set_alpn_protos(c, kAlpn, sizeof kAlpn) != 0) {  // 0 is success here
      error = opensslError("ALPN");
      return nullptr;
    }
    if (options.client_session_cache) {
      auto* cache = new ClientSessionCache;
      if (SSL_CTX_set_ex_data(c, cacheIndex(), cache) != 1) {
        delete cache;
        error = opensslError("session cache");
        return nullptr;
      }
      SSL_CTX_set_session_cache_mode(c, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
      SSL_CTX_sess_set_new_cb(c, onNewSession);
    } else {
      SSL_CTX_set_session_cache_mode(c, SSL_SESS_CACHE_OFF);
    }
  }
  ERR_clear_error();
  return ctx;
}

bool prepareClientSession(SSL* ssl, std::string_view endpoint) {
  auto* cache = cacheOf(SSL_get_SSL_CTX(ssl));
  if (cache == nullptr) return false;
  auto* key = new std::string(endpoint);
  delete static_cast<std::string*>(SSL_get_ex_data(ssl, endpointIndex()));
  SSL_set_ex_data(ssl, endpointIndex(), key);
  std::lock_guard lock(cache->mu);
  auto it = cache->sessions.find(*key);
  if (it == cache->sessions.end()) return false;
  if (SSL_SESSION_is_resumable(it->second) != 1) {
    SSL_SESSION_free(it->second);
    cache->sessions.erase(it);
    return false;
  }
  return SSL_set_session(ssl, it->second) == 1;
}

size_t cachedClientSessions(SSL_CTX* ctx) {
  auto* cache = cacheOf(ctx);
  if (cache == nullptr) return 0;
  std::lock_guard lock(cache->mu);
  return cache->sessions.size();
}

std::string negotiatedAlpn(const SSL* ssl) {
  const unsigned char* data = nullptr;
  unsigned int len = 0;
  SSL_get0_alpn_selected(ssl, &data, &len);
  return data == nullptr ? std::string() : std::string(reinterpret_cast<const char*>(data), len);
}

}  // namespace hawser::tls
