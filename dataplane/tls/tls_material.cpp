#include "dataplane/tls/tls_material.h"

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <ctime>

#include "dataplane/tls/identity.h"
#include "dataplane/tls/pem.h"

namespace hawser::tls {
namespace {

TlsMaterialResult failure(MaterialProblem problem, std::string error) {
  TlsMaterialResult r;
  r.problem = problem;
  r.error = std::move(error);
  return r;
}

std::string timeText(const ASN1_TIME* t) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio || ASN1_TIME_print(bio.get(), t) != 1) return "?";
  char* data = nullptr;
  long n = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, n > 0 ? static_cast<size_t>(n) : 0);
}

bool isBlank(std::string_view text) {
  return text.find_first_not_of(" \t\r\n") == std::string_view::npos;
}

// Reads `path` for the file named `what`; on failure fills `result`.
bool readPemFile(const std::string& what, const std::string& path, std::string& contents, TlsMaterialResult& result,
                 bool blank_is_empty_ca = false) {
  std::string error;
  if (!readWholeFile(path, contents, error)) {
    result = failure(MaterialProblem::kUnreadable, what + " " + path + ": unreadable: " + error);
    return false;
  }
  if (blank_is_empty_ca && isBlank(contents)) {
    result = failure(MaterialProblem::kCaEmpty, what + " " + path + ": empty: no CA certificates");
    return false;
  }
  if (!looksLikePem(contents)) {
    result = failure(MaterialProblem::kNotPem, what + " " + path + ": not PEM (no -----BEGIN line)");
    return false;
  }
  return true;
}

}  // namespace

TlsMaterialResult loadTlsMaterial(const TlsFiles& files, std::int64_t now) {
  const std::time_t at = now != 0 ? static_cast<std::time_t>(now) : std::time(nullptr);
  TlsMaterialResult result;
  TlsMaterial m;
  m.files = files;

  // Certificate chain.
  std::string text;
  if (!readPemFile("certificate file", files.cert, text, result)) return result;
  bool malformed = false;
  auto certs = certificatesFromPem(text, &malformed);
  if (certs.empty() || malformed) {
    return failure(MaterialProblem::kNoCertificate,
                   "certificate file " + files.cert +
                       (malformed ? ": a CERTIFICATE block does not parse" : ": no CERTIFICATE block found"));
  }
  m.cert = std::move(certs.front());
  for (size_t i = 1; i < certs.size(); ++i) m.chain.push_back(std::move(certs[i]));

  // Private key.
  if (!readPemFile("private key file", files.key, text, result)) return result;
  m.key = privateKeyFromPem(text);
  OPENSSL_cleanse(text.data(), text.size());
  if (!m.key) {
    return failure(MaterialProblem::kNoKey,
                   "private key file " + files.key + ": no parsable private key (encrypted keys are not supported)");
  }
  if (X509_check_private_key(m.cert.get(), m.key.get()) != 1) {
    ERR_clear_error();
    return failure(MaterialProblem::kKeyMismatch,
                   "private key file " + files.key + " does not match the certificate in " + files.cert);
  }

  // Validity of the leaf: expired or future material must not replace good material.
  if (X509_cmp_time(X509_get0_notAfter(m.cert.get()), const_cast<std::time_t*>(&at)) <= 0) {
    return failure(MaterialProblem::kCertExpired, "certificate file " + files.cert + ": certificate expired at " +
                                                      timeText(X509_get0_notAfter(m.cert.get())));
  }
  if (X509_cmp_time(X509_get0_notBefore(m.cert.get()), const_cast<std::time_t*>(&at)) > 0) {
    return failure(MaterialProblem::kCertNotYetValid, "certificate file " + files.cert +
                                                          ": certificate not valid before " +
                                                          timeText(X509_get0_notBefore(m.cert.get())));
  }

  // CA bundle.
  if (!readPemFile("CA bundle", files.ca, text, result, /*blank_is_empty_ca=*/true)) return result;
  m.ca_certs = certificatesFromPem(text, &malformed);
  if (m.ca_certs.empty()) {
    return failure(MaterialProblem::kCaEmpty, "CA bundle " + files.ca + ": empty: no CA certificates");
  }
  if (malformed) {
    return failure(MaterialProblem::kNoCertificate, "CA bundle " + files.ca + ": a CERTIFICATE block does not parse");
  }

  // CRLs, each of which must be signed by a CA in the bundle.
  if (!files.crl.empty()) {
    std::string error;
    if (!readWholeFile(files.crl, text, error)) {
      return failure(MaterialProblem::kUnreadable, "CRL file " + files.crl + ": unreadable: " + error);
    }
    m.crls = crlsFromPem(text, &malformed);
    if (m.crls.empty() || malformed) {
      return failure(MaterialProblem::kCrlUnparsable, "CRL file " + files.crl + ": not a parsable PEM X509 CRL");
    }
    // An intermediate's CRL is signed by the intermediate, which is often
    // not in the bundle (only the root is) but in our own cert file.
    auto signedBy = [](const X509_CRL* crl, const std::vector<X509Ptr>& certs) {
      for (const auto& ca : certs) {
        if (X509_NAME_cmp(X509_CRL_get_issuer(crl), X509_get_subject_name(ca.get())) == 0 &&
            X509_CRL_verify(const_cast<X509_CRL*>(crl), X509_get0_pubkey(ca.get())) == 1) {
          return true;
        }
      }
      return false;
    };
    for (const auto& crl : m.crls) {
      const bool signed_by_ca = signedBy(crl.get(), m.ca_certs) || signedBy(crl.get(), m.chain);
      ERR_clear_error();
      if (!signed_by_ca) {
        return failure(MaterialProblem::kCrlNotSignedByCa, "CRL file " + files.crl +
                                                               ": not signed by any certificate in the CA bundle " +
                                                               files.ca + " or an intermediate in " + files.cert);
      }
      const ASN1_TIME* next = X509_CRL_get0_nextUpdate(crl.get());
      if (next != nullptr && X509_cmp_time(next, const_cast<std::time_t*>(&at)) <= 0) {
        return failure(MaterialProblem::kCrlExpired,
                       "CRL file " + files.crl + ": CRL expired (next update was " + timeText(next) + ")");
      }
    }
  }

  result.material = std::move(m);
  return result;
}

