// Certificate identity as the TLS layer reads it after a handshake: the
// input is DER, decoded with d2i_X509 as OpenSSL does for a peer's
// certificate, then every public function of dataplane/tls/identity.h that
// takes a certificate.
#include <openssl/err.h>
#include <openssl/x509.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "dataplane/tls/identity.h"

namespace tls = hawser::tls;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const unsigned char* p = data;
  X509* cert = d2i_X509(nullptr, &p, static_cast<long>(size));
  if (cert == nullptr) {
    ERR_clear_error();
    return 0;
  }
  tls::SubjectAltNames sans = tls::subjectAltNames(cert);
  auto identity = tls::peerIdentity(cert);
  // A certificate with a SAN problem proves no identity; any other proves
  // what its usable SANs prove.
  const bool problem = tls::sanProblem(cert) != tls::SanProblem::kNone;
  if (problem ? identity.has_value() : identity != tls::peerIdentity(sans)) __builtin_trap();
  for (const auto& uri : sans.uris) (void)tls::isSpiffeId(uri);

  static const std::vector<std::string> kExpected = {"spiffe://demo/*", "spiffe://demo/orders", "orders.local"};
  static const std::vector<std::string> kAny = {"*"};
  auto check = tls::checkPresentedIdentity(cert, kExpected);
  if (check.presented != identity.value_or("")) __builtin_trap();
  auto any = tls::checkPresentedIdentity(cert, kAny);
  // "*" allows every identity, so a certificate presenting one always matches.
  if (identity && !identity->empty() && !any.matched) __builtin_trap();
  if (identity) (void)tls::identityAllowed(kExpected, *identity);

  auto d = tls::describeCertificate(cert, 1700000000);
  if (d.identity != identity.value_or("")) __builtin_trap();
  X509_free(cert);
  ERR_clear_error();
  return 0;
}
