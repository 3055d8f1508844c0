// TLS material from files (config `tls`): certificate chain, private key, CA
// bundle and optional CRL, parsed and validated into owned OpenSSL objects.
// Loading never throws: a failure comes back as a problem and a message that
// names the file, so a reload can reject broken files and keep the old ones.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "dataplane/tls/openssl_handles.h"

namespace hawser::tls {

struct TlsFiles {
  std::string cert;  // PEM: the leaf first, then intermediates
  std::string key;   // PEM: the leaf's private key (unencrypted)
  std::string ca;    // PEM: trusted CA certificates
  std::string crl;   // PEM: optional ("" for none); CRLs signed by CAs in the bundle or cert-file intermediates
};

struct TlsMaterial {
  TlsFiles files;
  X509Ptr cert;                   // the leaf
  std::vector<X509Ptr> chain;     // certificates after the leaf in the cert file
  EvpPkeyPtr key;                 // never logged, never shown
  std::vector<X509Ptr> ca_certs;  // trust anchors
  std::vector<X509CrlPtr> crls;   // empty when no CRL is configured
};

enum class MaterialProblem {
  kNone,
  kUnreadable,        // a file cannot be opened or read
  kNotPem,            // a file holds no PEM at all
  kNoCertificate,     // the cert file has PEM but no (parsable) certificate
  kNoKey,             // the key file has PEM but no parsable, unencrypted private key
  kKeyMismatch,       // the key is not the certificate's key
  kCertExpired,       // the leaf's notAfter has passed
  kCertNotYetValid,   // the leaf's notBefore is in the future
  kCaEmpty,           // the CA bundle holds no certificate
  kCrlUnparsable,     // the CRL file holds no parsable CRL, or a malformed one
  kCrlNotSignedByCa,  // a CRL is signed neither by a CA in the bundle nor by an intermediate in the cert file
  kCrlExpired,        // a CRL's nextUpdate has passed
};

struct TlsMaterialResult {
  std::optional<TlsMaterial> material;
  MaterialProblem problem = MaterialProblem::kNone;
  std::string error;  // names the file and the problem; "" on success
  bool ok() const { return material.has_value(); }
};

// Reads and validates `files` at unix time `now` (0: the current time).
TlsMaterialResult loadTlsMaterial(const TlsFiles& files, std::int64_t now = 0);

// Which certificates of a peer's chain are checked against CRLs (config
// `tls.crl_check`) when CRLs are configured. Either way a certificate whose
// issuer has no CRL is refused (X509_V_ERR_UNABLE_TO_GET_CRL, `crl_missing`):
// revocation checking fails closed.
enum class CrlScope {
  kChain,  // every certificate: the leaf and each intermediate (Envoy's default)
  kLeaf,   // the leaf only (Envoy's only_verify_leaf_cert_crl)
};

// A store holding the CA certificates and CRLs, with CRL checking of `scope`
// (X509_V_FLAG_CRL_CHECK, plus X509_V_FLAG_CRL_CHECK_ALL for kChain) when
// CRLs are set.
X509StorePtr buildTrustStore(const TlsMaterial& material, CrlScope scope = CrlScope::kChain);

// The subjects (RFC 2253) of the issuers on this task's own certificate path
// (leaf, cert-file intermediates, CA bundle) whose CRL `scope` needs and the
// material lacks: with kLeaf the leaf's issuer, with kChain every CA above
// the leaf. Peers issued under the same CAs would be refused with
// `crl_missing`, so start-up warns. Empty when no CRL is configured or our own
// path does not verify (nothing can be said cheaply then).
std::vector<std::string> issuersWithoutCrl(const TlsMaterial& material, CrlScope scope);

// Verifies `cert` (with `untrusted` intermediates) against `store`; returns the
// X509_V_* result (X509_V_OK on success). `now` 0: the current time.
int verifyCertificate(X509_STORE* store, X509* cert, const std::vector<X509*>& untrusted = {}, std::int64_t now = 0);

}  // namespace hawser::tls
