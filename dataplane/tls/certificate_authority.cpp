#include "dataplane/tls/certificate_authority.h"

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <memory>

namespace hawser::tls {
namespace {

std::string lastOpenSslError() {
  unsigned long code = ERR_get_error();
  ERR_clear_error();
  if (code == 0) return "unknown OpenSSL error";
  char buf[256];
  ERR_error_string_n(code, buf, sizeof buf);
  return buf;
}

void check(int ok, const char* what) {
  if (ok != 1) throw CertificateError(std::string(what) + ": " + lastOpenSslError());
}

std::time_t nowOr(std::time_t now) {
  return now != 0 ? now : std::time(nullptr);
}

// ASN1_TIME_adj takes days and seconds separately; seconds alone may overflow a long on 32-bit.
void setTime(ASN1_TIME* t, std::time_t now, std::chrono::seconds offset) {
  long days = static_cast<long>(offset.count() / 86400);
  long secs = static_cast<long>(offset.count() % 86400);
  if (ASN1_TIME_adj(t, now, static_cast<int>(days), secs) == nullptr) {
    throw CertificateError("cannot set a certificate time: " + lastOpenSslError());
  }
}

// A random positive 127-bit serial: unique without keeping state.
void setRandomSerial(X509* cert) {
  unsigned char bytes[16];
  check(RAND_bytes(bytes, sizeof bytes), "RAND_bytes");
  bytes[0] &= 0x7f;
  bytes[0] |= 0x01;  // never zero, never negative, always 16 bytes
  std::unique_ptr<BIGNUM, OpenSslDeleter<BN_free>> bn(BN_bin2bn(bytes, sizeof bytes, nullptr));
  if (!bn || BN_to_ASN1_INTEGER(bn.get(), X509_get_serialNumber(cert)) == nullptr) {
    throw CertificateError("cannot set a serial number: " + lastOpenSslError());
  }
}

void setName(X509_NAME* name, const std::string& common_name) {
  if (common_name.empty() || common_name.size() > 64) {
    throw CertificateError("certificate common name must be 1..64 bytes: '" + common_name + "'");
  }
  check(
      X509_NAME_add_entry_by_txt(name, "O", MBSTRING_UTF8, reinterpret_cast<const unsigned char*>("hawser"), -1, -1, 0),
      "subject O");
  check(X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
                                   reinterpret_cast<const unsigned char*>(common_name.c_str()), -1, -1, 0),
        "subject CN");
}

// Adds an extension given in OpenSSL's config syntax. Only for fixed strings
// written here: user input (SANs) is encoded directly, never parsed as config.
void addExtension(X509* cert, X509V3_CTX* ctx, int nid, const char* value) {
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, ctx, nid, value);
  if (ext == nullptr)
    throw CertificateError(std::string("cannot build extension ") + value + ": " + lastOpenSslError());
  int ok = X509_add_ext(cert, ext, -1);
  X509_EXTENSION_free(ext);
  check(ok, "X509_add_ext");
}

using GeneralNamesPtr = std::unique_ptr<GENERAL_NAMES, OpenSslDeleter<GENERAL_NAMES_free>>;

void pushIa5Name(GENERAL_NAMES* names, int type, const std::string& value, bool unchecked) {
  const bool malformed =
      std::any_of(value.begin(), value.end(), [](unsigned char ch) { return ch < 0x20 || ch >= 0x7f; });
  if (!unchecked && (value.empty() || malformed)) {
    throw CertificateError("empty or malformed subject alternative name (control character, NUL or non-ASCII)");
  }
  ASN1_IA5STRING* ia5 = ASN1_IA5STRING_new();
  GENERAL_NAME* gn = GENERAL_NAME_new();
  if (ia5 == nullptr || gn == nullptr || ASN1_STRING_set(ia5, value.data(), static_cast<int>(value.size())) != 1) {
    ASN1_IA5STRING_free(ia5);
    GENERAL_NAME_free(gn);
    throw CertificateError("out of memory building a SAN");
  }
  GENERAL_NAME_set0_value(gn, type, ia5);
  if (sk_GENERAL_NAME_push(names, gn) == 0) {
    GENERAL_NAME_free(gn);
    throw CertificateError("out of memory building a SAN");
  }
}

