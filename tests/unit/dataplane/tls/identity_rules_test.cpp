// The identity rules of issue 11: SPIFFE patterns match URI SANs only, an
// X.509-SVID has exactly one URI SAN, DNS SANs match only DNS patterns, and a
// SAN with a control character refuses the certificate at the handshake in
// both directions. Plus CRL checking of the leaf only or of the whole chain.
#include <gtest/gtest.h>

#include "dataplane/tls/certificate_authority.h"
#include "dataplane/tls/handshake_failure.h"
#include "dataplane/tls/identity.h"
#include "dataplane/tls/ssl_context.h"
#include "tls_test_support.h"

namespace hawser::tls {
namespace {

using testing::handshake;
using testing::HandshakeResult;
using testing::materialFor;
using testing::workload;

CertifiedKey issueRaw(const CertifiedKey& ca, std::vector<std::string> uris, std::vector<std::string> dns) {
  WorkloadOptions o;
  o.common_name = "svc";
  o.uris = std::move(uris);
  o.dns_names = std::move(dns);
  o.unchecked_sans = true;
  return issueWorkloadCertificate(ca, o);
}

SslCtxPtr context(const TlsMaterial& m, TlsRole role, CrlScope scope = CrlScope::kChain) {
  return testing::contextFor(m, role, TLS1_2_VERSION, scope);
}

class IdentityRulesTest : public ::testing::Test {
 protected:
  CertifiedKey ca_ = createCertificateAuthority();
  CertifiedKey good_ = issueWorkloadCertificate(ca_, workload("good", "spiffe://ns/good"));
};

// (a) A DNS SAN that reads like a SPIFFE ID is not one.
TEST_F(IdentityRulesTest, DnsSanSpellingASpiffeIdIsNoIdentity) {
  CertifiedKey c = issueRaw(ca_, {}, {"spiffe://ns/svc"});
  EXPECT_EQ(sanProblem(c.cert.get()), SanProblem::kNone);  // accepted at the handshake...
  EXPECT_EQ(peerIdentity(c.cert.get()), std::nullopt);     // ...but it proves nothing
  EXPECT_FALSE(checkPresentedIdentity(c.cert.get(), {"spiffe://ns/svc"}).matched);
  EXPECT_FALSE(checkPresentedIdentity(c.cert.get(), {"spiffe://ns/*"}).matched);
  EXPECT_FALSE(checkPresentedIdentity(c.cert.get(), {"*"}).matched);
  // A real DNS name beside it is still the identity.
  CertifiedKey both = issueRaw(ca_, {}, {"spiffe://ns/svc", "svc.ns.local"});
  EXPECT_EQ(peerIdentity(both.cert.get()), "svc.ns.local");
  EXPECT_FALSE(checkPresentedIdentity(both.cert.get(), {"spiffe://ns/svc"}).matched);
  EXPECT_TRUE(checkPresentedIdentity(both.cert.get(), {"svc.ns.local"}).matched);
}

// (b) An X.509-SVID carries exactly one URI SAN.
TEST_F(IdentityRulesTest, SpiffeCertificateWithTwoUriSansIsRefused) {
  CertifiedKey two = issueRaw(ca_, {"spiffe://ns/a", "spiffe://ns/b"}, {});
  EXPECT_EQ(sanProblem(two.cert.get()), SanProblem::kMultipleUris);
  EXPECT_EQ(peerIdentity(two.cert.get()), std::nullopt);
  EXPECT_FALSE(checkPresentedIdentity(two.cert.get(), {"spiffe://ns/a"}).matched);
  CertifiedKey mixed = issueRaw(ca_, {"https://example.com/x", "spiffe://ns/a"}, {"a.local"});
  EXPECT_EQ(sanProblem(mixed.cert.get()), SanProblem::kMultipleUris);
  EXPECT_EQ(peerIdentity(mixed.cert.get()), std::nullopt);
  // Several non-SPIFFE URIs make no SVID, so no rule is broken; the DNS SAN identifies.
  CertifiedKey web = issueRaw(ca_, {"https://a.example/", "https://b.example/"}, {"web.local"});
  EXPECT_EQ(sanProblem(web.cert.get()), SanProblem::kNone);
  EXPECT_EQ(peerIdentity(web.cert.get()), "web.local");
}

// (c) Patterns and identities of different kinds never match.
TEST(IdentityKindsTest, UriPatternsMatchUrisAndDnsPatternsMatchDnsNames) {
  EXPECT_FALSE(identityMatches("spiffe://ns/svc", "svc.local"));
  EXPECT_FALSE(identityMatches("sp*", "spiffe://ns/svc"));  // a DNS pattern
  EXPECT_FALSE(identityMatches("svc*", "spiffe://svc/x"));
  EXPECT_TRUE(identityMatches("svc*", "svc.local"));
  EXPECT_TRUE(identityMatches("spiffe://ns/*", "spiffe://ns/svc"));
  EXPECT_TRUE(identityMatches("*", "svc.local"));
  EXPECT_TRUE(isDnsName("svc.ns.local"));
  EXPECT_TRUE(isDnsName("*.ns.local"));
  EXPECT_TRUE(isDnsName("svc."));
  EXPECT_FALSE(isDnsName("spiffe://ns/svc"));
  EXPECT_FALSE(isDnsName("a..b"));
  EXPECT_FALSE(isDnsName("-a.b"));
  EXPECT_FALSE(isDnsName("a b"));
  EXPECT_FALSE(isDnsName(""));
  EXPECT_FALSE(isDnsName(std::string(64, 'a')));
}

TEST_F(IdentityRulesTest, DnsSanMatchesOnlyDnsPatterns) {
  CertifiedKey c = issueRaw(ca_, {}, {"orders.local"});
  EXPECT_TRUE(checkPresentedIdentity(c.cert.get(), {"orders.local"}).matched);
  EXPECT_FALSE(checkPresentedIdentity(c.cert.get(), {"spiffe://orders.local"}).matched);
  CertifiedKey s = issueRaw(ca_, {"spiffe://ns/orders"}, {});
  EXPECT_FALSE(checkPresentedIdentity(s.cert.get(), {"spiffe*"}).matched);
  EXPECT_TRUE(checkPresentedIdentity(s.cert.get(), {"spiffe://ns/orders"}).matched);
}

// (d) Control characters, NUL, DEL and non-ASCII bytes in any URI or DNS SAN.
TEST_F(IdentityRulesTest, ControlCharactersInASanAreAProblem) {
  for (std::string bad :
       {std::string("spiffe://ns/svc\r\nx-injected: 1"), std::string("spiffe://ns/s\0vc", 16),
        std::string("spiffe://ns/svc\x7f"), std::string("spiffe://ns/\tsvc"), std::string("spiffe://ns/sv\xc3\xa9")}) {
    CertifiedKey uri = issueRaw(ca_, {bad}, {});
    EXPECT_EQ(sanProblem(uri.cert.get()), SanProblem::kControlCharacter) << bad;
    EXPECT_EQ(peerIdentity(uri.cert.get()), std::nullopt);
    EXPECT_TRUE(subjectAltNames(uri.cert.get()).uris.empty());
    CertifiedKey dns = issueRaw(ca_, {"spiffe://ns/ok"}, {"ok.local", "svc.local\r\n"});
    EXPECT_EQ(sanProblem(dns.cert.get()), SanProblem::kControlCharacter);
    EXPECT_FALSE(checkPresentedIdentity(dns.cert.get(), {"spiffe://ns/ok"}).matched);
    // The usable SPIFFE SAN beside it proves nothing either (found by fuzzing:
    // the identity was reported while every pattern, even "*", refused it).
    EXPECT_EQ(peerIdentity(dns.cert.get()), std::nullopt);
    EXPECT_EQ(checkPresentedIdentity(dns.cert.get(), {"*"}).presented, "");
  }
  // A second URI SAN that subjectAltNames() skips (not ASCII) still makes two.
  CertifiedKey skipped = issueRaw(ca_, {"SPIFFE://Demo/x", "spiffe:///\x98odomain"}, {});
  EXPECT_NE(sanProblem(skipped.cert.get()), SanProblem::kNone);
  EXPECT_EQ(subjectAltNames(skipped.cert.get()).uris.size(), 1u);
  EXPECT_EQ(peerIdentity(skipped.cert.get()), std::nullopt);
  EXPECT_EQ(describeCertificate(skipped.cert.get()).identity, "");
  EXPECT_EQ(sanProblem(good_.cert.get()), SanProblem::kNone);
  EXPECT_EQ(sanProblem(nullptr), SanProblem::kNone);
  EXPECT_NE(describe(SanProblem::kControlCharacter).find("control"), std::string_view::npos);
}

TEST_F(IdentityRulesTest, TheCaRefusesToIssueMalformedSansUnlessTold) {
  WorkloadOptions o = workload("svc", "spiffe://ns/svc\r\n");
  EXPECT_THROW(issueWorkloadCertificate(ca_, o), CertificateError);
  o.uris = {std::string("spiffe://ns/s\0vc", 16)};
  EXPECT_THROW(issueWorkloadCertificate(ca_, o), CertificateError);
  o.unchecked_sans = true;
  EXPECT_NO_THROW(issueWorkloadCertificate(ca_, o));
}

// The handshake refuses such certificates in both directions, reason bad_san.
TEST_F(IdentityRulesTest, HandshakeRefusesBadSansInBothDirections) {
  std::vector<CertifiedKey> bad;
  bad.push_back(issueRaw(ca_, {"spiffe://ns/svc\r\nx-evil: 1"}, {}));
  bad.push_back(issueRaw(ca_, {"spiffe://ns/a"}, {"svc\n.local"}));
  bad.push_back(issueRaw(ca_, {"spiffe://ns/a", "spiffe://ns/b"}, {}));
  for (const auto& cert : bad) {
    // Inbound: the server refuses the client's certificate.
    auto server = context(materialFor(good_, {&ca_}), TlsRole::kServer);
    auto client = context(materialFor(cert, {&ca_}), TlsRole::kClient);
    auto in = handshake(client.get(), server.get());
    EXPECT_FALSE(in.server.ok);
    EXPECT_EQ(in.server.verify_result, X509_V_ERR_APPLICATION_VERIFICATION);
    EXPECT_EQ(in.server.reason, reason::kBadSan);
    // Outbound: the client refuses the server's certificate.
    auto bad_server = context(materialFor(cert, {&ca_}), TlsRole::kServer);
    auto good_client = context(materialFor(good_, {&ca_}), TlsRole::kClient);
    auto out = handshake(good_client.get(), bad_server.get());
    EXPECT_FALSE(out.client.ok);
    EXPECT_EQ(out.client.reason, reason::kBadSan);
  }
  // The DNS SAN spelling a SPIFFE ID passes the handshake (it is no identity;
  // authorization and tls.sans refuse it).
  CertifiedKey dns_spiffe = issueRaw(ca_, {}, {"spiffe://ns/svc"});
  auto server = context(materialFor(good_, {&ca_}), TlsRole::kServer);
  auto client = context(materialFor(dns_spiffe, {&ca_}), TlsRole::kClient);
  auto r = handshake(client.get(), server.get());
  ASSERT_TRUE(r.bothOk()) << r.client.reason << " / " << r.server.reason;
  EXPECT_EQ(peerIdentity(SSL_get0_peer_certificate(r.server_ssl.get())), std::nullopt);
}

TEST(HandshakeReasonTest, NewReasons) {
  EXPECT_EQ(handshakeFailureReason(X509_V_ERR_APPLICATION_VERIFICATION, 0), reason::kBadSan);
  EXPECT_EQ(handshakeFailureReason(X509_V_ERR_UNABLE_TO_GET_CRL, 0), reason::kCrlMissing);
}

// root -> intermediate -> leaf, with only the root in the bundle.
class CrlScopeTest : public ::testing::Test {
 protected:
  static TlsMaterial withChain(const CertifiedKey& leaf, const CertifiedKey& root, const CertifiedKey& intermediate,
                               std::vector<const X509_CRL*> crls) {
    TlsMaterial m = materialFor(leaf, {&root});
    m.chain.push_back(shareCertificate(intermediate.cert.get()));
    for (const X509_CRL* crl : crls) {
      X509_CRL_up_ref(const_cast<X509_CRL*>(crl));
      m.crls.emplace_back(const_cast<X509_CRL*>(crl));
    }
    return m;
  }
  HandshakeResult run(CrlScope scope, std::vector<const X509_CRL*> crls, const CertifiedKey* client = nullptr) {
    auto server = context(withChain(server_, root_, intermediate_, crls), TlsRole::kServer, scope);
    auto c = context(withChain(client ? *client : client_, root_, intermediate_, {}), TlsRole::kClient);
    return handshake(c.get(), server.get());
  }

