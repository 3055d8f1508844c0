#include "dataplane/tls/certificate_authority.h"

#include <gtest/gtest.h>
#include <openssl/x509v3.h>

#include "dataplane/tls/identity.h"
#include "dataplane/tls/tls_material.h"
#include "tls_test_support.h"

namespace hawser::tls {
namespace {

using std::chrono::hours;
using testing::materialFor;
using testing::workload;

TEST(CertificateAuthorityTest, CaIsSelfSignedWithCaFlags) {
  CertifiedKey ca = createCertificateAuthority();
  X509* cert = ca.cert.get();
  EXPECT_EQ(X509_check_ca(cert), 1);
  EXPECT_EQ(X509_NAME_cmp(X509_get_subject_name(cert), X509_get_issuer_name(cert)), 0);
  EXPECT_EQ(X509_verify(cert, ca.key.get()), 1);
  EXPECT_TRUE(X509_get_extension_flags(cert) & EXFLAG_CA);
  for (int nid : {NID_basic_constraints, NID_key_usage}) {
    X509_EXTENSION* ext = X509_get_ext(cert, X509_get_ext_by_NID(cert, nid, -1));
    ASSERT_NE(ext, nullptr) << nid;
    EXPECT_EQ(X509_EXTENSION_get_critical(ext), 1) << nid;
  }
  EXPECT_EQ(X509_get_key_usage(cert), static_cast<uint32_t>(KU_KEY_CERT_SIGN | KU_CRL_SIGN));
  ASSERT_NE(X509_get0_subject_key_id(cert), nullptr);
  ASSERT_NE(X509_get0_authority_key_id(cert), nullptr);
  EXPECT_EQ(ASN1_OCTET_STRING_cmp(X509_get0_subject_key_id(cert), X509_get0_authority_key_id(cert)), 0);
  EXPECT_EQ(EVP_PKEY_get_base_id(ca.key.get()), EVP_PKEY_EC);
  EXPECT_EQ(EVP_PKEY_get_bits(ca.key.get()), 256);
  EXPECT_EQ(X509_get_version(cert), X509_VERSION_3);
}

TEST(CertificateAuthorityTest, WorkloadCertificateHasSansUsagesAndChainsToCa) {
  CertifiedKey ca = createCertificateAuthority();
  WorkloadOptions o = workload("orders", "spiffe://demo/orders");
  o.dns_names = {"orders.demo.local", "localhost"};
  o.ip_addresses = {"127.0.0.1", "::1"};
  CertifiedKey leaf = issueWorkloadCertificate(ca, o);

  SubjectAltNames sans = subjectAltNames(leaf.cert.get());
  EXPECT_EQ(sans.uris, std::vector<std::string>{"spiffe://demo/orders"});
  EXPECT_EQ(sans.dns, (std::vector<std::string>{"orders.demo.local", "localhost"}));
  EXPECT_EQ(sans.ip_addresses, (std::vector<std::string>{"127.0.0.1", "::1"}));

  X509* cert = leaf.cert.get();
  EXPECT_EQ(X509_check_ca(cert), 0);
  EXPECT_EQ(X509_get_extended_key_usage(cert) & (XKU_SSL_SERVER | XKU_SSL_CLIENT),
            static_cast<uint32_t>(XKU_SSL_SERVER | XKU_SSL_CLIENT));
  EXPECT_TRUE(X509_get_key_usage(cert) & KU_DIGITAL_SIGNATURE);
  EXPECT_EQ(X509_check_private_key(cert, leaf.key.get()), 1);
  EXPECT_EQ(ASN1_OCTET_STRING_cmp(X509_get0_authority_key_id(cert), X509_get0_subject_key_id(ca.cert.get())), 0);
  EXPECT_EQ(X509_check_ip_asc(cert, "127.0.0.1", 0), 1);
  EXPECT_EQ(X509_check_host(cert, "orders.demo.local", 0, 0, nullptr), 1);

  TlsMaterial m = materialFor(leaf, {&ca});
  auto store = buildTrustStore(m);
  EXPECT_EQ(verifyCertificate(store.get(), cert), X509_V_OK);
}

TEST(CertificateAuthorityTest, SerialsAreUniqueAndPositive) {
  CertifiedKey ca = createCertificateAuthority();
  CertifiedKey a = issueWorkloadCertificate(ca, workload("a", "spiffe://demo/a"));
  CertifiedKey b = issueWorkloadCertificate(ca, workload("b", "spiffe://demo/b"));
  EXPECT_NE(ASN1_INTEGER_cmp(X509_get0_serialNumber(a.cert.get()), X509_get0_serialNumber(b.cert.get())), 0);
  EXPECT_NE(ASN1_STRING_type(X509_get0_serialNumber(a.cert.get())), V_ASN1_NEG_INTEGER);
}

TEST(CertificateAuthorityTest, ValidityOffsetsMakeExpiredAndNotYetValidCertificates) {
  CertifiedKey ca = createCertificateAuthority({"test CA", {hours(-72), hours(72)}, 0});
  WorkloadOptions expired = workload("old", "spiffe://demo/old");
  expired.validity = {hours(-48), hours(-24)};
  WorkloadOptions future = workload("new", "spiffe://demo/new");
  future.validity = {hours(24), hours(48)};
  CertifiedKey e = issueWorkloadCertificate(ca, expired);
  CertifiedKey f = issueWorkloadCertificate(ca, future);

  TlsMaterial m = materialFor(e, {&ca});
  auto store = buildTrustStore(m);
  EXPECT_EQ(verifyCertificate(store.get(), e.cert.get()), X509_V_ERR_CERT_HAS_EXPIRED);
  EXPECT_EQ(verifyCertificate(store.get(), f.cert.get()), X509_V_ERR_CERT_NOT_YET_VALID);
  // The same certificates are fine at a time inside their windows.
  EXPECT_EQ(verifyCertificate(store.get(), e.cert.get(), {}, std::time(nullptr) - 36 * 3600), X509_V_OK);
  EXPECT_EQ(verifyCertificate(store.get(), f.cert.get(), {}, std::time(nullptr) + 36 * 3600), X509_V_OK);
  // And a chain is only as valid as its CA.
  EXPECT_EQ(verifyCertificate(store.get(), e.cert.get(), {}, std::time(nullptr) - 100 * 3600),
            X509_V_ERR_CERT_NOT_YET_VALID);
}

TEST(CertificateAuthorityTest, CertificateFromAnotherCaIsUnknown) {
  CertifiedKey ca = createCertificateAuthority();
  CertifiedKey other = createCertificateAuthority({"other CA", {hours(-1), hours(24)}, 0});
  CertifiedKey leaf = issueWorkloadCertificate(other, workload("mallory", "spiffe://demo/orders"));
  TlsMaterial m = materialFor(leaf, {&ca});
  auto store = buildTrustStore(m);
  EXPECT_EQ(verifyCertificate(store.get(), leaf.cert.get()), X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY);
}

TEST(CertificateAuthorityTest, RejectsBadRequests) {
  CertifiedKey ca = createCertificateAuthority();
  WorkloadOptions none;
  none.common_name = "x";
  EXPECT_THROW(issueWorkloadCertificate(ca, none), CertificateError);
  WorkloadOptions bad_ip = workload("x", "spiffe://demo/x");
  bad_ip.ip_addresses = {"300.1.1.1"};
  EXPECT_THROW(issueWorkloadCertificate(ca, bad_ip), CertificateError);
  WorkloadOptions empty_window = workload("x", "spiffe://demo/x");
  empty_window.validity = {hours(1), hours(1)};
  EXPECT_THROW(issueWorkloadCertificate(ca, empty_window), CertificateError);
  WorkloadOptions long_cn = workload(std::string(65, 'a'), "spiffe://demo/x");
  EXPECT_THROW(issueWorkloadCertificate(ca, long_cn), CertificateError);
}

TEST(CertificateAuthorityTest, CrlRevocationIsVisibleToStoreVerification) {
  CertifiedKey ca = createCertificateAuthority();
  CertifiedKey good = issueWorkloadCertificate(ca, workload("good", "spiffe://demo/good"));
  CertifiedKey bad = issueWorkloadCertificate(ca, workload("bad", "spiffe://demo/bad"));
  X509CrlPtr crl = createCrl(ca, {bad.cert.get()});
  ASSERT_NE(crl, nullptr);
  EXPECT_EQ(X509_CRL_verify(crl.get(), X509_get0_pubkey(ca.cert.get())), 1);
  EXPECT_EQ(sk_X509_REVOKED_num(X509_CRL_get_REVOKED(crl.get())), 1);

  TlsMaterial m = materialFor(good, {&ca}, crl.get());
  auto store = buildTrustStore(m);
  EXPECT_EQ(verifyCertificate(store.get(), good.cert.get()), X509_V_OK);
  EXPECT_EQ(verifyCertificate(store.get(), bad.cert.get()), X509_V_ERR_CERT_REVOKED);

  // An empty CRL revokes nothing but still satisfies CRL checking.
  X509CrlPtr empty = createCrl(ca, {});
  TlsMaterial m2 = materialFor(good, {&ca}, empty.get());
  auto store2 = buildTrustStore(m2);
  EXPECT_EQ(verifyCertificate(store2.get(), bad.cert.get()), X509_V_OK);
}

TEST(CertificateAuthorityTest, PemRoundTrip) {
  CertifiedKey ca = createCertificateAuthority();
  std::string pem = certificateToPem(ca.cert.get()) + privateKeyToPem(ca.key.get());
  auto certs = certificatesFromPem(pem);
  ASSERT_EQ(certs.size(), 1u);
  EXPECT_EQ(X509_cmp(certs[0].get(), ca.cert.get()), 0);
  auto key = privateKeyFromPem(pem);
  ASSERT_NE(key, nullptr);
  EXPECT_EQ(EVP_PKEY_eq(key.get(), ca.key.get()), 1);
  X509CrlPtr crl = createCrl(ca, {});
  auto crls = crlsFromPem(crlToPem(crl.get()));
  EXPECT_EQ(crls.size(), 1u);
}

TEST(CertificateAuthorityTest, KeyFilesAreWrittenWithMode0600) {
  testing::TempDir dir;
  CertifiedKey ca = createCertificateAuthority();
  writeFileAtomically(dir.file("k.pem"), privateKeyToPem(ca.key.get()), FileSecrecy::kPrivate);
  writeFileAtomically(dir.file("c.pem"), certificateToPem(ca.cert.get()), FileSecrecy::kPublic);
  using std::filesystem::perms;
  EXPECT_EQ(std::filesystem::status(dir.file("k.pem")).permissions() & perms::all,
            perms::owner_read | perms::owner_write);
  EXPECT_EQ(std::filesystem::status(dir.file("c.pem")).permissions() & perms::all,
            perms::owner_read | perms::owner_write | perms::group_read | perms::others_read);
  EXPECT_THROW(writeFileAtomically(dir.file("missing/x.pem"), "x", FileSecrecy::kPublic), CertificateError);
}

}  // namespace
}  // namespace hawser::tls
