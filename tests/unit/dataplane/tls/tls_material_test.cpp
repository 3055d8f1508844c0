#include "dataplane/tls/tls_material.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include "dataplane/tls/certificate_authority.h"
#include "dataplane/tls/pem.h"
#include "tls_test_support.h"

namespace hawser::tls {
namespace {

using std::chrono::hours;
using testing::workload;

// Writes a good set of files, then each test breaks one thing.
class TlsMaterialTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ca_ = createCertificateAuthority();
    leaf_ = issueWorkloadCertificate(ca_, workload("orders", "spiffe://demo/orders"));
    write("cert.pem", certificateToPem(leaf_.cert.get()) + certificateToPem(ca_.cert.get()));
    write("key.pem", privateKeyToPem(leaf_.key.get()), FileSecrecy::kPrivate);
    write("ca.pem", certificateToPem(ca_.cert.get()));
    write("crl.pem", crlToPem(createCrl(ca_, {}).get()));
    files_ = {dir_.file("cert.pem"), dir_.file("key.pem"), dir_.file("ca.pem"), dir_.file("crl.pem")};
  }
  void write(const std::string& name, const std::string& contents, FileSecrecy s = FileSecrecy::kPublic) {
    writeFileAtomically(dir_.file(name), contents, s);
  }
  // Asserts a failure with `problem` whose message names `file` and contains `words`.
  void expectFailure(MaterialProblem problem, const std::string& file, const std::string& words) {
    TlsMaterialResult r = loadTlsMaterial(files_);
    EXPECT_FALSE(r.ok());
    EXPECT_EQ(r.problem, problem) << r.error;
    EXPECT_NE(r.error.find(file), std::string::npos) << r.error;
    EXPECT_NE(r.error.find(words), std::string::npos) << r.error;
  }

  testing::TempDir dir_;
  CertifiedKey ca_, leaf_;
  TlsFiles files_;
};

TEST_F(TlsMaterialTest, LoadsGoodMaterial) {
  TlsMaterialResult r = loadTlsMaterial(files_);
  ASSERT_TRUE(r.ok()) << r.error;
  EXPECT_EQ(r.problem, MaterialProblem::kNone);
  EXPECT_TRUE(r.error.empty());
  const TlsMaterial& m = *r.material;
  EXPECT_EQ(X509_cmp(m.cert.get(), leaf_.cert.get()), 0);
  ASSERT_EQ(m.chain.size(), 1u);
  EXPECT_EQ(X509_cmp(m.chain[0].get(), ca_.cert.get()), 0);
  EXPECT_EQ(m.ca_certs.size(), 1u);
  EXPECT_EQ(m.crls.size(), 1u);
  EXPECT_EQ(m.files.cert, files_.cert);
}

TEST_F(TlsMaterialTest, CrlIsOptional) {
  files_.crl.clear();
  TlsMaterialResult r = loadTlsMaterial(files_);
  ASSERT_TRUE(r.ok()) << r.error;
  EXPECT_TRUE(r.material->crls.empty());
}

TEST_F(TlsMaterialTest, UnreadableCertificate) {
  files_.cert = dir_.file("missing.pem");
  expectFailure(MaterialProblem::kUnreadable, files_.cert, "unreadable");
}

TEST_F(TlsMaterialTest, CertificatePathIsADirectory) {
  files_.cert = dir_.path();
  expectFailure(MaterialProblem::kUnreadable, files_.cert, "unreadable");
}

TEST_F(TlsMaterialTest, UnreadableKey) {
  files_.key = dir_.file("missing-key.pem");
  expectFailure(MaterialProblem::kUnreadable, files_.key, "unreadable");
}

TEST_F(TlsMaterialTest, UnreadableCa) {
  files_.ca = dir_.file("missing-ca.pem");
  expectFailure(MaterialProblem::kUnreadable, files_.ca, "unreadable");
}

TEST_F(TlsMaterialTest, UnreadableCrl) {
  files_.crl = dir_.file("missing-crl.pem");
  expectFailure(MaterialProblem::kUnreadable, files_.crl, "unreadable");
}

TEST_F(TlsMaterialTest, CertificateNotPem) {
  write("cert.pem", "this is not a certificate\n");
  expectFailure(MaterialProblem::kNotPem, files_.cert, "not PEM");
}

TEST_F(TlsMaterialTest, KeyNotPem) {
  write("key.pem", std::string("\x30\x82\x01\x00", 4), FileSecrecy::kPrivate);
  expectFailure(MaterialProblem::kNotPem, files_.key, "not PEM");
}

TEST_F(TlsMaterialTest, CaNotPem) {
  write("ca.pem", "garbage");
  expectFailure(MaterialProblem::kNotPem, files_.ca, "not PEM");
}

TEST_F(TlsMaterialTest, CertificateFileWithoutCertificate) {
  write("cert.pem", privateKeyToPem(leaf_.key.get()));
  expectFailure(MaterialProblem::kNoCertificate, files_.cert, "no CERTIFICATE");
}