  static CaOptions named(std::string name) {
    CaOptions o;
    o.common_name = std::move(name);
    return o;
  }

  CertifiedKey root_ = createCertificateAuthority();
  CertifiedKey intermediate_ = createIntermediateAuthority(root_, named("hawser intermediate CA"));
  CertifiedKey server_ = issueWorkloadCertificate(intermediate_, workload("server", "spiffe://ns/server"));
  CertifiedKey client_ = issueWorkloadCertificate(intermediate_, workload("client", "spiffe://ns/client"));
  X509CrlPtr root_crl_ = createCrl(root_, {});
  X509CrlPtr intermediate_crl_ = createCrl(intermediate_, {});
};

TEST_F(CrlScopeTest, ChainNeedsACrlForEveryCaAndSaysSo) {
  auto r = run(CrlScope::kChain, {intermediate_crl_.get()});  // the root's CRL is missing
  EXPECT_FALSE(r.server.ok);
  EXPECT_EQ(r.server.verify_result, X509_V_ERR_UNABLE_TO_GET_CRL);
  EXPECT_EQ(r.server.reason, reason::kCrlMissing);
  auto both = run(CrlScope::kChain, {intermediate_crl_.get(), root_crl_.get()});
  EXPECT_TRUE(both.bothOk()) << both.client.reason << " / " << both.server.reason;
}

TEST_F(CrlScopeTest, LeafChecksOnlyTheLeafAgainstItsIssuersCrl) {
  auto r = run(CrlScope::kLeaf, {intermediate_crl_.get()});
  EXPECT_TRUE(r.bothOk()) << r.client.reason << " / " << r.server.reason;
  // Fails closed: the leaf's issuer must have a CRL.
  auto root_only = run(CrlScope::kLeaf, {root_crl_.get()});
  EXPECT_FALSE(root_only.server.ok);
  EXPECT_EQ(root_only.server.reason, reason::kCrlMissing);
  // And a revoked leaf is still refused.
  X509CrlPtr revoking = createCrl(intermediate_, {client_.cert.get()});
  auto revoked = run(CrlScope::kLeaf, {revoking.get()});
  EXPECT_FALSE(revoked.server.ok);
  EXPECT_EQ(revoked.server.reason, reason::kRevoked);
}

TEST_F(CrlScopeTest, IssuersWithoutCrlNamesWhatStartUpWarnsAbout) {
  const std::string root_name = "CN=hawser development CA,O=hawser";
  const std::string intermediate_name = "CN=hawser intermediate CA,O=hawser";
  auto m = withChain(server_, root_, intermediate_, {intermediate_crl_.get()});
  EXPECT_EQ(issuersWithoutCrl(m, CrlScope::kChain), std::vector<std::string>{root_name});
  EXPECT_TRUE(issuersWithoutCrl(m, CrlScope::kLeaf).empty());
  auto root_only = withChain(server_, root_, intermediate_, {root_crl_.get()});
  EXPECT_EQ(issuersWithoutCrl(root_only, CrlScope::kLeaf), std::vector<std::string>{intermediate_name});
  EXPECT_EQ(issuersWithoutCrl(root_only, CrlScope::kChain), std::vector<std::string>{intermediate_name});
  auto none = withChain(server_, root_, intermediate_, {});
  EXPECT_TRUE(issuersWithoutCrl(none, CrlScope::kChain).empty());  // no CRL: no checking, nothing to warn of
}

}  // namespace
}  // namespace hawser::tls
