// A development certificate authority: EC P-256 keys, a self-signed CA,
// workload certificates with SPIFFE URI / DNS / IP SANs, and CRLs. Used by
// `hawser certs`, the demo and the tests (which need expired, not-yet-valid
// and foreign-CA certificates on demand). Not on the data path: failures throw
// CertificateError.
#pragma once

#include <chrono>
#include <ctime>
#include <string>
#include <vector>

#include "dataplane/tls/openssl_handles.h"
#include "dataplane/tls/pem.h"

namespace hawser::tls {

// A certificate with its private key (a CA, or a workload).
struct CertifiedKey {
  X509Ptr cert;
  EvpPkeyPtr key;
};

// Validity window as offsets from `now`; negative offsets lie in the past, so
// {-2 days, -1 day} is an expired certificate and {+1 day, +2 days} one that
// is not yet valid.
struct Validity {
  std::chrono::seconds not_before = std::chrono::minutes(-5);  // tolerate clock skew
  std::chrono::seconds not_after = std::chrono::hours(24 * 365);
};

struct CaOptions {
  std::string common_name = "hawser development CA";
  Validity validity{std::chrono::hours(-1), std::chrono::hours(24 * 3650)};
  std::time_t now = 0;  // 0: the current time
};

struct WorkloadOptions {
  std::string common_name;                // subject CN (at most 64 bytes)
  std::vector<std::string> uris;          // URI SANs, e.g. spiffe://demo/orders
  std::vector<std::string> dns_names;     // DNS SANs
  std::vector<std::string> ip_addresses;  // IP SANs, IPv4 or IPv6 text
  Validity validity;
  std::time_t now = 0;  // 0: the current time
  // Tests only: URI and DNS SANs are encoded byte for byte, NUL and control
  // characters included, to build the certificates hawser must refuse.
  // Otherwise such a SAN is a CertificateError: the CA never issues them.
  bool unchecked_sans = false;
};

struct CrlOptions {
  std::chrono::seconds last_update = std::chrono::minutes(-5);
  std::chrono::seconds next_update = std::chrono::hours(24 * 30);
  std::time_t now = 0;  // 0: the current time
};

// A new P-256 key pair.
EvpPkeyPtr generateKey();

// A self-signed CA: basicConstraints critical CA:TRUE, keyUsage critical
// keyCertSign+cRLSign, subject and authority key identifiers.
CertifiedKey createCertificateAuthority(const CaOptions& options = {});

// An intermediate CA signed by `parent` (same extensions as a root, issuer
// and authority key identifier from `parent`). Its leaves verify against a
// bundle holding only the root when the intermediate is sent in the chain.
CertifiedKey createIntermediateAuthority(const CertifiedKey& parent, const CaOptions& options = {});

// A leaf certificate signed by `ca` with the SANs of `options`, keyUsage
// digitalSignature, extendedKeyUsage serverAuth+clientAuth, CA:FALSE.
// Requires at least one SAN; throws CertificateError on a malformed IP.
CertifiedKey issueWorkloadCertificate(const CertifiedKey& ca, const WorkloadOptions& options);

// A v2 CRL signed by `ca` listing the serial numbers of `revoked` (which may
// be empty: an empty CRL still proves nothing is revoked).
X509CrlPtr createCrl(const CertifiedKey& ca, const std::vector<const X509*>& revoked, const CrlOptions& options = {});

}  // namespace hawser::tls
