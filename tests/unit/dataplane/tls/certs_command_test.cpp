#include "dataplane/tls/certs_command.h"

#include <gtest/gtest.h>

#include <sstream>

#include "dataplane/tls/identity.h"
#include "dataplane/tls/tls_material.h"
#include "tls_test_support.h"

namespace hawser::tls {
namespace {

struct CommandRun {
  int code;
  std::string out, err;
};

CommandRun runCerts(std::vector<std::string> args) {
  std::ostringstream out, err;
  int code = runCertsCommand(args, out, err);
  return {code, out.str(), err.str()};
}

class CertsCommandTest : public ::testing::Test {
 protected:
  testing::TempDir dir_;
  std::string ca() const { return dir_.file("ca"); }
  std::string out() const { return dir_.file("out"); }
  void makeCa() { ASSERT_EQ(runCerts({"ca", "--out", ca()}).code, 0); }
  int issue(std::vector<std::string> extra) {
    std::vector<std::string> args = {"issue", "--ca", ca(), "--out", out()};
    args.insert(args.end(), extra.begin(), extra.end());
    CommandRun r = runCerts(args);
    if (r.code != 0) ADD_FAILURE() << r.err;
    return r.code;
  }
  TlsMaterialResult load(const std::string& name, const std::string& crl = "", std::int64_t now = 0) {
    return loadTlsMaterial({out() + "/" + name + ".pem", out() + "/" + name + "-key.pem", ca() + "/ca.pem", crl}, now);
  }
};

TEST_F(CertsCommandTest, CaThenIssueGivesLoadableMaterial) {
  makeCa();
  EXPECT_EQ(std::filesystem::status(ca() + "/ca-key.pem").permissions() & std::filesystem::perms::all,
            std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
  ASSERT_EQ(issue({"--name", "orders", "--spiffe", "spiffe://demo/orders", "--dns", "orders.local", "--dns",
                   "localhost", "--ip", "127.0.0.1"}),
            0);
  EXPECT_EQ(std::filesystem::status(out() + "/orders-key.pem").permissions() & std::filesystem::perms::all,
            std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
  TlsMaterialResult r = load("orders");
  ASSERT_TRUE(r.ok()) << r.error;
  EXPECT_EQ(r.material->chain.size(), 1u);  // the leaf, then the CA
  SubjectAltNames sans = subjectAltNames(r.material->cert.get());
  EXPECT_EQ(sans.uris, std::vector<std::string>{"spiffe://demo/orders"});
  EXPECT_EQ(sans.dns, (std::vector<std::string>{"orders.local", "localhost"}));
  EXPECT_EQ(sans.ip_addresses, std::vector<std::string>{"127.0.0.1"});
  auto store = buildTrustStore(*r.material);
  EXPECT_EQ(verifyCertificate(store.get(), r.material->cert.get()), X509_V_OK);
}

TEST_F(CertsCommandTest, DaysExpiredAndNotBefore) {
  makeCa();
  ASSERT_EQ(issue({"--name", "short", "--spiffe", "spiffe://demo/a", "--days", "2"}), 0);
  TlsMaterialResult r = load("short");
  ASSERT_TRUE(r.ok()) << r.error;
  CertificateDescription d = describeCertificate(r.material->cert.get());
  EXPECT_NEAR(static_cast<double>(d.seconds_left), 2 * 86400.0, 120.0);

  ASSERT_EQ(issue({"--name", "old", "--spiffe", "spiffe://demo/a", "--expired"}), 0);
  EXPECT_EQ(load("old").problem, MaterialProblem::kCertExpired);

  ASSERT_EQ(issue({"--name", "future", "--spiffe", "spiffe://demo/a", "--not-before-days", "1"}), 0);
  EXPECT_EQ(load("future").problem, MaterialProblem::kCertNotYetValid);
}

TEST_F(CertsCommandTest, AnotherCaMakesUnknownCaCertificates) {
  makeCa();
  ASSERT_EQ(runCerts({"ca", "--out", dir_.file("rogue")}).code, 0);
  CommandRun r = runCerts(
      {"issue", "--ca", dir_.file("rogue"), "--out", out(), "--name", "mallory", "--spiffe", "spiffe://demo/orders"});
  ASSERT_EQ(r.code, 0) << r.err;
  TlsMaterialResult m = load("mallory");  // trusts ca(), not the rogue CA
  ASSERT_TRUE(m.ok()) << m.error;
  auto store = buildTrustStore(*m.material);
  EXPECT_EQ(verifyCertificate(store.get(), m.material->cert.get()), X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY);
}

TEST_F(CertsCommandTest, RevokeWritesACrlListingTheCertificates) {
  makeCa();
  ASSERT_EQ(issue({"--name", "a", "--spiffe", "spiffe://demo/a"}), 0);
  ASSERT_EQ(issue({"--name", "b", "--spiffe", "spiffe://demo/b"}), 0);
  ASSERT_EQ(issue({"--name", "c", "--spiffe", "spiffe://demo/c"}), 0);
  CommandRun r = runCerts(
      {"revoke", "--ca", ca(), "--serial-from", out() + "/a.pem", out() + "/b.pem", "--out", dir_.file("crl.pem")});
  ASSERT_EQ(r.code, 0) << r.err;
  TlsMaterialResult m = load("c", dir_.file("crl.pem"));
  ASSERT_TRUE(m.ok()) << m.error;
  auto store = buildTrustStore(*m.material);
  EXPECT_EQ(verifyCertificate(store.get(), m.material->cert.get()), X509_V_OK);
  for (const char* name : {"a", "b"}) {
    TlsMaterialResult revoked = load(name, dir_.file("crl.pem"));
    ASSERT_TRUE(revoked.ok()) << revoked.error;
    EXPECT_EQ(verifyCertificate(store.get(), revoked.material->cert.get()), X509_V_ERR_CERT_REVOKED) << name;
  }

  // No certificates: an empty CRL.
  ASSERT_EQ(runCerts({"revoke", "--ca", ca(), "--out", dir_.file("empty.pem")}).code, 0);
  TlsMaterialResult e = load("a", dir_.file("empty.pem"));
  ASSERT_TRUE(e.ok()) << e.error;
  auto store2 = buildTrustStore(*e.material);
  EXPECT_EQ(verifyCertificate(store2.get(), e.material->cert.get()), X509_V_OK);
}

TEST_F(CertsCommandTest, HelpExitsZero) {
  for (auto args :
       std::vector<std::vector<std::string>>{{"--help"}, {"ca", "--help"}, {"issue", "--help"}, {"revoke", "-h"}}) {
    CommandRun r = runCerts(args);
    EXPECT_EQ(r.code, 0) << args[0];
    EXPECT_NE(r.out.find("usage: hawser certs"), std::string::npos) << r.out;
  }
}

TEST_F(CertsCommandTest, UsageErrorsExitTwoWithAMessage) {
  makeCa();
  auto expectUsage = [&](std::vector<std::string> args, const std::string& words) {
    CommandRun r = runCerts(args);
    EXPECT_EQ(r.code, 2) << words;
    EXPECT_NE(r.err.find(words), std::string::npos) << r.err;
  };
  expectUsage({}, "certs needs a command");
  expectUsage({"frobnicate"}, "unknown certs command 'frobnicate'");
  expectUsage({"ca"}, "--out DIR is required");
  expectUsage({"ca", "--out"}, "--out needs a value");
  expectUsage({"ca", "--out", out(), "--days", "ten"}, "--days must be a whole number");
  expectUsage({"ca", "--out", out(), "--bogus"}, "unknown option '--bogus'");
  std::vector<std::string> base = {"issue", "--ca", ca(), "--out", out()};
  auto with = [&](std::vector<std::string> extra) {
    auto a = base;
    a.insert(a.end(), extra.begin(), extra.end());
    return a;
  };
  expectUsage(with({"--spiffe", "spiffe://demo/a"}), "--name NAME is required");
  expectUsage(with({"--name", "a"}), "--spiffe or --dns is required");
  expectUsage(with({"--name", "a", "--spiffe", "http://demo/a"}), "--spiffe must look like");
  expectUsage(with({"--name", "a", "--spiffe", "spiffe://demo"}), "--spiffe must look like");
  expectUsage(with({"--name", "a", "--spiffe", "spiffe://demo/a", "--ip", "localhost"}), "--ip must be");
  expectUsage(with({"--name", "a", "--spiffe", "spiffe://demo/a", "--days", "3", "--expired"}), "cannot be combined");
  expectUsage(with({"--name", "../a", "--spiffe", "spiffe://demo/a"}), "--name must be a plain file name");
  expectUsage(with({"--name", "a", "--spiffe", "spiffe://demo/a", "--not-before-days", "400"}),
              "validity window is empty");
  expectUsage({"revoke", "--ca", ca()}, "--out FILE is required");
  expectUsage({"revoke", "--ca", ca(), "--out", dir_.file("x.pem"), "--serial-from"}, "needs at least one value");
}

TEST_F(CertsCommandTest, RuntimeFailuresExitOne) {
  CommandRun r =
      runCerts({"issue", "--ca", dir_.file("nope"), "--out", out(), "--name", "a", "--spiffe", "spiffe://demo/a"});
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("ca.pem: unreadable"), std::string::npos) << r.err;
  makeCa();
  CommandRun r2 =
      runCerts({"revoke", "--ca", ca(), "--serial-from", dir_.file("missing.pem"), "--out", dir_.file("crl.pem")});
  EXPECT_EQ(r2.code, 1);
  EXPECT_NE(r2.err.find("missing.pem"), std::string::npos) << r2.err;
}

}  // namespace
}  // namespace hawser::tls