TEST_F(TlsMaterialTest, CorruptCertificateBlock) {
  write("cert.pem", "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n");
  expectFailure(MaterialProblem::kNoCertificate, files_.cert, "does not parse");
}

TEST_F(TlsMaterialTest, KeyFileWithoutKey) {
  write("key.pem", certificateToPem(leaf_.cert.get()), FileSecrecy::kPrivate);
  expectFailure(MaterialProblem::kNoKey, files_.key, "no parsable private key");
}

TEST_F(TlsMaterialTest, KeyNotMatchingCertificate) {
  write("key.pem", privateKeyToPem(generateKey().get()), FileSecrecy::kPrivate);
  TlsMaterialResult r = loadTlsMaterial(files_);
  EXPECT_EQ(r.problem, MaterialProblem::kKeyMismatch);
  EXPECT_NE(r.error.find(files_.key), std::string::npos) << r.error;
  EXPECT_NE(r.error.find(files_.cert), std::string::npos) << r.error;
  EXPECT_NE(r.error.find("does not match"), std::string::npos) << r.error;
}

TEST_F(TlsMaterialTest, ExpiredCertificate) {
  WorkloadOptions o = workload("orders", "spiffe://demo/orders");
  o.validity = {hours(-48), hours(-1)};
  CertifiedKey old = issueWorkloadCertificate(ca_, o);
  write("cert.pem", certificateToPem(old.cert.get()));
  write("key.pem", privateKeyToPem(old.key.get()), FileSecrecy::kPrivate);
  expectFailure(MaterialProblem::kCertExpired, files_.cert, "expired");
  // Loading "in the past" accepts it, which is how tests build expired peers.
  EXPECT_TRUE(loadTlsMaterial(files_, std::time(nullptr) - 24 * 3600).ok());
}

TEST_F(TlsMaterialTest, NotYetValidCertificate) {
  WorkloadOptions o = workload("orders", "spiffe://demo/orders");
  o.validity = {hours(1), hours(48)};
  CertifiedKey future = issueWorkloadCertificate(ca_, o);
  write("cert.pem", certificateToPem(future.cert.get()));
  write("key.pem", privateKeyToPem(future.key.get()), FileSecrecy::kPrivate);
  expectFailure(MaterialProblem::kCertNotYetValid, files_.cert, "not valid before");
}

TEST_F(TlsMaterialTest, EmptyCaBundle) {
  write("ca.pem", "");
  expectFailure(MaterialProblem::kCaEmpty, files_.ca, "no CA certificates");
  write("ca.pem", "\n  \n");
  expectFailure(MaterialProblem::kCaEmpty, files_.ca, "no CA certificates");
}

TEST_F(TlsMaterialTest, CaBundleWithOnlyOtherPemBlocks) {
  write("ca.pem", crlToPem(createCrl(ca_, {}).get()));
  expectFailure(MaterialProblem::kCaEmpty, files_.ca, "no CA certificates");
}

TEST_F(TlsMaterialTest, UnparsableCrl) {
  write("crl.pem", "not a crl");
  expectFailure(MaterialProblem::kCrlUnparsable, files_.crl, "not a parsable");
  write("crl.pem", "-----BEGIN X509 CRL-----\nAAAA\n-----END X509 CRL-----\n");
  expectFailure(MaterialProblem::kCrlUnparsable, files_.crl, "not a parsable");
  write("crl.pem", certificateToPem(ca_.cert.get()));
  expectFailure(MaterialProblem::kCrlUnparsable, files_.crl, "not a parsable");
}

TEST_F(TlsMaterialTest, CrlNotSignedByCa) {
  CertifiedKey other = createCertificateAuthority();  // same subject name, different key
  write("crl.pem", crlToPem(createCrl(other, {}).get()));
  expectFailure(MaterialProblem::kCrlNotSignedByCa, files_.crl, "not signed by any certificate in the CA bundle");
  CertifiedKey renamed = createCertificateAuthority({"another CA", {hours(-1), hours(24)}, 0});
  write("crl.pem", crlToPem(createCrl(renamed, {}).get()));
  expectFailure(MaterialProblem::kCrlNotSignedByCa, files_.crl, "not signed");
}

TEST_F(TlsMaterialTest, ExpiredCrl) {
  write("crl.pem", crlToPem(createCrl(ca_, {}, {hours(-48), hours(-1), 0}).get()));
  expectFailure(MaterialProblem::kCrlExpired, files_.crl, "CRL expired");
}

TEST_F(TlsMaterialTest, ErrorsNeverContainKeyMaterial) {
  std::string key_pem = privateKeyToPem(generateKey().get());
  write("key.pem", key_pem, FileSecrecy::kPrivate);
  TlsMaterialResult r = loadTlsMaterial(files_);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error.find("PRIVATE KEY"), std::string::npos);
  EXPECT_EQ(r.error.find(key_pem.substr(30, 20)), std::string::npos);
}

}  // namespace
}  // namespace hawser::tls
