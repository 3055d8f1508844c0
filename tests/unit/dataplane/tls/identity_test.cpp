#include "dataplane/tls/identity.h"

#include <gtest/gtest.h>

#include "tls_test_support.h"

namespace hawser::tls {
namespace {

using testing::workload;

class IdentityTest : public ::testing::Test {
 protected:
  CertifiedKey ca_ = createCertificateAuthority();
  CertifiedKey issue(std::vector<std::string> uris, std::vector<std::string> dns) {
    WorkloadOptions o;
    o.common_name = "svc";
    o.uris = std::move(uris);
    o.dns_names = std::move(dns);
    return issueWorkloadCertificate(ca_, o);
  }
};

TEST_F(IdentityTest, ExtractsUriAndDnsSans) {
  CertifiedKey c = issue({"https://example.com/x", "spiffe://demo/orders"}, {"orders.local", "orders"});
  SubjectAltNames sans = subjectAltNames(c.cert.get());
  EXPECT_EQ(sans.uris, (std::vector<std::string>{"https://example.com/x", "spiffe://demo/orders"}));
  EXPECT_EQ(sans.dns, (std::vector<std::string>{"orders.local", "orders"}));
  EXPECT_TRUE(sans.ip_addresses.empty());
}

TEST_F(IdentityTest, IdentityIsTheSpiffeUriElseFirstDns) {
  EXPECT_EQ(peerIdentity(issue({"spiffe://demo/orders"}, {"a.local"}).cert.get()), "spiffe://demo/orders");
  // An X.509-SVID has exactly one URI SAN: with more, the certificate proves no identity.
  EXPECT_EQ(
      peerIdentity(issue({"https://example.com/x", "spiffe://demo/orders", "spiffe://demo/b"}, {"a.local"}).cert.get()),
      std::nullopt);
  EXPECT_EQ(peerIdentity(issue({}, {"orders.local", "b.local"}).cert.get()), "orders.local");
  // A non-SPIFFE URI is not an identity; the DNS SAN is.
  EXPECT_EQ(peerIdentity(issue({"https://example.com/x"}, {"web.local"}).cert.get()), "web.local");
  EXPECT_EQ(peerIdentity(issue({"https://example.com/x"}, {}).cert.get()), std::nullopt);
  EXPECT_EQ(peerIdentity(static_cast<const X509*>(nullptr)), std::nullopt);
  // The CA has no SANs at all.
  EXPECT_EQ(peerIdentity(ca_.cert.get()), std::nullopt);
  EXPECT_TRUE(subjectAltNames(ca_.cert.get()).uris.empty());
}

TEST(IdentitySpiffeTest, RecognisesSpiffeIds) {
  EXPECT_TRUE(isSpiffeId("spiffe://demo/orders"));
  EXPECT_TRUE(isSpiffeId("SPIFFE://demo/orders"));
  EXPECT_FALSE(isSpiffeId("spiffe://"));
  EXPECT_FALSE(isSpiffeId("spiffe:///orders"));
  EXPECT_FALSE(isSpiffeId("https://demo/orders"));
  EXPECT_FALSE(isSpiffeId(""));
}

TEST(IdentityMatchTest, ExactMatch) {
  EXPECT_TRUE(identityMatches("spiffe://demo/orders", "spiffe://demo/orders"));
  EXPECT_FALSE(identityMatches("spiffe://demo/orders", "spiffe://demo/orders2"));
  EXPECT_FALSE(identityMatches("spiffe://demo/orders", "spiffe://demo/order"));
  EXPECT_FALSE(identityMatches("spiffe://demo/orders", "SPIFFE://demo/orders"));
  EXPECT_TRUE(identityMatches("orders.local", "orders.local"));
}

TEST(IdentityMatchTest, PrefixMatch) {
  EXPECT_TRUE(identityMatches("spiffe://demo/*", "spiffe://demo/orders"));
  EXPECT_TRUE(identityMatches("spiffe://demo/*", "spiffe://demo/payments/v2"));
  EXPECT_FALSE(identityMatches("spiffe://demo/*", "spiffe://other/orders"));
  EXPECT_FALSE(identityMatches("spiffe://demo/*", "spiffe://demo"));
  EXPECT_FALSE(identityMatches("spiffe://demo/*", "spiffe://demonic/orders"));
  EXPECT_TRUE(identityMatches("spiffe://demo/ord*", "spiffe://demo/orders"));
}

TEST(IdentityMatchTest, StarAloneMatchesAnyIdentityButNotNone) {
  EXPECT_TRUE(identityMatches("*", "spiffe://demo/orders"));
  EXPECT_TRUE(identityMatches("*", "orders.local"));
  EXPECT_FALSE(identityMatches("*", ""));
}

TEST(IdentityMatchTest, NonMatchesAndEdgeCases) {
  EXPECT_FALSE(identityMatches("", "spiffe://demo/orders"));
  EXPECT_FALSE(identityMatches("spiffe://demo/orders", ""));
  // '*' only counts at the end; elsewhere it is a literal character.
  EXPECT_FALSE(identityMatches("spiffe://*/orders", "spiffe://demo/orders"));
  EXPECT_TRUE(identityMatches("spiffe://*/orders", "spiffe://*/orders"));
}

TEST(IdentityMatchTest, AllowList) {
  std::vector<std::string> allow = {"spiffe://demo/frontend", "spiffe://ops/*"};
  EXPECT_TRUE(identityAllowed(allow, "spiffe://demo/frontend"));
  EXPECT_TRUE(identityAllowed(allow, "spiffe://ops/debugger"));
  EXPECT_FALSE(identityAllowed(allow, "spiffe://demo/backend"));
  EXPECT_FALSE(identityAllowed({}, "spiffe://demo/frontend"));
}

TEST(IdentityDefaultTest, DefaultServiceIdentity) {
  EXPECT_EQ(defaultServiceIdentity("demo", "orders"), "spiffe://demo/orders");
}

TEST_F(IdentityTest, CheckPresentedIdentityConsidersEverySan) {
  CertifiedKey c = issue({"spiffe://demo/orders"}, {"orders.local"});
  IdentityCheck a = checkPresentedIdentity(c.cert.get(), {"spiffe://demo/orders"});
  EXPECT_TRUE(a.matched);
  EXPECT_EQ(a.presented, "spiffe://demo/orders");
  EXPECT_TRUE(checkPresentedIdentity(c.cert.get(), {"orders.local"}).matched);
  EXPECT_TRUE(checkPresentedIdentity(c.cert.get(), {"x", "spiffe://demo/*"}).matched);
  IdentityCheck b = checkPresentedIdentity(c.cert.get(), {"spiffe://demo/payments"});
  EXPECT_FALSE(b.matched);
  EXPECT_EQ(b.presented, "spiffe://demo/orders");
  EXPECT_FALSE(checkPresentedIdentity(c.cert.get(), {}).matched);
}

TEST_F(IdentityTest, DescribeCertificate) {
  WorkloadOptions o = workload("orders", "spiffe://demo/orders");
  o.dns_names = {"orders.local"};
  o.ip_addresses = {"10.0.0.1"};
  o.now = 1'700'000'000;
  o.validity = {std::chrono::seconds(-60), std::chrono::hours(24)};
  CertifiedKey c = issueWorkloadCertificate(ca_, o);
  CertificateDescription d = describeCertificate(c.cert.get(), 1'700'000'000 + 3600);
  EXPECT_EQ(d.subject, "CN=orders,O=hawser");
  EXPECT_EQ(d.issuer, "CN=hawser development CA,O=hawser");
  EXPECT_EQ(d.identity, "spiffe://demo/orders");
  EXPECT_EQ(d.sans.uris, std::vector<std::string>{"spiffe://demo/orders"});
  EXPECT_EQ(d.sans.dns, std::vector<std::string>{"orders.local"});
  EXPECT_EQ(d.sans.ip_addresses, std::vector<std::string>{"10.0.0.1"});
  EXPECT_EQ(d.not_before, 1'700'000'000 - 60);
  EXPECT_EQ(d.not_after, 1'700'000'000 + 86400);
  EXPECT_EQ(d.seconds_left, 86400 - 3600);
  EXPECT_EQ(d.serial.size(), 32u);
  EXPECT_EQ(d.serial.find_first_not_of("0123456789ABCDEF"), std::string::npos);
}

}  // namespace
}  // namespace hawser::tls
