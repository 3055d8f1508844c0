// In-memory handshakes between SSL objects built by buildSslContext, over a
// BIO pair, with generated material: the success path and each failure reason.
#include <gtest/gtest.h>

#include "dataplane/tls/certificate_authority.h"
#include "dataplane/tls/handshake_failure.h"
#include "dataplane/tls/identity.h"
#include "dataplane/tls/ssl_context.h"
#include "tls_test_support.h"

namespace hawser::tls {
namespace {

using std::chrono::hours;
using testing::handshake;
using testing::materialFor;
using testing::workload;

class HandshakeTest : public ::testing::Test {
 protected:
  static SslCtxPtr context(const TlsMaterial& m, TlsRole role, int min_version = TLS1_2_VERSION) {
    return testing::contextFor(m, role, min_version);
  }
  SslCtxPtr serverContext(const X509_CRL* crl = nullptr, int min_version = TLS1_2_VERSION) {
    return context(materialFor(server_, {&ca_}, crl), TlsRole::kServer, min_version);
  }
  SslCtxPtr clientContext(const CertifiedKey& leaf) { return context(materialFor(leaf, {&ca_}), TlsRole::kClient); }
  CertifiedKey issue(const std::string& name, Validity validity = {}) {
    WorkloadOptions o = workload(name, "spiffe://demo/" + name);
    o.validity = validity;
    return issueWorkloadCertificate(ca_, o);
  }