X509StorePtr buildTrustStore(const TlsMaterial& material, CrlScope scope) {
  X509StorePtr store(X509_STORE_new());
  if (!store) return nullptr;
  for (const auto& ca : material.ca_certs) {
    if (X509_STORE_add_cert(store.get(), ca.get()) != 1) {
      // A duplicate CA in the bundle is harmless.
      unsigned long err = ERR_peek_last_error();
      if (ERR_GET_REASON(err) != X509_R_CERT_ALREADY_IN_HASH_TABLE) return nullptr;
      ERR_clear_error();
    }
  }
  if (!material.crls.empty()) {
    for (const auto& crl : material.crls) {
      if (X509_STORE_add_crl(store.get(), crl.get()) != 1) return nullptr;
    }
    X509_STORE_set_flags(store.get(), scope == CrlScope::kChain ? X509_V_FLAG_CRL_CHECK | X509_V_FLAG_CRL_CHECK_ALL
                                                                : X509_V_FLAG_CRL_CHECK);
  }
  return store;
}

std::vector<std::string> issuersWithoutCrl(const TlsMaterial& material, CrlScope scope) {
  std::vector<std::string> missing;
  if (material.crls.empty() || !material.cert) return missing;
  // Our own path, built without CRL checks.
  TlsMaterial anchors;
  for (const auto& ca : material.ca_certs) anchors.ca_certs.push_back(shareCertificate(ca.get()));
  X509StorePtr store = buildTrustStore(anchors);
  X509StoreCtxPtr ctx(X509_STORE_CTX_new());
  STACK_OF(X509)* untrusted = sk_X509_new_null();
  if (!store || !ctx || untrusted == nullptr) {
    sk_X509_free(untrusted);
    return missing;
  }
  for (const auto& c : material.chain) sk_X509_push(untrusted, c.get());
  if (X509_STORE_CTX_init(ctx.get(), store.get(), material.cert.get(), untrusted) == 1 &&
      X509_verify_cert(ctx.get()) == 1) {
    STACK_OF(X509)* path = X509_STORE_CTX_get0_chain(ctx.get());
    // path[0] is the leaf; path[i] issued path[i-1]. kChain also checks the
    // intermediates, so every CA on the path needs its CRL.
    const int last = scope == CrlScope::kChain ? sk_X509_num(path) - 1 : std::min(1, sk_X509_num(path) - 1);
    for (int i = 1; i <= last; ++i) {
      const X509* issuer = sk_X509_value(path, i);
      bool found = false;
      for (const auto& crl : material.crls) {
        found = found || X509_NAME_cmp(X509_CRL_get_issuer(crl.get()), X509_get_subject_name(issuer)) == 0;
      }
      if (!found) missing.push_back(describeCertificate(issuer).subject);
    }
  }
  sk_X509_free(untrusted);
  ERR_clear_error();
  return missing;
}

int verifyCertificate(X509_STORE* store, X509* cert, const std::vector<X509*>& untrusted, std::int64_t now) {
  X509StoreCtxPtr ctx(X509_STORE_CTX_new());
  STACK_OF(X509)* chain = sk_X509_new_null();
  if (!ctx || chain == nullptr) {
    sk_X509_free(chain);
    return X509_V_ERR_OUT_OF_MEM;
  }
  for (X509* c : untrusted) sk_X509_push(chain, c);
  int result = X509_V_ERR_UNSPECIFIED;
  if (X509_STORE_CTX_init(ctx.get(), store, cert, chain) == 1) {
    if (now != 0) X509_STORE_CTX_set_time(ctx.get(), 0, static_cast<std::time_t>(now));
    result = X509_verify_cert(ctx.get()) == 1 ? X509_V_OK : X509_STORE_CTX_get_error(ctx.get());
  }
  sk_X509_free(chain);
  ERR_clear_error();
  return result;
}

}  // namespace hawser::tls