void pushIpName(GENERAL_NAMES* names, const std::string& ip) {
  ASN1_OCTET_STRING* octets = a2i_IPADDRESS(ip.c_str());
  if (octets == nullptr) {
    ERR_clear_error();
    throw CertificateError("not an IP address: '" + ip + "'");
  }
  GENERAL_NAME* gn = GENERAL_NAME_new();
  if (gn == nullptr) {
    ASN1_OCTET_STRING_free(octets);
    throw CertificateError("out of memory building a SAN");
  }
  GENERAL_NAME_set0_value(gn, GEN_IPADD, octets);
  if (sk_GENERAL_NAME_push(names, gn) == 0) {
    GENERAL_NAME_free(gn);
    throw CertificateError("out of memory building a SAN");
  }
}

X509Ptr newCertificate(const std::string& common_name, const Validity& validity, std::time_t now) {
  if (validity.not_after <= validity.not_before) {
    throw CertificateError("certificate validity window is empty (not_after is not after not_before)");
  }
  X509Ptr cert(X509_new());
  if (!cert) throw CertificateError("out of memory");
  check(X509_set_version(cert.get(), X509_VERSION_3), "X509_set_version");
  setRandomSerial(cert.get());
  setTime(X509_getm_notBefore(cert.get()), now, validity.not_before);
  setTime(X509_getm_notAfter(cert.get()), now, validity.not_after);
  setName(X509_get_subject_name(cert.get()), common_name);
  return cert;
}

}  // namespace

EvpPkeyPtr generateKey() {
  EvpPkeyPtr key(EVP_EC_gen("P-256"));
  if (!key) throw CertificateError("cannot generate a P-256 key: " + lastOpenSslError());
  return key;
}

namespace {
// A CA certificate signed by `parent`, or self-signed when `parent` is null.
CertifiedKey createAuthority(const CertifiedKey* parent, const CaOptions& options) {
  const std::time_t now = nowOr(options.now);
  CertifiedKey ca{newCertificate(options.common_name, options.validity, now), generateKey()};
  X509* cert = ca.cert.get();
  X509* issuer = parent != nullptr ? parent->cert.get() : cert;
  EVP_PKEY* signer = parent != nullptr ? parent->key.get() : ca.key.get();
  check(X509_set_issuer_name(cert, X509_get_subject_name(issuer)), "X509_set_issuer_name");
  check(X509_set_pubkey(cert, ca.key.get()), "X509_set_pubkey");

  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  addExtension(cert, &ctx, NID_basic_constraints, "critical,CA:TRUE");
  addExtension(cert, &ctx, NID_key_usage, "critical,keyCertSign,cRLSign");
  addExtension(cert, &ctx, NID_subject_key_identifier, "hash");
  addExtension(cert, &ctx, NID_authority_key_identifier, "keyid:always");

  if (X509_sign(cert, signer, EVP_sha256()) <= 0) {
    throw CertificateError("cannot sign the CA certificate: " + lastOpenSslError());
  }
  return ca;
}
}  // namespace

CertifiedKey createCertificateAuthority(const CaOptions& options) {
  return createAuthority(nullptr, options);
}

CertifiedKey createIntermediateAuthority(const CertifiedKey& parent, const CaOptions& options) {
  if (!parent.cert || !parent.key) throw CertificateError("no CA to sign with");
  return createAuthority(&parent, options);
}

CertifiedKey issueWorkloadCertificate(const CertifiedKey& ca, const WorkloadOptions& options) {
  if (!ca.cert || !ca.key) throw CertificateError("no CA to sign with");
  if (options.uris.empty() && options.dns_names.empty() && options.ip_addresses.empty()) {
    throw CertificateError("a workload certificate needs at least one SAN (URI, DNS or IP)");
  }
  const std::time_t now = nowOr(options.now);
  CertifiedKey leaf{newCertificate(options.common_name, options.validity, now), generateKey()};
  X509* cert = leaf.cert.get();
  check(X509_set_issuer_name(cert, X509_get_subject_name(ca.cert.get())), "X509_set_issuer_name");
  check(X509_set_pubkey(cert, leaf.key.get()), "X509_set_pubkey");

  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, ca.cert.get(), cert, nullptr, nullptr, 0);
  addExtension(cert, &ctx, NID_basic_constraints, "critical,CA:FALSE");
  addExtension(cert, &ctx, NID_key_usage, "critical,digitalSignature,keyAgreement");
  addExtension(cert, &ctx, NID_ext_key_usage, "serverAuth,clientAuth");
  addExtension(cert, &ctx, NID_subject_key_identifier, "hash");
  addExtension(cert, &ctx, NID_authority_key_identifier, "keyid:always");

  GeneralNamesPtr names(sk_GENERAL_NAME_new_null());
  if (!names) throw CertificateError("out of memory");
  for (const auto& uri : options.uris) pushIa5Name(names.get(), GEN_URI, uri, options.unchecked_sans);
  for (const auto& dns : options.dns_names) pushIa5Name(names.get(), GEN_DNS, dns, options.unchecked_sans);
  for (const auto& ip : options.ip_addresses) pushIpName(names.get(), ip);
  // SPIFFE: the SAN extension is critical when the subject carries no identity of its own;
  // hawser keeps a CN, so it stays non-critical like most issuers.
  check(X509_add1_ext_i2d(cert, NID_subject_alt_name, names.get(), 0, X509V3_ADD_DEFAULT), "subjectAltName");

  if (X509_sign(cert, ca.key.get(), EVP_sha256()) <= 0) {
    throw CertificateError("cannot sign the workload certificate: " + lastOpenSslError());
  }
  return leaf;
}