  CertifiedKey ca_ = createCertificateAuthority();
  CertifiedKey server_ = issue("server");
  CertifiedKey client_ = issue("client");
};

TEST_F(HandshakeTest, MutualTlsSucceedsWithValidCertificates) {
  auto server = serverContext();
  auto client = clientContext(client_);
  auto r = handshake(client.get(), server.get());
  ASSERT_TRUE(r.bothOk()) << r.client.reason << " / " << r.server.reason;
  EXPECT_EQ(SSL_version(r.client_ssl.get()), TLS1_3_VERSION);
  EXPECT_EQ(negotiatedAlpn(r.client_ssl.get()), "http/1.1");
  EXPECT_EQ(negotiatedAlpn(r.server_ssl.get()), "http/1.1");
  // Each side sees the other's identity.
  EXPECT_EQ(peerIdentity(SSL_get0_peer_certificate(r.server_ssl.get())), "spiffe://demo/client");
  EXPECT_EQ(peerIdentity(SSL_get0_peer_certificate(r.client_ssl.get())), "spiffe://demo/server");
  EXPECT_EQ(SSL_get_verify_result(r.server_ssl.get()), X509_V_OK);
  EXPECT_EQ(SSL_get_current_compression(r.client_ssl.get()), nullptr);
}

TEST_F(HandshakeTest, Tls12NegotiatesAnAeadSuite) {
  auto server = serverContext();
  auto client = clientContext(client_);
  SSL_CTX_set_max_proto_version(client.get(), TLS1_2_VERSION);
  auto r = handshake(client.get(), server.get());
  ASSERT_TRUE(r.bothOk()) << r.client.reason << " / " << r.server.reason;
  EXPECT_EQ(SSL_version(r.client_ssl.get()), TLS1_2_VERSION);
  const SSL_CIPHER* cipher = SSL_get_current_cipher(r.client_ssl.get());
  ASSERT_NE(cipher, nullptr);
  EXPECT_EQ(SSL_CIPHER_is_aead(cipher), 1);
  EXPECT_EQ(SSL_CIPHER_get_kx_nid(cipher), NID_kx_ecdhe);
  EXPECT_TRUE(SSL_get_secure_renegotiation_support(r.client_ssl.get()));
  EXPECT_TRUE(SSL_CTX_get_options(server.get()) & SSL_OP_NO_RENEGOTIATION);
  EXPECT_TRUE(SSL_CTX_get_options(client.get()) & SSL_OP_NO_COMPRESSION);
}

TEST_F(HandshakeTest, ExpiredClientCertificateIsRejected) {
  CertifiedKey expired = issue("client", {hours(-48), hours(-1)});
  auto server = serverContext();
  auto client = clientContext(expired);
  auto r = handshake(client.get(), server.get());
  EXPECT_FALSE(r.server.ok);
  EXPECT_EQ(r.server.verify_result, X509_V_ERR_CERT_HAS_EXPIRED);
  EXPECT_EQ(r.server.reason, reason::kExpired);
  EXPECT_FALSE(r.client.ok);
  EXPECT_EQ(r.client.reason, reason::kExpired);  // told by the server's alert
}

TEST_F(HandshakeTest, ExpiredServerCertificateIsRejectedByTheClient) {
  CertifiedKey expired = issue("server", {hours(-48), hours(-1)});
  auto server = context(materialFor(expired, {&ca_}), TlsRole::kServer);
  auto client = clientContext(client_);
  auto r = handshake(client.get(), server.get());
  EXPECT_FALSE(r.client.ok);
  EXPECT_EQ(r.client.reason, reason::kExpired);
  EXPECT_FALSE(r.server.ok);
  EXPECT_EQ(r.server.reason, reason::kExpired);
}

TEST_F(HandshakeTest, NotYetValidClientCertificateIsRejected) {
  CertifiedKey future = issue("client", {hours(1), hours(48)});
  auto server = serverContext();
  auto client = clientContext(future);
  auto r = handshake(client.get(), server.get());
  EXPECT_FALSE(r.server.ok);
  EXPECT_EQ(r.server.verify_result, X509_V_ERR_CERT_NOT_YET_VALID);
  EXPECT_EQ(r.server.reason, reason::kExpired);
}

TEST_F(HandshakeTest, ClientCertificateFromUnknownCaIsRejected) {
  CertifiedKey other_ca = createCertificateAuthority({"rogue CA", {hours(-1), hours(24)}, 0});
  CertifiedKey rogue = issueWorkloadCertificate(other_ca, workload("client", "spiffe://demo/client"));
  auto server = serverContext();
  auto client = context(materialFor(rogue, {&ca_}), TlsRole::kClient);  // trusts the real CA
  auto r = handshake(client.get(), server.get());
  EXPECT_FALSE(r.server.ok);
  EXPECT_EQ(r.server.reason, reason::kUnknownCa);
  EXPECT_FALSE(r.client.ok);
  EXPECT_EQ(r.client.reason, reason::kUnknownCa);
}

TEST_F(HandshakeTest, ServerFromUnknownCaIsRejectedByTheClient) {
  CertifiedKey other_ca = createCertificateAuthority({"rogue CA", {hours(-1), hours(24)}, 0});
  CertifiedKey rogue = issueWorkloadCertificate(other_ca, workload("server", "spiffe://demo/server"));
  auto server = context(materialFor(rogue, {&ca_}), TlsRole::kServer);
  auto client = clientContext(client_);
  auto r = handshake(client.get(), server.get());
  EXPECT_FALSE(r.client.ok);
  EXPECT_EQ(r.client.reason, reason::kUnknownCa);
  EXPECT_EQ(r.server.reason, reason::kUnknownCa);
}

TEST_F(HandshakeTest, RevokedClientCertificateIsRejectedAndAnEmptyCrlAdmitsIt) {
  X509CrlPtr crl = createCrl(ca_, {client_.cert.get()});
  auto server = serverContext(crl.get());
  auto client = clientContext(client_);
  auto r = handshake(client.get(), server.get());
  EXPECT_FALSE(r.server.ok);
  EXPECT_EQ(r.server.verify_result, X509_V_ERR_CERT_REVOKED);
  EXPECT_EQ(r.server.reason, reason::kRevoked);
  EXPECT_FALSE(r.client.ok);
  EXPECT_EQ(r.client.reason, reason::kRevoked);

  // Another client of the same CA is fine under the same CRL.
  CertifiedKey other = issue("other");
  auto other_client = clientContext(other);
  EXPECT_TRUE(handshake(other_client.get(), server.get()).bothOk());

  // A reloaded CRL without the serial lets the client in.
  X509CrlPtr empty = createCrl(ca_, {});
  auto reloaded = serverContext(empty.get());
  auto r2 = handshake(client.get(), reloaded.get());
  EXPECT_TRUE(r2.bothOk()) << r2.client.reason << " / " << r2.server.reason;
}

TEST_F(HandshakeTest, MissingClientCertificateIsRejected) {
  auto server = serverContext();
  auto client = clientContext(client_);
  auto r = handshake(client.get(), server.get(), [](SSL* ssl) { SSL_certs_clear(ssl); });
  EXPECT_FALSE(r.server.ok);
  EXPECT_EQ(r.server.reason, reason::kNoClientCert);
  EXPECT_FALSE(r.client.ok);
  EXPECT_EQ(r.client.reason, reason::kNoClientCert);
}

TEST_F(HandshakeTest, MissingClientCertificateOverTls12IsRejected) {
  auto server = serverContext();
  auto client = clientContext(client_);
  SSL_CTX_set_max_proto_version(client.get(), TLS1_2_VERSION);
  auto r = handshake(client.get(), server.get(), [](SSL* ssl) { SSL_certs_clear(ssl); });
  EXPECT_FALSE(r.server.ok);
  EXPECT_EQ(r.server.reason, reason::kNoClientCert);
  EXPECT_FALSE(r.client.ok);
}

TEST_F(HandshakeTest, Tls11ClientIsRefused) {
  auto server = serverContext();
  auto client = clientContext(client_);
  // Make the client genuinely able to speak TLS 1.0/1.1 (legacy suites, security level 0).
  SSL_CTX_set_security_level(client.get(), 0);
  ASSERT_EQ(SSL_CTX_set_cipher_list(client.get(), "DEFAULT:@SECLEVEL=0"), 1);
  SSL_CTX_set_min_proto_version(client.get(), TLS1_VERSION);
  SSL_CTX_set_max_proto_version(client.get(), TLS1_1_VERSION);
  auto r = handshake(client.get(), server.get());
  EXPECT_FALSE(r.server.ok);
  EXPECT_EQ(r.server.reason, reason::kProtocolVersion);
  EXPECT_FALSE(r.client.ok);
  EXPECT_EQ(r.client.reason, reason::kProtocolVersion);
}

TEST_F(HandshakeTest, Tls13MinimumRefusesATls12Client) {
  auto server = serverContext(nullptr, TLS1_3_VERSION);
  auto client = clientContext(client_);
  SSL_CTX_set_max_proto_version(client.get(), TLS1_2_VERSION);
  auto r = handshake(client.get(), server.get());
  EXPECT_EQ(r.server.reason, reason::kProtocolVersion);
  EXPECT_EQ(r.client.reason, reason::kProtocolVersion);
  auto modern = clientContext(client_);
  auto ok = handshake(modern.get(), server.get());
  ASSERT_TRUE(ok.bothOk());
  EXPECT_EQ(SSL_version(ok.server_ssl.get()), TLS1_3_VERSION);
}

TEST_F(HandshakeTest, PlaintextHttpIsRecognised) {
  auto server = serverContext();
  auto r = testing::serverFedWith(server.get(), "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.reason, reason::kPlaintext);
  auto r2 = testing::serverFedWith(server.get(), "\x01\x02garbage that is long enough to be a record header");
  EXPECT_FALSE(r2.ok);
  EXPECT_NE(r2.reason, reason::kExpired);
}

TEST_F(HandshakeTest, ServerWithTheWrongIdentityIsASanMismatch) {
  // Same CA, valid certificate, another identity: the chain verifies, the identity check refuses it.
  auto server = serverContext();
  auto client = clientContext(client_);
  auto r = handshake(client.get(), server.get());
  ASSERT_TRUE(r.bothOk());
  X509* presented = SSL_get0_peer_certificate(r.client_ssl.get());
  IdentityCheck check = checkPresentedIdentity(presented, {defaultServiceIdentity("demo", "payments")});
  EXPECT_FALSE(check.matched);
  EXPECT_EQ(check.presented, "spiffe://demo/server");
  EXPECT_TRUE(checkPresentedIdentity(presented, {defaultServiceIdentity("demo", "server")}).matched);
}

TEST_F(HandshakeTest, ClientResumesSessionsPerEndpoint) {
  auto server = serverContext();
  auto client = clientContext(client_);
  auto first = handshake(client.get(), server.get(), [](SSL* ssl) { prepareClientSession(ssl, "10.0.0.1:443"); });
  ASSERT_TRUE(first.bothOk());
  EXPECT_FALSE(SSL_session_reused(first.client_ssl.get()));
  EXPECT_EQ(cachedClientSessions(client.get()), 1u);

  bool offered = false;
  auto second =
      handshake(client.get(), server.get(), [&](SSL* ssl) { offered = prepareClientSession(ssl, "10.0.0.1:443"); });
  ASSERT_TRUE(second.bothOk());
  EXPECT_TRUE(offered);
  EXPECT_TRUE(SSL_session_reused(second.client_ssl.get()));
  // The resumed session still carries the verified peer identity.
  EXPECT_EQ(peerIdentity(SSL_get0_peer_certificate(second.server_ssl.get())), "spiffe://demo/client");
  EXPECT_EQ(peerIdentity(SSL_get0_peer_certificate(second.client_ssl.get())), "spiffe://demo/server");

  // Another endpoint has no session yet.
  bool offered_other = true;
  auto third = handshake(client.get(), server.get(),
                         [&](SSL* ssl) { offered_other = prepareClientSession(ssl, "10.0.0.2:443"); });
  ASSERT_TRUE(third.bothOk());
  EXPECT_FALSE(offered_other);
  EXPECT_FALSE(SSL_session_reused(third.client_ssl.get()));
  EXPECT_EQ(cachedClientSessions(client.get()), 2u);

  // A new server context (a reload) has new ticket keys: a full handshake, no error.
  auto reloaded = serverContext();
  auto fourth = handshake(client.get(), reloaded.get(), [](SSL* ssl) { prepareClientSession(ssl, "10.0.0.1:443"); });
  ASSERT_TRUE(fourth.bothOk());
  EXPECT_FALSE(SSL_session_reused(fourth.client_ssl.get()));
}

TEST_F(HandshakeTest, BuildRejectsBadOptions) {
  std::string error;
  SslContextOptions o;
  o.min_version = TLS1_1_VERSION;
  EXPECT_EQ(buildSslContext(materialFor(server_, {&ca_}), o, error), nullptr);
  EXPECT_NE(error.find("1.2 or 1.3"), std::string::npos);
  TlsMaterial empty;
  o.min_version = TLS1_2_VERSION;
  EXPECT_EQ(buildSslContext(empty, o, error), nullptr);
  EXPECT_NE(error.find("incomplete"), std::string::npos);
}

TEST(HandshakeFailureReasonTest, MapsVerifyResultsAndSslReasons) {
  EXPECT_EQ(handshakeFailureReason(X509_V_ERR_CERT_HAS_EXPIRED, 0), reason::kExpired);
  EXPECT_EQ(handshakeFailureReason(X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY, 0), reason::kUnknownCa);
  EXPECT_EQ(handshakeFailureReason(X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT, 0), reason::kUnknownCa);
  EXPECT_EQ(handshakeFailureReason(X509_V_ERR_CERT_REVOKED, 0), reason::kRevoked);
  EXPECT_EQ(handshakeFailureReason(X509_V_OK, ERR_PACK(ERR_LIB_SSL, 0, SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE)),
            reason::kNoClientCert);
  EXPECT_EQ(handshakeFailureReason(X509_V_OK, ERR_PACK(ERR_LIB_SSL, 0, SSL_R_UNSUPPORTED_PROTOCOL)),
            reason::kProtocolVersion);
  EXPECT_EQ(handshakeFailureReason(X509_V_OK, ERR_PACK(ERR_LIB_SSL, 0, SSL_R_HTTP_REQUEST)), reason::kPlaintext);
  EXPECT_EQ(handshakeFailureReason(X509_V_OK, ERR_PACK(ERR_LIB_SSL, 0, SSL_R_WRONG_VERSION_NUMBER)),
            reason::kPlaintext);
  EXPECT_EQ(handshakeFailureReason(X509_V_OK, ERR_PACK(ERR_LIB_SSL, 0, SSL_R_TLSV1_ALERT_UNKNOWN_CA)),
            reason::kUnknownCa);
  EXPECT_EQ(handshakeFailureReason(X509_V_OK, ERR_PACK(ERR_LIB_SSL, 0, SSL_R_NO_SHARED_CIPHER)), reason::kOther);
  EXPECT_EQ(handshakeFailureReason(X509_V_OK, ERR_PACK(ERR_LIB_EVP, 0, SSL_R_HTTP_REQUEST)), reason::kOther);
  EXPECT_EQ(handshakeFailureReason(X509_V_OK, 0), reason::kOther);
  // The local verdict wins over the generic "certificate verify failed".
  EXPECT_EQ(handshakeFailureReason(X509_V_ERR_CERT_REVOKED, ERR_PACK(ERR_LIB_SSL, 0, SSL_R_CERTIFICATE_VERIFY_FAILED)),
            reason::kRevoked);
}

}  // namespace
}  // namespace hawser::tls