X509CrlPtr createCrl(const CertifiedKey& ca, const std::vector<const X509*>& revoked, const CrlOptions& options) {
  if (!ca.cert || !ca.key) throw CertificateError("no CA to sign with");
  const std::time_t now = nowOr(options.now);
  X509CrlPtr crl(X509_CRL_new());
  if (!crl) throw CertificateError("out of memory");
  check(X509_CRL_set_version(crl.get(), X509_CRL_VERSION_2), "X509_CRL_set_version");
  check(X509_CRL_set_issuer_name(crl.get(), X509_get_subject_name(ca.cert.get())), "X509_CRL_set_issuer_name");

  std::unique_ptr<ASN1_TIME, OpenSslDeleter<ASN1_TIME_free>> last(ASN1_TIME_new()), next(ASN1_TIME_new());
  std::unique_ptr<ASN1_TIME, OpenSslDeleter<ASN1_TIME_free>> revoked_at(ASN1_TIME_new());
  if (!last || !next || !revoked_at) throw CertificateError("out of memory");
  setTime(last.get(), now, options.last_update);
  setTime(next.get(), now, options.next_update);
  setTime(revoked_at.get(), now, options.last_update);
  check(X509_CRL_set1_lastUpdate(crl.get(), last.get()), "X509_CRL_set1_lastUpdate");
  check(X509_CRL_set1_nextUpdate(crl.get(), next.get()), "X509_CRL_set1_nextUpdate");

  for (const X509* cert : revoked) {
    X509_REVOKED* entry = X509_REVOKED_new();
    if (entry == nullptr) throw CertificateError("out of memory");
    if (X509_REVOKED_set_serialNumber(entry, const_cast<ASN1_INTEGER*>(X509_get0_serialNumber(cert))) != 1 ||
        X509_REVOKED_set_revocationDate(entry, revoked_at.get()) != 1 || X509_CRL_add0_revoked(crl.get(), entry) != 1) {
      X509_REVOKED_free(entry);
      throw CertificateError("cannot add a revoked serial: " + lastOpenSslError());
    }
  }
  check(X509_CRL_sort(crl.get()), "X509_CRL_sort");

  // crlNumber must grow with each CRL; the issuing time does, without state.
  std::unique_ptr<ASN1_INTEGER, OpenSslDeleter<ASN1_INTEGER_free>> number(ASN1_INTEGER_new());
  if (!number || ASN1_INTEGER_set_int64(number.get(), static_cast<int64_t>(now)) != 1) {
    throw CertificateError("out of memory");
  }
  check(X509_CRL_add1_ext_i2d(crl.get(), NID_crl_number, number.get(), 0, X509V3_ADD_DEFAULT), "crlNumber");
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, ca.cert.get(), nullptr, nullptr, crl.get(), 0);
  X509_EXTENSION* aki = X509V3_EXT_conf_nid(nullptr, &ctx, NID_authority_key_identifier, "keyid:always");
  if (aki == nullptr) throw CertificateError("cannot build the CRL authority key identifier: " + lastOpenSslError());
  int ok = X509_CRL_add_ext(crl.get(), aki, -1);
  X509_EXTENSION_free(aki);
  check(ok, "X509_CRL_add_ext");

  if (X509_CRL_sign(crl.get(), ca.key.get(), EVP_sha256()) <= 0) {
    throw CertificateError("cannot sign the CRL: " + lastOpenSslError());
  }
  return crl;
}

}  // namespace hawser::tls
